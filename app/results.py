"""Per-frame results: what a frame holds (FrameResult) and its files, .json, .npz or .csv (by
extension): the layout, one frame encoded, a file read back.

The fields, their units and frames, and each format's layout and rounding are described once,
in docs/outputs.md; FIELDS, DECIMALS and the encoders below are what that page describes.

Written by app/results_writer.py (atomically, as the run goes), read back by read_results().
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.skeleton import JOINT_NAMES, NUM_JOINTS

RESULT_SUFFIXES = (".json", ".npz", ".csv")
ARRAY_SHAPES = {"keypoints_2d": (NUM_JOINTS, 2), "visibility": (NUM_JOINTS,),
                "pose_3d": (NUM_JOINTS, 3), "camera": (2, 3),
                "root_world": (3,), "root_camera": (3,), "camera_pose": (3, 4), "foot_contact": (2,)}
FIELDS = ("index", "time", "detected", *ARRAY_SHAPES)
# camera and camera_pose: 6 significant digits; root_*: 0.1 mm
DECIMALS = {"keypoints_2d": 2, "visibility": 4, "pose_3d": 2, "root_world": 4, "root_camera": 4, "foot_contact": 0}

# One frame as a fixed-size binary record (the .npz spool, app/results_writer.py).
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


def json_frame(result: FrameResult) -> str:
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


def csv_row(result: FrameResult) -> str:
    cells = [str(int(result.index)), f"{float(result.time):.6f}", "1" if result.detected else "0"]
    for name, shape in ARRAY_SHAPES.items():
        value = getattr(result, name)
        if value is None:
            cells += [""] * int(np.prod(shape))
        else:
            cells += ["" if v is None else repr(v) for v in np.ravel(np.array(_rounded(value, name), dtype=object))]
    return ",".join(cells) + "\n"


def npz_record(result: FrameResult) -> bytes:
    record = np.zeros((), dtype=RECORD)
    record["index"], record["time"], record["detected"] = result.index, result.time, result.detected
    for name in ARRAY_SHAPES:
        value = getattr(result, name)
        record[name] = np.nan if value is None else value
    return record.tobytes()


def write_npz(out, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's layout, with the archive closed even when a write fails: np.savez leaves its
    ZipFile open on a full disk, and its __del__ later prints a traceback about a closed file."""
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


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


