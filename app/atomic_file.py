"""Replace a file all at once: readers see the old file or the new one, never half of either.

    with atomic_replace(path, "wb") as out:
        out.write(data)

The new content goes to a temporary file in the same folder (so the rename stays on one file
system); when the block ends without an error it is flushed to disk, made readable like any other
output (mkstemp creates 0600) and renamed over `path` (os.replace is atomic). On any error the
temporary file is removed and the error goes on; `path` is untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_replace(path: Path, mode: str = "wb") -> Iterator[IO]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)
            os.replace(tmp, path)  # while still open: a lock the caller took is held until the file is in place
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
