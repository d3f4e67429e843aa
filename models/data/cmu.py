"""CMU mocap (BVH) as H36M-17 poses: 3D, mm, world frame, y down, every pose rebuilt with the
reference bone lengths (core.skeleton.REFERENCE_LENGTHS); the activity group of every take; and
the cross-subject split training and evaluation share.

Why rebuild CMU poses from bone directions: the BVH releases disagree on proportions (the DAZ
rig's shoulders sit well inside the body, the ASF rig has a short torso), and a critic trained
on raw joint positions would learn those quirks. Directions carry the motion; one reference set
of bone lengths removes the rig. See docs/data.md for every mapping choice.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.skeleton import (BONE_INDEX, JOINT_INDEX, NUM_JOINTS, PELVIS, REFERENCE_LENGTHS, bone_directions,
                           bone_vectors, poses_from_bones)
from models.data import DataError
from models.data.bvh import BVH, BVHError, forward_kinematics, read_bvh


# BVH is y up; the project is y down. (x, y, z) -> (x, -y, -z) is a proper rotation (180 degrees
# about x), so handedness and left/right survive.
_Y_UP_TO_Y_DOWN = np.array([1.0, -1.0, -1.0])

# Neck and head have no joint in the rigs where H36M puts them (nose, head top), so their bone
# directions come from the rig's neck and head rotations applied to fixed directions in those
# joints' rest frames (y up, facing +z, as all rigs' rest poses are): the neck leans 25 degrees
# forward (the nose is in front of the spine), the head bone 25 degrees back (nose up to crown).
_NECK_REST = (0.0, float(np.cos(np.deg2rad(25.0))), float(np.sin(np.deg2rad(25.0))))
_HEAD_REST = (0.0, float(np.cos(np.deg2rad(25.0))), -float(np.sin(np.deg2rad(25.0))))


@dataclass(frozen=True)
class BVHConvention:
    """How one BVH rig maps to H36M-17.

    points: H36M joint -> rig joints whose mean is that joint (joint position = start of the
    named rig bone); bone directions are taken between these points, except for
    rotated_bones: H36M bone (named by its child joint) -> (rig joint, direction in that joint's
    rest frame); the bone points along the joint's world rotation applied to that direction.
    skip_frames: leading frames that are not part of the take.
    """
    name: str
    points: dict[str, tuple[str, ...]]
    rotated_bones: dict[str, tuple[str, tuple[float, float, float]]]
    skip_frames: int = 0

    def rig_joints(self) -> set[str]:
        return ({n for names in self.points.values() for n in names}
                | {joint for joint, _ in self.rotated_bones.values()})


def _convention(name: str, hips, knees, ankles, spine, shoulders, elbows, wrists, neck, head,
                rotated: dict | None = None, skip_frames: int = 0) -> BVHConvention:
    points = {"pelvis": hips, "right_hip": (hips[0],), "left_hip": (hips[1],),
              "right_knee": (knees[0],), "left_knee": (knees[1],),
              "right_ankle": (ankles[0],), "left_ankle": (ankles[1],),
              "spine": spine, "thorax": shoulders,
              "right_shoulder": (shoulders[0],), "left_shoulder": (shoulders[1],),
              "right_elbow": (elbows[0],), "left_elbow": (elbows[1],),
              "right_wrist": (wrists[0],), "left_wrist": (wrists[1],)}
    return BVHConvention(name, points, {**(rotated or {}), "neck_nose": neck, "head": head}, skip_frames)


def _mirrored(x: float, y: float, z: float) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return (x, y, z), (-x, y, z)


# The DAZ-friendly release put the original CMU joint rotations on a rig whose rest pose differs
# (forearms 17 degrees forward, legs straight down instead of the ASF's 20-degree splay), so its
# own bone offsets point the limbs wrongly: wrists end up about 8 cm too far forward. These are
# the limb (and lower-spine) directions in the DAZ joints' frames that reproduce the
# MotionBuilder-friendly release (which keeps the CMU skeleton) of the same take, 02_01; over its
# 339 frames they vary by 1.4-2.9 degrees (median), left and right agree within 1.5 degrees.
_DAZ_THIGH = _mirrored(-0.060, -0.989, -0.136)
_DAZ_SHIN = _mirrored(-0.002, -1.000, -0.030)
_DAZ_UPPER_ARM = _mirrored(-0.998, -0.067, -0.014)
_DAZ_FOREARM = _mirrored(-0.990, -0.140, -0.007)
_DAZ_CALIBRATION = {"right_knee": ("rThigh", _DAZ_THIGH[0]), "left_knee": ("lThigh", _DAZ_THIGH[1]),
              "right_ankle": ("rShin", _DAZ_SHIN[0]), "left_ankle": ("lShin", _DAZ_SHIN[1]),
              "right_elbow": ("rShldr", _DAZ_UPPER_ARM[0]), "left_elbow": ("lShldr", _DAZ_UPPER_ARM[1]),
              "right_wrist": ("rForeArm", _DAZ_FOREARM[0]), "left_wrist": ("lForeArm", _DAZ_FOREARM[1]),
              "spine": ("hip", (0.0, 0.995, -0.103))}

# pelvis = mid-hips, thorax = mid-shoulders (as the app's MediaPipe mapping), spine = the rig's
# mid-back joint(s). Pairs are (right, left).
CMU_CONVENTIONS: tuple[BVHConvention, ...] = (
    # cgspeed DAZ-friendly, 43 joints, cm (1a) and the rescaled salsa files (4). Every file
    # starts with a T-pose and three frames blending out of it: skipped.
    _convention("daz", hips=("rThigh", "lThigh"), knees=("rShin", "lShin"), ankles=("rFoot", "lFoot"),
                spine=("abdomen", "chest"), shoulders=("rShldr", "lShldr"),
                elbows=("rForeArm", "lForeArm"), wrists=("rHand", "lHand"),
                # neck and head measured against the MotionBuilder release like the limbs
                neck=("neck", (0.0, 0.982, 0.186)), head=("head", (0.0, 0.990, -0.135)),
                rotated=_DAZ_CALIBRATION, skip_frames=4),
    # original CMU ASF bone names, 31 joints (1b)
    _convention("asf", hips=("rfemur", "lfemur"), knees=("rtibia", "ltibia"), ankles=("rfoot", "lfoot"),
                spine=("upperback",), shoulders=("rhumerus", "lhumerus"),
                elbows=("rradius", "lradius"), wrists=("rwrist", "lwrist"),
                neck=("upperneck", _NECK_REST), head=("head", _HEAD_REST)),
    # cgspeed MotionBuilder-friendly, 31 joints (1c)
    _convention("motionbuilder", hips=("RightUpLeg", "LeftUpLeg"), knees=("RightLeg", "LeftLeg"),
                ankles=("RightFoot", "LeftFoot"), spine=("Spine",), shoulders=("RightArm", "LeftArm"),
                elbows=("RightForeArm", "LeftForeArm"), wrists=("RightHand", "LeftHand"),
                neck=("Neck1", _NECK_REST), head=("Head", _HEAD_REST),
                # its LHipJoint/RHipJoint carry rotations of up to 9 degrees that the CMU skeleton
                # does not have (the ASF release's are zero): take the hip line from the root
                rotated={"right_hip": ("Hips", (-1.0, 0.0, 0.0)), "left_hip": ("Hips", (1.0, 0.0, 0.0))}),
)

# Takes whose capture is broken: left out by load_cmu_sequences.
BROKEN_TRIALS: dict[str, str] = {
    "09_10": "marker failure: legs and arms scrambled (legs splayed flat, head below the feet) "
             "in about a quarter of the frames",
}


def detect_convention(bvh: BVH) -> BVHConvention:
    """The first convention whose joint names all occur in the file; DataError if none does."""
    names = set(bvh.joint_names)
    for convention in CMU_CONVENTIONS:
        if convention.rig_joints() <= names:
            return convention
    raise DataError(f"{bvh.path}: unknown BVH skeleton (root {bvh.joint_names[0]!r}); supported are the CMU "
                    f"conventions {', '.join(c.name for c in CMU_CONVENTIONS)} (see docs/data.md)")


def resample_indices(num_frames: int, source_fps: float, fps: float | None) -> np.ndarray:
    """Frame indices that sample a clip at `fps` (nearest frame; never more frames than the source)."""
    if fps is None or fps >= source_fps:
        return np.arange(num_frames)
    times = np.arange(0.0, num_frames / source_fps - 1e-9, 1.0 / fps)
    return np.unique(np.minimum(np.round(times * source_fps).astype(int), num_frames - 1))


def bvh_to_h36m(bvh: BVH, fps: float | None = 30.0, skip_frames: int = 0) -> np.ndarray:
    """H36M-17 poses [F, 17, 3] float32, mm, world frame y down, rebuilt with REFERENCE_LENGTHS.

    skip_frames: leading frames to drop beyond the convention's own (a folder whose converter put
    a T-pose first, as cmu_mocap_varied/).

    The pelvis trajectory is scaled by (reference leg length / the rig's leg length), so the
    rebuilt body moves as far as the recorded one relative to its size.
    """
    convention = detect_convention(bvh)
    skip = convention.skip_frames + skip_frames
    if bvh.num_frames <= skip:
        raise DataError(f"{bvh.path}: only {bvh.num_frames} frames; the {convention.name} release "
                        f"starts with {skip} frames that are not part of the take")
    frames = skip + resample_indices(bvh.num_frames - skip, bvh.fps, fps)
    kin = forward_kinematics(bvh, frames)
    rig = np.zeros((len(frames), NUM_JOINTS, 3))
    for joint, names in convention.points.items():
        rig[:, JOINT_INDEX[joint]] = kin.positions[:, [bvh.index(n) for n in names]].mean(axis=1)
    legs = [BONE_INDEX[n] for n in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
    rig_leg = np.linalg.norm(bone_vectors(rig)[:, legs], axis=-1).mean(0).sum()
    if not rig_leg > 0:
        raise DataError(f"{bvh.path}: the rig's legs have zero length; cannot scale it")

    directions = bone_directions(rig)
    for bone, (joint, rest) in convention.rotated_bones.items():
        rest = np.asarray(rest) / np.linalg.norm(rest)
        directions[:, BONE_INDEX[bone]] = kin.rotations[:, bvh.index(joint)] @ rest
    directions *= _Y_UP_TO_Y_DOWN
    pelvis_mm = rig[:, PELVIS] * _Y_UP_TO_Y_DOWN * (REFERENCE_LENGTHS[legs].sum() / rig_leg)
    return poses_from_bones(directions, REFERENCE_LENGTHS, pelvis_mm).astype(np.float32)


_TRIAL_NAME = re.compile(r"^(\d+)_(\d+)")


def trial_id(name: str) -> str | None:
    """The CMU take a file name starts with ("2_1_walk" -> "02_01"); None without CMU naming."""
    match = _TRIAL_NAME.match(name)
    return None if match is None else f"{int(match[1]):02d}_{int(match[2]):02d}"


def load_cmu_sequences(root: str | Path, fps: float | None = 30.0, progress: bool = True,
                       skip_frames: int = 0) -> dict[str, np.ndarray]:
    """Every BVH file under `root` (searched recursively) as H36M-17 poses, keyed by trial id
    ("02_01"), each [F, 17, 3] float32 mm, world frame y down, sampled at `fps` (None: as recorded).

    File names must start with <subject>_<trial> (CMU naming). A take found in more than one
    release (02_01 is both DAZ- and MotionBuilder-friendly) is loaded once, from the release that
    comes first in CMU_CONVENTIONS. Takes in BROKEN_TRIALS are left out. skip_frames: leading
    frames of every file to drop (bvh_to_h36m).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"CMU mocap folder not found: {root} (pass the folder holding the .bvh files, "
                        f"or set REPNET_DATA)")
    files = sorted(root.rglob("*.bvh"))
    if not files:
        raise DataError(f"no .bvh files under {root}")
    rank = {c.name: i for i, c in enumerate(CMU_CONVENTIONS)}
    chosen: dict[str, tuple[int, np.ndarray]] = {}
    for path in tqdm(files, desc="CMU mocap", unit="file", disable=not progress):
        trial = trial_id(path.stem)
        if trial is None:
            raise DataError(f"{path}: cannot tell the subject from the file name; expected "
                            f"<subject>_<trial>[...].bvh as in CMU (e.g. 02_01.bvh)")
        if trial in BROKEN_TRIALS:
            continue
        stat = path.stat()
        convention, poses = _converted(str(path.resolve()), stat.st_mtime_ns, stat.st_size, fps, skip_frames)
        if trial in chosen and chosen[trial][0] <= rank[convention]:
            continue
        chosen[trial] = (rank[convention], poses)
    return {trial: chosen[trial][1] for trial in sorted(chosen)}


@functools.lru_cache(maxsize=1024)
def _converted(path: str, mtime_ns: int, size: int, fps: float | None, skip_frames: int) -> tuple[str, np.ndarray]:
    """(convention name, H36M-17 poses) of one BVH file. Parsing is most of the time a training run
    takes to start, and one process often reads the same files again (the training data's poses
    and activity labels, each group of the cross-motion protocol, a test suite's runs): a file is
    read once per process while its modification time and size stay the same. The poses come back
    read-only, so that no caller can change what the next one gets."""
    try:
        bvh = read_bvh(path)
    except BVHError as err:
        raise DataError(str(err)) from None
    poses = bvh_to_h36m(bvh, fps, skip_frames)
    poses.setflags(write=False)
    return detect_convention(bvh).name, poses


# The varied-motion clips live in a folder of their own (../shared/data/README.md, section 5);
# their converter put a T-pose in frame 0.
VARIED_FOLDER = "cmu_mocap_varied"
VARIED_SKIP_FRAMES = 1


def load_cmu_trials(root: str | Path, fps: float | None = 30.0, progress: bool = True,
                    varied: bool = True) -> dict[str, np.ndarray]:
    """Every CMU take under the data root, keyed by trial id ("02_01"): cmu_mocap/ and, with
    `varied`, cmu_mocap_varied/ (its T-pose frame dropped). `root` may also be any folder of CMU
    BVH files, read as it is."""
    root = Path(root)
    if not (root / "cmu_mocap").is_dir():
        return load_cmu_sequences(root, fps, progress)
    trials = load_cmu_sequences(root / "cmu_mocap", fps, progress)
    if varied and (root / VARIED_FOLDER).is_dir():
        trials.update(load_cmu_sequences(root / VARIED_FOLDER, fps, progress, skip_frames=VARIED_SKIP_FRAMES))
    return dict(sorted(trials.items()))


def load_cmu_poses(root: str | Path, fps: float | None = 30.0, progress: bool = True,
                   varied: bool = True) -> dict[str, np.ndarray]:
    """All CMU poses under `root` (the data root, or any folder of CMU BVH files), grouped by
    subject id ("02", "60", ...): [F, 17, 3] float32, mm, world frame, y down, trials in order.
    varied: include cmu_mocap_varied/ beside cmu_mocap/ (load_cmu_trials).
    """
    return {s: np.concatenate(parts) for s, parts in _by_subject(load_cmu_trials(root, fps, progress, varied)).items()}


def load_cmu_activities(root: str | Path, fps: float | None = 30.0, progress: bool = True,
                        varied: bool = True) -> dict[str, np.ndarray]:
    """The activity group (activity_group) of every pose of load_cmu_poses, subject -> [F] str."""
    trials = load_cmu_trials(root, fps, progress, varied)
    return {s: np.concatenate(parts) for s, parts in _by_subject(
        {t: np.full(len(p), activity_group(t)) for t, p in trials.items()}).items()}


def _by_subject(trials: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    subjects: dict[str, list[np.ndarray]] = {}
    for trial, values in trials.items():
        subjects.setdefault(trial.split("_")[0], []).append(values)
    return dict(sorted(subjects.items()))


# Activity groups of the CMU takes (the CMU index labels, ../shared/data/README.md): the units of
# the cross-motion protocol (evaluation.cross_motion) and of balanced sampling in training
# (models.training_data.balanced_cdf).
ACTIVITY_GROUPS: dict[str, tuple[str, ...]] = {
    "walk/run": ("02_01", "02_02", "02_03", "03", "05", "06", "07", "08", "09", "10", "12", "144_03"),
    "jumps/reach": ("02_04", "13", "14", "16"),
    "salsa": ("60", "61"),
    "dance": ("94",),
    "martial arts/kicks": ("144_05", "144_06"),
    "cartwheels": ("144_01",),
    "idle standing": ("137_23", "137_37"),
    "sitting/bending": ("75", "143"),
    "stylised walks": ("104", "105", "120", "137_38"),
    "swordplay": ("02_08", "02_09"),
    "yoga": ("144_30",),
}
_GROUP_OF = {key: group for group, keys in ACTIVITY_GROUPS.items() for key in keys}


def activity_group(trial: str) -> str:
    """The group of a take ("02_01" -> "walk/run"): by trial, else by subject; "other" if unlisted."""
    return _GROUP_OF.get(trial, _GROUP_OF.get(trial.split("_")[0], "other"))



# and the generator's 2D inputs come from different people, so no 2D pose is ever paired with
# its own 3D pose (weak supervision); the test subjects are seen by neither.
# The varied subjects are shared out so that each side sees sitting or bending, standing and
# stylised walks: critic 143 (sit, bend to pick up), 137 (idle, posing), 144 (cartwheels, kicks,
# yoga), 104 (zombie walks); projections 75 (sitting), 94 (dance), 105 and 120 (stylised walks).
CRITIC_SUBJECTS: tuple[str, ...] = ("07", "09", "13", "60", "104", "137", "143", "144")
PROJECTION_SUBJECTS: tuple[str, ...] = ("03", "05", "06", "08", "10", "12", "14", "75", "94", "105", "120")
TEST_SUBJECTS: tuple[str, ...] = ("02", "16", "61")                   # walk/run/jump, jumps, salsa (follow)
