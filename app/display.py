"""The X display, asked through libX11 directly (no window opened): whether it accepts us, and
its screen's size. A stale DISPLAY (ssh without X forwarding) made Open3D draw offscreen
silently, and OpenCV's GUI (Qt) abort the process when the 2D window opened."""
from __future__ import annotations

import ctypes
import os
import sys
from contextlib import contextmanager
from typing import Iterator


def _libx11():
    """libX11, or None where it cannot be loaded (Open3D links it: it is there wherever Open3D loads)."""
    try:
        x11 = ctypes.CDLL("libX11.so.6")
    except OSError:
        return None
    x11.XOpenDisplay.argtypes, x11.XOpenDisplay.restype = [ctypes.c_char_p], ctypes.c_void_p
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return x11


@contextmanager
def _connection(x11, display: str | None) -> Iterator[int | None]:
    """A connection to `display` (None: $DISPLAY), or None where it refuses. Xlib's own complaints
    (e.g. "Authorization required") go to /dev/null: the caller says it in one line."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        handle = x11.XOpenDisplay(None if display is None else display.encode())
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    try:
        yield handle or None
    finally:
        if handle:
            x11.XCloseDisplay(handle)


def x_display_reachable(display: str | None = None) -> bool | None:
    """Whether the X server named by `display` (None: $DISPLAY) accepts us; None where libX11
    cannot be loaded (the viewer then reports what it finds)."""
    x11 = _libx11()
    if x11 is None:
        return None
    with _connection(x11, display) as handle:
        return handle is not None


def screen_size() -> tuple[int, int] | None:
    """The X screen's (width, height) in pixels, or None without a reachable display."""
    x11 = _libx11() if os.environ.get("DISPLAY") else None
    if x11 is None:
        return None
    with _connection(x11, None) as handle:
        if handle is None:
            return None
        screen = x11.XDefaultScreen(handle)
        return int(x11.XDisplayWidth(handle, screen)), int(x11.XDisplayHeight(handle, screen))
