"""One run per output file: a lock held on `.NAME.lock` beside the file for the whole run.

    with OutputLock(Path("poses.json")):     # OutputInUse if another run holds it
        ...

Two runs writing the same --output would each rename their complete copy over the other's every
few seconds, and the file would end up holding one run's frames with nothing said; two runs
writing the same --save-video would write into one temporary file. The lock is an flock(2), so
the kernel releases it when its holder dies, even by SIGKILL: a `.lock` file left behind by a
killed run is taken over by the next one, never mistaken for a live run.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, as before
    fcntl = None


class OutputInUse(Exception):
    """Another live process holds the lock; the message names the file and that process."""


class OutputLock:
    def __init__(self, path: Path | str):
        real = Path(os.path.realpath(path))  # a symlink and its target are one file
        self.path = Path(path)
        self.lock_path = real.with_name(f".{real.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:
            return
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                who = f" (process {holder})" if holder.isdigit() else ""
                raise OutputInUse(f"{self.path} is being written by another run{who}") from None
            # The holder before us removes the file before letting go: if it did so between our
            # open and our lock, we hold a lock on a name nobody else sees. Start again.
            try:
                current = os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(fd).st_ino:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.lock_path)  # while still locked: see acquire()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
