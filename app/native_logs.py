"""Keeps the C++ libraries' log lines (MediaPipe, TensorFlow Lite, absl) off the terminal, so that
what the user sees is the progress bar and the program's own one-line messages.

    with NativeLogFilter():      # worker processes started inside inherit the filtered stderr
        ...

The libraries write to file descriptor 2 directly, below Python's sys.stderr: the filter puts a
pipe there and a thread that passes every other byte on to the real stderr. For the same reason
ensure_standard_streams() gives a closed descriptor 0, 1 or 2 /dev/null before anything is opened.
"""
from __future__ import annotations

import os
import re
import sys
import threading


class NativeLogFilter:
    """Between file descriptor 2 and the real stderr while entered: drops the native libraries'
    log lines, passes everything else straight through (unfinished lines too: progress bars)."""

    NOISE = re.compile(rb"^(?:[IWE]\d{4} \d\d:\d\d:\d\d|INFO: Created TensorFlow Lite|"
                       rb"WARNING: All log messages before absl::InitializeLog|"
                       rb"error: XDG_RUNTIME_DIR is invalid)")  # GLFW's, harmless
    NOISE_START = re.compile(rb"^(?:[IWE]\d{0,4}|INFO|WARNING|error)")  # an unfinished line that may become noise

    def __enter__(self) -> "NativeLogFilter":
        sys.stderr.flush()
        self._real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._read_end = read_end
        self._thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self._thread.start()
        return self

    def _emit(self, data: bytes) -> None:
        try:
            os.write(self._real, data)
        except OSError:
            pass

    def _pump(self) -> None:
        pending = b""
        while True:
            data = os.read(self._read_end, 65536)
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if not self.NOISE.match(line):
                    self._emit(line + b"\n")
            if pending and not self.NOISE_START.match(pending.lstrip(b"\r")):
                self._emit(pending)  # progress bars rewrite one line without ever ending it
                pending = b""
        if pending and not self.NOISE.match(pending):
            self._emit(pending)

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self._real, 2)  # drops the pipe's last writer: the pump sees the end and stops
        self._thread.join(timeout=2.0)
        os.close(self._read_end)
        os.close(self._real)


def ensure_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`2>&-`) /dev/null. Python leaves sys.stderr None then
    (a crash at the first message), and the next file opened would take descriptor 2: the native
    libraries' log lines would be written into the results."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, closefd=False)
