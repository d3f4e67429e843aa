"""BVH export: the person in the room as an animation that Blender, MotionBuilder or Unity imports.

    python -m app.bvh_export results.json poses.bvh          # a recorded run (.json, .npz or .csv)
    python run_demo.py --video clip.mp4 --output poses.bvh    # written at the end of the run

The file's skeleton is the reference body (core/skeleton.py REFERENCE_BONE_LENGTHS_MM) in a
T-pose (arms out along x, legs and spine along y), in centimetres, y up, the person facing +z
(towards the camera): the world frame of app/world.py. Every frame, each bone's rotation turns
its rest direction into the direction measured between its two joints, so forward kinematics of
the file puts every joint where the lifted pose points it, at the reference body's bone lengths
(a single camera cannot see a person's own: the lifter only fixes the total size). The root
(pelvis) moves along `root_world`.

BVH gives a joint one rotation for all its children, so a joint with several bones (the pelvis:
both hips and the spine; the thorax: neck and both shoulders) could not point each of them where
it was measured. Each such bone hangs from a zero-length joint of its own (`pelvis_to_right_hip`,
`thorax_to_left_shoulder`, ...) placed at the branching joint, which makes any set of directions
reproducible exactly. The pelvis and thorax joints themselves carry the body's and the chest's
orientation (hips and shoulders across, spine up), for tools that retarget by them.

A direction leaves the bone's twist about itself open. Upper and lower limbs share one hinge axis,
the normal of the plane of the knee's or elbow's bend, so the knee and elbow turn about one axis
and the limbs do not spin; a straight limb, whose bend plane is not defined, blends over to the
axis a bend would have given (a knee bends backwards, an elbow forwards). Other bones take the
smallest rotation from their parent (no twist of their own).

Frames: one per 1/fps of the input, the results resampled onto that grid by time; a frame without
a person holds the last pose (before the first person, the first pose).

numpy only: the app imports no training code.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.results import FrameResult, OutputError, check_output_path, read_results
from app.world import _rotation_between
from core.camera import rotation_from_camera
from core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, REFERENCE_BONE_LENGTHS_MM

BVH_SUFFIX = ".bvh"
CM_PER_M = 100.0          # BVH's customary unit (CMU, Mixamo); Blender imports it with scale 0.01
DEFAULT_FPS = 30.0        # only for a file with a single frame, whose times tell no rate
HINGE_BLEND = 0.25        # weight of the straight-limb axis: bends of more than ~15 degrees set the hinge
EPS = 1e-9

_J = JOINT_INDEX
X_AXIS, Y_AXIS, Z_AXIS = np.eye(3)

# The T-pose: each bone's direction (keyed by its child joint) in the world frame.
REST_DIRECTIONS: dict[str, np.ndarray] = {
    "right_hip": -X_AXIS, "left_hip": X_AXIS,
    "right_knee": -Y_AXIS, "left_knee": -Y_AXIS, "right_ankle": -Y_AXIS, "left_ankle": -Y_AXIS,
    "spine": Y_AXIS, "thorax": Y_AXIS, "neck_nose": Y_AXIS, "head": Y_AXIS,
    "left_shoulder": X_AXIS, "left_elbow": X_AXIS, "left_wrist": X_AXIS,
    "right_shoulder": -X_AXIS, "right_elbow": -X_AXIS, "right_wrist": -X_AXIS,
}


@dataclass(frozen=True)
class BvhJoint:
    """One joint of the file. `start` is the H36M joint it sits at; its bone points to `end`."""
    name: str
    parent: int                  # index into SKELETON, -1 for the root
    start: int                   # H36M joint at this joint's position
    end: int | None              # H36M joint its bone points to; None: the pelvis and thorax frames
    rule: str                    # how its rotation is solved: "pelvis", "chest", "swing", "leg", "arm"
    order: str                   # its rotation channels, outermost first
    end_site: int | None = None  # H36M joint of an End Site child (the limbs' and head's tips)


def _skeleton() -> tuple[BvhJoint, ...]:
    # Channel orders keep the middle (gimbal-locking) axis on the one that rarely reaches 90
    # degrees: the bone's own axis (its twist) for limbs and spine, the roll for the root.
    joints: list[BvhJoint] = [BvhJoint("pelvis", -1, _J["pelvis"], None, "pelvis", "YZX")]

    def add(name: str, parent: int, start: str, end: str | None, rule: str, order: str,
            end_site: str | None = None) -> int:
        joints.append(BvhJoint(name, parent, _J[start], None if end is None else _J[end], rule, order,
                               None if end_site is None else _J[end_site]))
        return len(joints) - 1

    for side in ("right", "left"):
        branch = add(f"pelvis_to_{side}_hip", 0, "pelvis", f"{side}_hip", "swing", "ZXY")
        hip = add(f"{side}_hip", branch, f"{side}_hip", f"{side}_knee", "leg", "ZYX")
        add(f"{side}_knee", hip, f"{side}_knee", f"{side}_ankle", "leg", "ZYX", end_site=f"{side}_ankle")
    branch = add("pelvis_to_spine", 0, "pelvis", "spine", "swing", "ZYX")
    spine = add("spine", branch, "spine", "thorax", "swing", "ZYX")
    thorax = add("thorax", spine, "thorax", None, "chest", "ZXY")
    branch = add("thorax_to_neck_nose", thorax, "thorax", "neck_nose", "swing", "ZYX")
    add("neck_nose", branch, "neck_nose", "head", "swing", "ZYX", end_site="head")
    for side in ("left", "right"):
        branch = add(f"thorax_to_{side}_shoulder", thorax, "thorax", f"{side}_shoulder", "swing", "ZXY")
        shoulder = add(f"{side}_shoulder", branch, f"{side}_shoulder", f"{side}_elbow", "arm", "ZXY")
        add(f"{side}_elbow", shoulder, f"{side}_elbow", f"{side}_wrist", "arm", "ZXY", end_site=f"{side}_wrist")
    return tuple(joints)


SKELETON = _skeleton()
THORAX_BVH = next(i for i, joint in enumerate(SKELETON) if joint.name == "thorax")


def rest_positions_m() -> np.ndarray:
    """The T-pose's 17 joints [17, 3] in metres, pelvis at the origin."""
    rest = np.zeros((NUM_JOINTS, 3))
    for child, parent in enumerate(PARENTS):  # parents come before their children
        if parent >= 0:
            name = JOINT_NAMES[child]
            rest[child] = rest[parent] + REST_DIRECTIONS[name] * REFERENCE_BONE_LENGTHS_MM[name] / 1000.0
    return rest


REST_M = rest_positions_m()


def reference_body(joints: np.ndarray) -> np.ndarray:
    """What the file reproduces of poses [..., 17, 3] (m): the pelvis where it is, every bone in
    its measured direction at the reference body's length."""
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(joints)
    out[..., 0, :] = joints[..., 0, :]
    for child, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        bone = joints[..., child, :] - joints[..., parent, :]
        length = np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), EPS)
        out[..., child, :] = out[..., parent, :] + bone / length * REFERENCE_BONE_LENGTHS_MM[JOINT_NAMES[child]] / 1000.0
    return out


# --- rotations ------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > EPS else v), norm


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit a to unit b, also when they are opposite."""
    if float(np.dot(a, b)) < -1.0 + 1e-9:
        axis = np.cross(a, X_AXIS if abs(a[0]) < 0.9 else Y_AXIS)
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)  # a half turn about an axis perpendicular to a
    return _rotation_between(a, b)


def _frame(across: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """The rotation taking the rest frame (x across, y up) to one with y along `up` and x the part
    of `across` perpendicular to it; None where they are (nearly) parallel."""
    y, length = _unit(up)
    if length < EPS:
        return None
    x, length = _unit(across - np.dot(across, y) * y)
    if length < 1e-6:
        return None
    return np.stack([x, y, np.cross(x, y)], axis=1)


def _rest_hinge(joint: BvhJoint) -> np.ndarray:
    """The rest hinge axis: a knee bends backwards (forward x bone), an elbow forwards (bone x forward)."""
    d0 = REST_DIRECTIONS[JOINT_NAMES[joint.end]]
    return np.cross(Z_AXIS, d0) if joint.rule == "leg" else np.cross(d0, Z_AXIS)


def solve_rotations(joints: np.ndarray, previous: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Every BVH joint's global rotation (3x3, rest to now) for one pose [17, 3] in the world frame.
    `previous`, the last frame's answer, decides what is undefined in this one (a straight limb
    pointing along the body's forward axis, a bone of zero length)."""
    joints = np.asarray(joints, dtype=np.float64)
    rotations: list[np.ndarray] = []
    for index, joint in enumerate(SKELETON):
        parent = rotations[joint.parent] if joint.parent >= 0 else np.eye(3)
        last = previous[index] if previous is not None else parent
        if joint.rule in ("pelvis", "chest"):
            if joint.rule == "pelvis":
                across = joints[_J["left_hip"]] - joints[_J["right_hip"]]
                up = joints[_J["spine"]] - joints[_J["pelvis"]]
            else:
                across = joints[_J["left_shoulder"]] - joints[_J["right_shoulder"]]
                up = joints[_J["thorax"]] - joints[_J["spine"]]
            frame = _frame(across, up)
            rotations.append(last if frame is None else frame)
            continue
        d0 = REST_DIRECTIONS[JOINT_NAMES[joint.end]]
        d, length = _unit(joints[joint.end] - joints[joint.start])
        if length < EPS:  # two joints in one place: keep the bone as it was
            rotations.append(last)
            continue
        rotation = None
        if joint.rule in ("leg", "arm"):
            # The limb's three joints: (hip, knee, ankle) or (shoulder, elbow, wrist).
            if PARENTS[joint.end] == joint.start and any(PARENTS[c] == joint.end for c in range(NUM_JOINTS)):
                top, mid = joint.start, joint.end
                bottom = next(c for c in range(NUM_JOINTS) if PARENTS[c] == joint.end)
            else:
                top, mid, bottom = PARENTS[joint.start], joint.start, joint.end
            upper, _ = _unit(joints[mid] - joints[top])
            lower, _ = _unit(joints[bottom] - joints[mid])
            forward = rotations[0 if joint.rule == "leg" else THORAX_BVH][:, 2]
            straight = np.cross(forward, upper) if joint.rule == "leg" else np.cross(upper, forward)
            straight, _ = _unit(straight)
            hinge = np.cross(upper, lower) + HINGE_BLEND * straight
            hinge = hinge - np.dot(hinge, d) * d
            if np.linalg.norm(hinge) < 1e-3:  # straight and along the forward axis: as last frame
                hinge = last @ _rest_hinge(joint)
                hinge = hinge - np.dot(hinge, d) * d
            hinge, length = _unit(hinge)
            if length > 1e-3:
                h0 = _rest_hinge(joint)
                rotation = np.stack([d, hinge, np.cross(d, hinge)], axis=1) @ \
                    np.stack([d0, h0, np.cross(d0, h0)], axis=1).T
        if rotation is None:
            rotation = _swing(parent @ d0, d) @ parent
        rotations.append(rotation)
    return rotations


_AXIS = {"X": 0, "Y": 1, "Z": 2}


def euler_degrees(rotation: np.ndarray, order: str) -> np.ndarray:
    """Angles (a, b, c) in degrees with rotation = R_order[0](a) @ R_order[1](b) @ R_order[2](c):
    BVH's reading of a joint's channels, the first listed outermost."""
    i, j, k = (_AXIS[a] for a in order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # an even (cyclic) order or an odd one
    R = rotation
    b = math.asin(max(-1.0, min(1.0, sign * R[i, k])))
    if math.cos(b) > 1e-7:
        a = math.atan2(-sign * R[j, k], R[k, k])
        c = math.atan2(-sign * R[i, j], R[i, i])
    else:  # gimbal lock: a and c turn about one axis; put it all in a
        a = math.atan2(sign * R[k, j], R[j, j])
        c = 0.0
    return np.degrees([a, b, c])


def _axis_rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(3)
    p, q = [(1, 2), (2, 0), (0, 1)][axis]
    m[p, p], m[p, q], m[q, p], m[q, q] = c, -s, s, c
    return m


def euler_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """The inverse of euler_degrees."""
    out = np.eye(3)
    for axis, angle in zip(order, angles):
        out = out @ _axis_rotation(_AXIS[axis], float(angle))
    return out


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
        rows[n, :3] = joints[_J["pelvis"]] * CM_PER_M
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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        raise OutputError(f"writing {path} failed ({error.strerror or error})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
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
        rotation = _rotation_between(Z_AXIS, ray / np.linalg.norm(ray)) @ rotation_k
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
