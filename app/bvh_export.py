"""BVH export: the person in the room as an animation that Blender, MotionBuilder or Unity imports.

    python -m app.bvh_export results.json poses.bvh          # a recorded run (.json, .npz or .csv)
    python run_demo.py --video clip.mp4 --output poses.bvh    # written at the end of the run

The skeleton, its T-pose and how each frame's rotations are solved: app/bvh_skeleton.py. This
module writes the file (hierarchy, motion rows, an atomic write), converts recorded results
and is the command line.

Frames: one per 1/fps of the input, the results resampled onto that grid by time; a frame without
a person holds the last pose (before the first person, the first pose).

numpy only: the app imports no training code.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from app.atomic_file import atomic_replace
from app.bvh_skeleton import REST_M, SKELETON, Z_AXIS, BvhJoint, euler_degrees, solve_rotations
from app.results import FrameResult, OutputError, check_output_path, read_results
from app.world import rotation_between
from core.camera import rotation_from_camera
from core.skeleton import NUM_JOINTS, PELVIS

BVH_SUFFIX = ".bvh"
CM_PER_M = 100.0          # BVH's customary unit (CMU, Mixamo); Blender imports it with scale 0.01
DEFAULT_FPS = 30.0        # only for a file with a single frame, whose times tell no rate


# --- the file -------------------------------------------------------------------------------------
def _offset_cm(joint: BvhJoint) -> np.ndarray:
    if joint.parent < 0:
        return np.zeros(3)
    return (REST_M[joint.start] - REST_M[SKELETON[joint.parent].start]) * CM_PER_M


def hierarchy_text() -> str:
    """The HIERARCHY section: the T-pose skeleton."""
    lines = ["HIERARCHY"]
    children: dict[int, list[int]] = {}
    for index, joint in enumerate(SKELETON):
        children.setdefault(joint.parent, []).append(index)

    def emit(index: int, depth: int) -> None:
        joint, pad = SKELETON[index], "  " * depth
        lines.append(f"{pad}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {' '.join(f'{v:.4f}' for v in _offset_cm(joint))}")
        rotation = " ".join(f"{axis}rotation" for axis in joint.order)
        lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rotation}" if joint.parent < 0
                     else f"{pad}  CHANNELS 3 {rotation}")
        for child in children.get(index, []):
            emit(child, depth + 1)
        if joint.end_site is not None:
            tip = (REST_M[joint.end_site] - REST_M[joint.start]) * CM_PER_M
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {' '.join(f'{v:.4f}' for v in tip)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    return "\n".join(lines) + "\n"


def motion_rows(joints_world: np.ndarray) -> np.ndarray:
    """Channel values [N, 3 + 3 * joints] for poses [N, 17, 3] (m, world frame, all finite)."""
    rows = np.empty((len(joints_world), 3 + 3 * len(SKELETON)))
    previous = None
    for n, joints in enumerate(joints_world):
        rotations = solve_rotations(joints, previous)
        previous = rotations
        rows[n, :3] = joints[PELVIS] * CM_PER_M
        for index, joint in enumerate(SKELETON):
            parent = rotations[joint.parent] if joint.parent >= 0 else np.eye(3)
            rows[n, 3 + 3 * index:6 + 3 * index] = euler_degrees(parent.T @ rotations[index], joint.order)
    # A joint turning through +-180 degrees would jump by 360 between frames: tools that
    # interpolate between keys would spin it all the way round.
    rows[:, 3:] = np.degrees(np.unwrap(np.radians(rows[:, 3:]), axis=0))
    return rows


def bvh_text(joints_world: np.ndarray, frame_time: float) -> str:
    """A whole BVH file for poses [N, 17, 3] (m, world frame; rows with NaN hold the pose before)."""
    joints_world = hold_missing(np.asarray(joints_world, dtype=np.float64))
    if not frame_time > 0.0 or not math.isfinite(frame_time):
        raise ValueError(f"frame time must be a positive number of seconds, got {frame_time}")
    rows = motion_rows(joints_world)
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in rows)
    return (hierarchy_text() + f"MOTION\nFrames: {len(rows)}\nFrame Time: {frame_time:.8f}\n" + body + "\n")


def hold_missing(joints_world: np.ndarray) -> np.ndarray:
    """Frames [N, 17, 3] with NaN (no person) take the pose before them, the first ones the first
    pose. ValueError when no frame has one."""
    valid = np.isfinite(joints_world).all(axis=(1, 2))
    if not valid.any():
        raise ValueError("no frame has a 3D pose")
    source = np.where(valid, np.arange(len(valid)), -1)
    source = np.maximum.accumulate(source)
    source[source < 0] = int(np.argmax(valid))
    return joints_world[source]


def resample(times: np.ndarray, joints_world: np.ndarray, frame_time: float) -> np.ndarray:
    """Poses [N, 17, 3] at `times` [N] onto a grid of `frame_time` from the first time: each grid
    frame takes the last pose at or before it (within half a frame), NaN where that frame has none.
    A video's frames map one to one; a webcam's uneven ones are held or skipped."""
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    times, joints_world = times[order], joints_world[order]
    count = int(round((times[-1] - times[0]) / frame_time)) + 1
    grid = times[0] + frame_time * np.arange(count)
    take = np.searchsorted(times, grid + 0.5 * frame_time, side="right") - 1
    return joints_world[np.clip(take, 0, len(times) - 1)]


def write_bvh(path: Path | str, times: np.ndarray, joints_world: np.ndarray, frame_time: float) -> int:
    """Write poses [N, 17, 3] (m, world frame; NaN rows for frames without a person) seen at
    `times` [N] as a BVH file of one frame per `frame_time` seconds; returns the frame count.
    Written to a temporary file beside `path` and renamed, so a failure leaves no half file."""
    path = Path(path)
    frames = resample(times, joints_world, frame_time)
    text = bvh_text(frames, frame_time)
    try:
        with atomic_replace(path, "w") as out:
            out.write(text)
    except OSError as error:
        raise OutputError(f"writing {path} failed ({error.strerror or error})") from None
    return len(frames)


# --- recorded results -----------------------------------------------------------------------------
def joints_world_from_results(data: dict) -> np.ndarray:
    """Every joint in the world frame [N, 17, 3] (m; NaN without a pose) from read_results()'s
    arrays: the lifted pose turned as app/world.py turns it (the weak-perspective camera's rotation,
    turned again towards the pelvis's ray, then into the world) and put at root_world."""
    pose = np.asarray(data["pose_3d"], dtype=np.float64) / 1000.0
    out = np.full(pose.shape, np.nan)
    for n in range(len(pose)):
        fields = [data[name][n] for name in ("pose_3d", "camera", "root_camera", "root_world", "camera_pose")]
        if not all(np.isfinite(f).all() for f in fields):
            continue
        rotation_k, _ = rotation_from_camera(np.asarray(data["camera"][n], dtype=np.float64))
        ray = np.asarray(data["root_camera"][n], dtype=np.float64)
        rotation = rotation_between(Z_AXIS, ray / np.linalg.norm(ray)) @ rotation_k
        world_from_camera = np.asarray(data["camera_pose"][n], dtype=np.float64)[:, :3]
        out[n] = np.asarray(data["root_world"][n], dtype=np.float64) + pose[n] @ rotation.T @ world_from_camera.T
    return out


def frame_time_of(data: dict) -> float:
    """Seconds per frame of a recording: its time span over its frame-index span (the video's
    rate; a webcam's delivered rate)."""
    index, times = np.asarray(data["index"]), np.asarray(data["time"], dtype=np.float64)
    if len(index) >= 2 and index[-1] > index[0] and times[-1] > times[0]:
        return float((times[-1] - times[0]) / (index[-1] - index[0]))
    return 1.0 / DEFAULT_FPS


class ExportError(Exception):
    """The recording cannot be exported; the message says why and what to do."""


def convert(results_path: Path | str, bvh_path: Path | str, fps: float | None = None,
            overwrite: bool = False) -> int:
    """Recorded results (.json, .npz or .csv from run_demo.py --output) to a BVH file; returns the
    number of frames written. ExportError (one line) for input it cannot use."""
    results_path, bvh_path = Path(results_path), Path(bvh_path)
    if bvh_path.suffix.lower() != BVH_SUFFIX:
        raise ExportError(f"{bvh_path}: the output must end in {BVH_SUFFIX}")
    if bvh_path.exists() and not overwrite:
        raise ExportError(f"{bvh_path} exists; choose another name or pass --force to replace it")
    try:
        data = read_results(results_path)
    except OutputError as error:
        raise ExportError(str(error)) from None
    except FileNotFoundError:
        raise ExportError(f"{results_path} does not exist") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as error:
        raise ExportError(f"{results_path} is not a results file of run_demo.py --output "
                          f"({type(error).__name__}: {error})") from None
    if len(data["index"]) == 0:
        raise ExportError(f"{results_path} has no frames")
    has_pose = np.isfinite(data["pose_3d"]).all(axis=(1, 2))
    if not has_pose.any():
        raise ExportError(f"{results_path} has no 3D poses (pose_3d is null in every frame: no person was "
                          "lifted); record a video with a person in view")
    joints = joints_world_from_results(data)
    if not np.isfinite(joints).all(axis=(1, 2)).any():
        raise ExportError(f"{results_path} has 3D poses but no world-space fields (root_world, root_camera, "
                          "camera_pose): it was recorded by an older version; record it again with run_demo.py")
    try:
        check_output_path(bvh_path, (BVH_SUFFIX,))
    except OutputError as error:
        raise ExportError(str(error)) from None
    frame_time = 1.0 / fps if fps is not None else frame_time_of(data)
    try:
        return write_bvh(bvh_path, data["time"], joints, frame_time)
    except OutputError as error:
        raise ExportError(str(error)) from None


class BvhWriter:
    """run_demo's `--output x.bvh`: keeps each frame's world joints (about 200 bytes) and writes
    the file once, at close(): a BVH header holds the frame count, so it cannot grow as it goes."""

    def __init__(self, path: Path | str, frame_time: float):
        self.path = check_output_path(path, (BVH_SUFFIX,))
        self.frame_time = float(frame_time)
        self.frames_saved = 0
        self.failed = False
        self._times: list[float] = []
        self._joints: list[np.ndarray] = []

    def add(self, result: FrameResult) -> None:
        self._times.append(float(result.time))
        self._joints.append(np.full((NUM_JOINTS, 3), np.nan, dtype=np.float32) if result.joints_world is None
                            else np.asarray(result.joints_world, dtype=np.float32))

    def close(self) -> None:
        """Write the file. OutputError when no frame had a person (nothing to animate) or writing failed."""
        if self.frames_saved or not self._times:
            return
        joints = np.stack(self._joints).astype(np.float64)
        if not np.isfinite(joints).all(axis=(1, 2)).any():
            self.failed = True
            raise OutputError(f"no frame had a 3D pose, so {self.path} was not written")
        try:
            self.frames_saved = write_bvh(self.path, np.array(self._times), joints, self.frame_time)
        except OutputError:
            self.failed = True
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.bvh_export",
        description="Convert recorded results (run_demo.py --output x.json/.npz/.csv) to a BVH animation: "
                    "the reference body in a T-pose, centimetres, y up, one frame per input frame; frames "
                    "without a person hold the last pose.")
    parser.add_argument("results", type=Path, help="a .json, .npz or .csv file written by run_demo.py --output")
    parser.add_argument("output", type=Path, help="the BVH file to write")
    parser.add_argument("--fps", type=float, default=None,
                        help="frames per second of the BVH (default: the recording's own rate)")
    parser.add_argument("--force", action="store_true", help="replace the output if it exists")
    args = parser.parse_args(argv)
    if args.fps is not None and not (0.0 < args.fps <= 1000.0):
        print(f"{parser.prog}: error: --fps must be between 0 and 1000, got {args.fps}", file=sys.stderr)
        return 2
    try:
        frames = convert(args.results, args.output, fps=args.fps, overwrite=args.force)
    except ExportError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {frames} frames to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
