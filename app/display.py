"""The X display, asked through libX11 directly (no window opened): whether it accepts us, its
screen's size, and what the screen shows (grab_screen: the tests' and the docs' screenshots of
the tiled windows, with no screenshot tool installed). A stale DISPLAY (ssh without X
forwarding) made Open3D draw offscreen silently, and OpenCV's GUI (Qt) abort the process when
the 2D window opened."""
from __future__ import annotations

import ctypes
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # numpy only in grab_screen(): the display is checked before any package is imported
    import numpy as np

ALL_PLANES = ctypes.c_ulong(-1).value
Z_PIXMAP = 2


class _XImage(ctypes.Structure):
    """The leading fields of Xlib's XImage (X11/Xlib.h), as far as reading the pixels needs."""
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.c_void_p), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong)]


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
    x11.XRootWindow.argtypes, x11.XRootWindow.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_ulong
    x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x11.XGetImage.restype = ctypes.POINTER(_XImage)
    x11.XFree.argtypes = [ctypes.c_void_p]
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


@contextmanager
def _default_screen() -> Iterator[tuple | None]:
    """(libX11, display, screen number, width, height) of the default X screen while the block
    runs, or None without a reachable display."""
    x11 = _libx11() if os.environ.get("DISPLAY") else None
    if x11 is None:
        yield None
        return
    with _connection(x11, None) as handle:
        if handle is None:
            yield None
            return
        screen = x11.XDefaultScreen(handle)
        yield x11, handle, screen, int(x11.XDisplayWidth(handle, screen)), int(x11.XDisplayHeight(handle, screen))


def screen_size() -> tuple[int, int] | None:
    """The X screen's (width, height) in pixels, or None without a reachable display."""
    with _default_screen() as found:
        return None if found is None else found[3:]


def grab_screen() -> np.ndarray | None:
    """What the X screen shows, BGR uint8 [height, width, 3], or None without a reachable display
    or on a screen that is not 24-bit true colour (Xvfb's -screen 0 WxHx24, every desktop today)."""
    import numpy as np
    with _default_screen() as found:
        if found is None:
            return None
        x11, handle, screen, width, height = found
        image = x11.XGetImage(handle, x11.XRootWindow(handle, screen), 0, 0, width, height, ALL_PLANES, Z_PIXMAP)
        if not image:
            return None
        try:
            fields = image.contents
            if fields.bits_per_pixel != 32 or fields.depth != 24 or fields.byte_order != 0:  # 0: LSBFirst
                return None
            raw = ctypes.string_at(fields.data, fields.bytes_per_line * height)
            rows = np.frombuffer(raw, np.uint8).reshape(height, fields.bytes_per_line)
            return rows[:, :4 * width].reshape(height, width, 4)[..., :3].copy()  # B, G, R, unused
        finally:
            x11.XFree(image.contents.data)
            x11.XFree(image)
