"""The results file as the run goes (.json, .npz or .csv, app/results.py's layout): always complete
on disk, at most a few seconds behind.

Nothing is lost on an interrupted run. Each frame is encoded once and appended to an anonymous
spool file; every `flush_seconds` a background thread writes the whole output to a temporary file
in the same folder and renames it over the target (os.replace is atomic), and close() does a last
flush. A run stopped by Ctrl-C, a crash or a full disk therefore leaves either the previous
complete file or the new complete one, never half of one. The spool keeps memory flat on long runs.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

try:
    import fcntl  # POSIX: a flush locks its temporary file, so that a later run can tell stale ones
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from app.atomic_file import atomic_replace
from app.results import (FIELDS, RECORD, RESULT_SUFFIXES, FrameResult, OutputError, check_output_path, csv_header,
                         csv_row, json_frame, npz_record, write_npz)
from core.skeleton import JOINT_NAMES

FLUSH_SECONDS = 2.0


class ResultsWriter:
    """`add(FrameResult)` per frame; the file on disk is always complete and at most
    `flush_seconds` (or a few times the last flush's duration, on very long runs) behind."""

    def __init__(self, path: Path | str, flush_seconds: float = FLUSH_SECONDS):
        self.path = check_output_path(path, RESULT_SUFFIXES)
        self.format = self.path.suffix.lower()
        self.flush_seconds = flush_seconds
        self.frames_added = 0
        self.frames_saved = 0       # frames in the file on disk now
        remove_stale_temporaries(self.path)
        try:
            self._spool = tempfile.TemporaryFile(dir=self.path.parent)
        except OSError as error:
            raise OutputError(f"cannot write to {self.path.parent} ({error.strerror or error})") from None
        self._spool_lock = threading.Lock()   # add() vs. reading the spool's size
        self._flush_lock = threading.Lock()   # one flush at a time
        self._error: OutputError | None = None
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._flush_periodically, name="results-flush", daemon=True)
        self._thread.start()

    def add(self, result: FrameResult) -> None:
        """Queue one frame for the file. Raises OutputError once writing has failed."""
        if self._error is not None:
            raise self._error
        if self.format == ".json":
            data = (("\n" if self.frames_added == 0 else ",\n") + json_frame(result)).encode()
        elif self.format == ".csv":
            data = csv_row(result).encode()
        else:
            data = npz_record(result)
        try:
            with self._spool_lock:
                self._spool.write(data)
                self.frames_added += 1
        except OSError as error:
            self._fail(error)

    def add_part(self, part: Path | str) -> int:
        """Append every frame of `part`, a file of this writer's format written by a ResultsWriter
        (one piece of a video split for parallel workers, app/batch.py), exactly as it stands: the
        merged file is byte for byte what one writer adding those frames would give. Returns the
        number of frames added."""
        part = Path(part)
        if part.suffix.lower() != self.format:
            raise ValueError(f"{part} is not a {self.format} file")
        if self.format == ".json":  # Python's float repr reads back and prints again unchanged
            frames = [json.dumps(f, separators=(",", ":"), allow_nan=False)
                      for f in json.loads(part.read_text())["frames"]]
            chunks = [(("\n" if self.frames_added + i == 0 else ",\n") + f).encode() for i, f in enumerate(frames)]
        elif self.format == ".csv":
            chunks = [(line + "\n").encode() for line in part.read_text().splitlines()[1:]]
        else:
            with np.load(part, allow_pickle=False) as data:
                records = np.zeros(len(data["index"]), dtype=RECORD)
                for name in FIELDS:
                    records[name] = data[name]
            chunks = [records.tobytes()]
        try:
            with self._spool_lock:
                self._spool.write(b"".join(chunks))
                self.frames_added += len(chunks) if self.format != ".npz" else len(records)
        except OSError as error:
            self._fail(error)
        return len(chunks) if self.format != ".npz" else len(records)

    @property
    def failed(self) -> bool:
        """Writing has failed (the error's message says what the file holds)."""
        return self._error is not None

    def _fail(self, error: OSError) -> None:
        saved = f"it holds the first {self.frames_saved} frames" if self.frames_saved else "no frames were saved"
        self._error = OutputError(f"writing {self.path} failed ({error.strerror or error}); {saved}")
        raise self._error

    def flush(self) -> None:
        """Write every frame added so far to the file, atomically."""
        with self._flush_lock:
            if self._error is not None:
                raise self._error
            with self._spool_lock:
                try:
                    self._spool.flush()
                except OSError as error:
                    self._fail(error)
                size, frames = self._spool.tell(), self.frames_added
            try:
                with atomic_replace(self.path, "wb") as out:
                    if fcntl is not None:  # held until the file is in place: marks it as live
                        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
                    self._render(out, size)
            except OSError as error:
                self._fail(error)
            self.frames_saved = frames

    def _spool_chunks(self, size: int, chunk: int = 1 << 20):
        fd = self._spool.fileno()
        for offset in range(0, size, chunk):
            yield os.pread(fd, min(chunk, size - offset), offset)

    def _render(self, out, size: int) -> None:
        if self.format == ".json":
            out.write(b'{"joints":' + json.dumps(list(JOINT_NAMES)).encode() + b',"frames":[')
            for data in self._spool_chunks(size):
                out.write(data)
            out.write(b"\n]}\n")
        elif self.format == ".csv":
            out.write((",".join(csv_header()) + "\n").encode())
            for data in self._spool_chunks(size):
                out.write(data)
        else:
            records = np.frombuffer(b"".join(self._spool_chunks(size)), dtype=RECORD)
            write_npz(out, {"joints": np.array(JOINT_NAMES), **{name: records[name] for name in FIELDS}})

    def _flush_periodically(self) -> None:
        interval = self.flush_seconds
        while not self._stop.wait(interval):
            if self.frames_added == self.frames_saved:
                continue
            start = time.monotonic()
            try:
                self.flush()
            except OutputError:
                return  # kept in self._error; the next add() reports it
            # A flush rewrites the whole file: on very long runs flush less often so that it
            # never takes more than a tenth of the time.
            interval = max(self.flush_seconds, 10.0 * (time.monotonic() - start))

    def close(self) -> None:
        """Last flush, then release the spool. Raises OutputError if the last flush failed."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        try:
            if self._error is None and (self.frames_added > self.frames_saved or not self.path.exists()):
                self.flush()
        finally:
            try:
                self._spool.close()
            except OSError:  # unwritten spool bytes on a full disk: the file on disk is what counts
                pass
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary copies of `path` that a run killed during a flush left behind
    (`.NAME.XXXXXXXX.tmp`). A live flush holds a lock on its own copy, so one that can be locked
    belongs to nobody."""
    if fcntl is None:
        return
    for candidate in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(candidate)
        except OSError:  # locked: another run is flushing it right now
            pass
        finally:
            os.close(fd)
