"""Per-frame results on disk: .json, .npz or .csv (by extension), and the annotated video.

Layout (the same fields in every format; "null" where no person was found, or where the lifter
could not lift the frame):

    JSON  {"joints": [17 names], "frames": [{"index": 0, "time": 0.0, "detected": true,
           "keypoints_2d": [[x, y] x17] | null, "visibility": [17] | null,
           "pose_3d": [[x, y, z] x17] | null, "camera": [[3], [3]] | null,
           "root_world": [3] | null, "root_camera": [3] | null, "camera_pose": [[4] x3] | null,
           "foot_contact": [left, right] (booleans) | null}, ...]}
    NPZ   joints [17] str; index [N] int64; time [N] float64; detected [N] bool;
          keypoints_2d [N,17,2], visibility [N,17], pose_3d [N,17,3], camera [N,2,3], root_world [N,3],
          root_camera [N,3], camera_pose [N,3,4], foot_contact [N,2] (1/0) float32, NaN = null
    CSV   one row per frame: index, time, detected, keypoints_2d_<joint>_x/_y, visibility_<joint>,
          pose_3d_<joint>_x/_y/_z, camera_<row>_<col>, root_world_x/_y/_z, root_camera_x/_y/_z,
          camera_pose_<row>_<col>, foot_contact_left/_right (1/0); empty cells = null. Joint names are in the header.

Units: keypoints_2d in pixels of the input frame (x right, y down; the keypoints the lifter saw,
i.e. after the occlusion rule and smoothing), pose_3d in millimetres (pelvis at the origin, the
lifter's canonical frame, y down), camera the 2x3 weak-perspective matrix, time in seconds;
root_world / root_camera / camera_pose in metres in the frames of app/world.py (world: y up, floor
at y = 0; camera_pose = [R | position] with x_world = R @ x_camera + position). Files written
before these four fields existed read back with them NaN.
JSON and CSV round to 0.01 px / 0.01 mm / 1e-4 visibility / 6 significant digits for the camera;
NPZ keeps float32.

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
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

try:
    import fcntl  # POSIX: a flush locks its temporary file, so that a later run can tell stale ones
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from core.skeleton import JOINT_NAMES, NUM_JOINTS

RESULT_SUFFIXES = (".json", ".npz", ".csv")
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
ARRAY_SHAPES = {"keypoints_2d": (NUM_JOINTS, 2), "visibility": (NUM_JOINTS,),
                "pose_3d": (NUM_JOINTS, 3), "camera": (2, 3),
                "root_world": (3,), "root_camera": (3,), "camera_pose": (3, 4), "foot_contact": (2,)}
FIELDS = ("index", "time", "detected", *ARRAY_SHAPES)
# camera and camera_pose: 6 significant digits; root_*: 0.1 mm
DECIMALS = {"keypoints_2d": 2, "visibility": 4, "pose_3d": 2, "root_world": 4, "root_camera": 4, "foot_contact": 0}
FLUSH_SECONDS = 2.0

# One frame as a fixed-size binary record (the .npz spool).
RECORD = np.dtype([("index", "<i8"), ("time", "<f8"), ("detected", "?")]
                  + [(name, "<f4", shape) for name, shape in ARRAY_SHAPES.items()])


class OutputError(Exception):
    """An output file cannot be written; the message names the file, the reason and what was saved."""


@dataclass
class FrameResult:
    """Everything known about one frame. Array fields are None when no person was found."""
    index: int
    time: float
    detected: bool
    keypoints_2d: np.ndarray | None = None  # [17, 2] pixels
    visibility: np.ndarray | None = None    # [17] in [0, 1]
    pose_3d: np.ndarray | None = None       # [17, 3] mm; None also when the lifter flagged the frame
    camera: np.ndarray | None = None        # [2, 3]
    held: np.ndarray | None = None          # [17] bool: joints placed by the occlusion rule (not saved)
    # World space (app/world.py), None where the frame has no pose:
    root_world: np.ndarray | None = None    # [3] m, the pelvis in the world (y up, floor y = 0)
    root_camera: np.ndarray | None = None   # [3] m, the pelvis in the camera frame
    camera_pose: np.ndarray | None = None   # [3, 4] [R | position] of the camera in the world
    foot_contact: np.ndarray | None = None  # [2] bool (left, right)
    joints_world: np.ndarray | None = None  # [17, 3] m, every joint in the world (not saved; BVH, viewer)


def check_output_path(path: Path | str, suffixes: tuple[str, ...]) -> Path:
    """Fail now, before any processing, if `path` cannot be written: wrong extension, missing
    folder, or a folder that refuses a file (permissions, read-only file system)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise OutputError(f"{path}: unsupported extension '{path.suffix}'; use one of {', '.join(suffixes)}")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name ending in {path.suffix}")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder} (create it first)")
    try:  # actually writing is the only reliable test (root ignores permission bits, mounts may be read-only)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"x")
            probe.flush()
    except OSError as error:
        raise OutputError(f"cannot write to {folder} ({error.strerror or error}); choose a writable folder") from None
    return path


# --- encoding one frame -------------------------------------------------------------------------
def _rounded(value: np.ndarray, name: str) -> list:
    value = np.asarray(value, dtype=np.float64)
    if name in DECIMALS:
        value = np.round(value, DECIMALS[name])
    else:
        value = np.array([float(f"{v:.6g}") for v in value.ravel()]).reshape(value.shape)
    if not np.isfinite(value).all():  # JSON has no NaN: such elements become null
        return np.where(np.isfinite(value), value, None).tolist()
    return value.tolist()


def _json_frame(result: FrameResult) -> str:
    frame = {"index": int(result.index), "time": round(float(result.time), 6), "detected": bool(result.detected)}
    for name in ARRAY_SHAPES:
        value = getattr(result, name)
        frame[name] = None if value is None else _rounded(value, name)
    if frame["foot_contact"] is not None:  # a yes/no per foot reads best as JSON booleans
        frame["foot_contact"] = [bool(v) for v in frame["foot_contact"]]
    return json.dumps(frame, separators=(",", ":"), allow_nan=False)


def csv_header() -> list[str]:
    columns = ["index", "time", "detected"]
    columns += [f"keypoints_2d_{j}_{a}" for j in JOINT_NAMES for a in "xy"]
    columns += [f"visibility_{j}" for j in JOINT_NAMES]
    columns += [f"pose_3d_{j}_{a}" for j in JOINT_NAMES for a in "xyz"]
    columns += [f"camera_{r}_{c}" for r in range(2) for c in range(3)]
    columns += [f"{name}_{a}" for name in ("root_world", "root_camera") for a in "xyz"]
    columns += [f"camera_pose_{r}_{c}" for r in range(3) for c in range(4)]
    columns += ["foot_contact_left", "foot_contact_right"]
    return columns


def _csv_row(result: FrameResult) -> str:
    cells = [str(int(result.index)), f"{float(result.time):.6f}", "1" if result.detected else "0"]
    for name, shape in ARRAY_SHAPES.items():
        value = getattr(result, name)
        if value is None:
            cells += [""] * int(np.prod(shape))
        else:
            cells += ["" if v is None else repr(v) for v in np.ravel(np.array(_rounded(value, name), dtype=object))]
    return ",".join(cells) + "\n"


def _record(result: FrameResult) -> bytes:
    record = np.zeros((), dtype=RECORD)
    record["index"], record["time"], record["detected"] = result.index, result.time, result.detected
    for name in ARRAY_SHAPES:
        value = getattr(result, name)
        record[name] = np.nan if value is None else value
    return record.tobytes()


def _write_npz(out, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout, with the archive closed even when a write fails: np.savez leaves its
    ZipFile open on a full disk, and its __del__ later prints a traceback about a closed file."""
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


# --- the writer ---------------------------------------------------------------------------------
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
            data = (("\n" if self.frames_added == 0 else ",\n") + _json_frame(result)).encode()
        elif self.format == ".csv":
            data = _csv_row(result).encode()
        else:
            data = _record(result)
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
            tmp = None
            try:
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
                with os.fdopen(fd, "wb") as out:
                    if fcntl is not None:  # held until the file is in place: marks it as live
                        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
                    self._render(out, size)
                    out.flush()
                    os.fsync(out.fileno())
                    os.fchmod(out.fileno(), 0o644)  # mkstemp creates 0600; an output file should be readable like any other
                    os.replace(tmp, self.path)
                tmp = None
            except OSError as error:
                self._fail(error)
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
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
            _write_npz(out, {"joints": np.array(JOINT_NAMES), **{name: records[name] for name in FIELDS}})

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


def read_results(path: Path | str) -> dict:
    """Any of the three formats back as the NPZ layout: {"joints": [17 names], "index": [N], "time": [N],
    "detected": [N], "keypoints_2d": [N,17,2], ...} with NaN where the file has null."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            missing = {name: np.full((len(data["index"]), *shape), np.nan, dtype=np.float32)
                       for name, shape in ARRAY_SHAPES.items() if name not in data.files}  # an older file
            out = {name: data[name] if name in data.files else missing[name] for name in FIELDS}
            out["joints"] = [str(j) for j in data["joints"]]
        return out
    if suffix == ".json":
        document = json.loads(path.read_text())
        frames = document["frames"]
        out = {"joints": document["joints"],
               "index": np.array([f["index"] for f in frames], dtype=np.int64),
               "time": np.array([f["time"] for f in frames], dtype=np.float64),
               "detected": np.array([f["detected"] for f in frames], dtype=bool)}
        for name, shape in ARRAY_SHAPES.items():
            out[name] = np.array([np.full(shape, np.nan) if f.get(name) is None
                                  else np.array(f[name], dtype=np.float64) for f in frames],
                                 dtype=np.float32).reshape(len(frames), *shape)
        return out
    if suffix == ".csv":
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        rows = [line.split(",") for line in lines[1:]]
        table = np.array([[float(c) if c != "" else np.nan for c in row] for row in rows],
                         dtype=np.float64).reshape(len(rows), len(header))
        joints = [c[len("visibility_"):] for c in header if c.startswith("visibility_")]
        out = {"joints": joints, "index": table[:, 0].astype(np.int64), "time": table[:, 1],
               "detected": table[:, 2] == 1}
        column = 3
        for name, shape in ARRAY_SHAPES.items():
            width = int(np.prod(shape))
            if column + width > table.shape[1]:  # an older file without the world-space columns
                out[name] = np.full((len(rows), *shape), np.nan, dtype=np.float32)
                continue
            out[name] = table[:, column:column + width].astype(np.float32).reshape(len(rows), *shape)
            column += width
        return out
    raise OutputError(f"{path}: unsupported extension '{path.suffix}'; use one of {', '.join(RESULT_SUFFIXES)}")


class AnnotatedVideoWriter:
    """The --save-video file: frames written as they come, to a temporary name in the same folder
    that close() renames to `path` (a run that dies leaves no broken file under the real name)."""

    def __init__(self, path: Path | str, fps: float):
        self.path = check_output_path(path, tuple(VIDEO_CODECS))
        self.fps = fps
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def write(self, image_bgr: np.ndarray) -> None:
        if self._writer is None:
            # MPEG-4 stores 4:2:0 colour: odd sizes would be cut silently by the encoder, so cut here.
            self._size = (image_bgr.shape[1] // 2 * 2, image_bgr.shape[0] // 2 * 2)
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self._partial), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise OutputError(self._why_not_opened(fourcc))
        width, height = self._size
        if image_bgr.shape[1] // 2 * 2 != width or image_bgr.shape[0] // 2 * 2 != height:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        image_bgr = np.ascontiguousarray(image_bgr[:height, :width])
        self._writer.write(image_bgr)
        self.frames_written += 1

    def _why_not_opened(self, fourcc: int) -> str:
        """OpenCV says only that it could not open a writer: a small one tells a frame size the
        encoder refuses (mp4v takes at most 8190 pixels a side) from a codec that is missing."""
        codec = VIDEO_CODECS[self.path.suffix.lower()]
        fd, probe = tempfile.mkstemp(dir=self.path.parent, prefix=".probe.", suffix=self.path.suffix)
        os.close(fd)
        try:
            small = cv2.VideoWriter(probe, fourcc, self.fps, (64, 64))
            codec_works = small.isOpened()
            small.release()
        finally:
            os.unlink(probe)
        width, height = self._size
        if codec_works:
            other = ".avi (MJPG)" if self.path.suffix.lower() != ".avi" else "a smaller input video"
            return (f"cannot create the video {self.path}: its frames (the input beside the 3D view) are "
                    f"{width} x {height} pixels, more than the {self.path.suffix} ({codec}) encoder takes; "
                    f"use {other}")
        return f"cannot create the video {self.path} (OpenCV has no {self.path.suffix} ({codec}) writer)"

    def close(self) -> None:
        """Finish the file and move it into place, once it reads back: OpenCV ignores write errors,
        and on a full disk it left an unplayable file (no index) that was renamed into place.
        Raises OutputError, keeping nothing, when the file does not read back."""
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        problem = self._check_partial()
        if problem is not None:
            try:
                os.unlink(self._partial)
            except OSError:
                pass
            raise OutputError(f"writing the video {self.path} failed ({problem}); it was not saved")
        try:
            os.replace(self._partial, self.path)
        except OSError as error:
            raise OutputError(f"cannot finish the video {self.path} ({error.strerror or error})") from None

    def _check_partial(self) -> str | None:
        """None when the finished file opens, declares every frame written and decodes its last one."""
        capture = cv2.VideoCapture(str(self._partial))
        try:
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            last_ok = False
            if frames == self.frames_written:
                capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
                last_ok = capture.read()[0]
        finally:
            capture.release()
        if frames == self.frames_written and last_ok:
            return None
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            free = None
        read_back = f"{self.frames_written} frames written, {frames} read back"
        if free is not None and free < 1 << 20:
            return f"the disk is full: {read_back}"
        return f"{read_back}: a full disk or a file size limit?"
