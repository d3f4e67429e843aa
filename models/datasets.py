"""Training and evaluation data, all turned into the H36M-17 skeleton (core/skeleton.py).

  CMU mocap (BVH)          load_cmu_sequences / load_cmu_poses: 3D, mm, world frame, y down,
                           every pose rebuilt with REFERENCE_BONE_LENGTHS_MM
  MPII Human Pose (2D)     load_mpii_2d: pixels + per-joint weights
  Human3.6M (VideoPose3D)  load_h36m_3d / load_h36m_2d: the public .npz formats, user supplied
  synthetic 2D             project_random_cameras: random cameras + detector-like noise

Why rebuild CMU poses from bone directions: the BVH releases disagree on proportions (the DAZ
rig's shoulders sit well inside the body, the ASF rig has a short torso), and a critic trained
on raw joint positions would learn those quirks. Directions carry the motion; one reference set
of bone lengths removes the rig. See docs/data.md for every mapping choice.
"""
from __future__ import annotations

import csv
import io
import itertools
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
from tqdm import tqdm

from models.bvh import BVH, BVHError, forward_kinematics, read_bvh
from core.camera import project_perspective, random_camera_rotations
from core.skeleton import (BONE_INDEX, JOINT_INDEX, MM_PER_METRE, NUM_JOINTS, PELVIS, REFERENCE_BONE_LENGTHS_MM,  # noqa: F401
                             REFERENCE_LENGTHS, bone_directions, bone_vectors, poses_from_bones)

REPO_ROOT = Path(__file__).resolve().parents[1]


class DataError(ValueError):
    """Data that cannot be used; the message says what is wrong and what to do."""


def default_data_root() -> Path:
    """$REPNET_DATA, else <repo>/../shared/data."""
    return Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data"))


# ---- CMU mocap (BVH) -------------------------------------------------------------------------

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
        match = _TRIAL_NAME.match(path.stem)
        if match is None:
            raise DataError(f"{path}: cannot tell the subject from the file name; expected "
                            f"<subject>_<trial>[...].bvh as in CMU (e.g. 02_01.bvh)")
        trial = f"{int(match[1]):02d}_{int(match[2]):02d}"
        if trial in BROKEN_TRIALS:
            continue
        try:
            bvh = read_bvh(path)
        except BVHError as err:
            raise DataError(str(err)) from None
        convention = detect_convention(bvh)
        if trial in chosen and chosen[trial][0] <= rank[convention.name]:
            continue
        chosen[trial] = (rank[convention.name], bvh_to_h36m(bvh, fps, skip_frames))
    return {trial: chosen[trial][1] for trial in sorted(chosen)}


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
# the cross-motion protocol (models.cross_motion) and of balanced sampling in training.
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


def balanced_cdf(labels: np.ndarray, power: float) -> np.ndarray:
    """Cumulative sampling distribution over poses [N] in which each pose's weight is its group's
    size ** -power: 0 samples poses uniformly (large groups dominate), 1 gives every group the same
    share. Draw with np.searchsorted(cdf, rng.random(n))."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(np.float64) ** -power
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


# Cross-subject split of the CMU data (docs/data.md has the frame counts). The critic's 3D poses
# and the generator's 2D inputs come from different people, so no 2D pose is ever paired with
# its own 3D pose (weak supervision); the test subjects are seen by neither.
# The varied subjects are shared out so that each side sees sitting or bending, standing and
# stylised walks: critic 143 (sit, bend to pick up), 137 (idle, posing), 144 (cartwheels, kicks,
# yoga), 104 (zombie walks); projections 75 (sitting), 94 (dance), 105 and 120 (stylised walks).
CRITIC_SUBJECTS: tuple[str, ...] = ("07", "09", "13", "60", "104", "137", "143", "144")
PROJECTION_SUBJECTS: tuple[str, ...] = ("03", "05", "06", "08", "10", "12", "14", "75", "94", "105", "120")
TEST_SUBJECTS: tuple[str, ...] = ("02", "16", "61")                   # walk/run/jump, jumps, salsa (follow)

# ---- MPII Human Pose (2D) --------------------------------------------------------------------

# MPII joint order: 0 r ankle, 1 r knee, 2 r hip, 3 l hip, 4 l knee, 5 l ankle, 6 pelvis,
# 7 thorax, 8 upper neck, 9 head top, 10 r wrist, 11 r elbow, 12 r shoulder, 13 l shoulder,
# 14 l elbow, 15 l wrist. H36M joint -> the MPII joints averaged to make it.
MPII_TO_H36M: dict[str, tuple[int, ...]] = {
    "pelvis": (6,), "right_hip": (2,), "right_knee": (1,), "right_ankle": (0,),
    "left_hip": (3,), "left_knee": (4,), "left_ankle": (5,),
    "spine": (6, 7),            # halfway from pelvis to thorax
    "thorax": (7,),
    "neck_nose": (8, 9),        # halfway from upper neck to head top: about the nose's height
    "head": (9,),               # head top
    "left_shoulder": (13,), "left_elbow": (14,), "left_wrist": (15,),
    "right_shoulder": (12,), "right_elbow": (11,), "right_wrist": (10,),
}


def mpii_to_h36m(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MPII-16 pixels [N, 16, 2] (missing joints: both coordinates -1 or both 0) to H36M-17
    (keypoints [N, 17, 2] float32, weights [N, 17] float32). A joint derived from a missing one
    gets weight 0 and the pelvis as a finite placeholder (the mean of the present joints where
    the pelvis itself is missing). Rows with no joint at all are dropped."""
    parts = np.asarray(parts, dtype=np.float64)
    present = np.isfinite(parts).all(-1) & ~(parts == -1).all(-1) & ~(parts == 0).all(-1)
    keypoints = np.zeros((len(parts), NUM_JOINTS, 2))
    weights = np.zeros((len(parts), NUM_JOINTS))
    for joint, sources in MPII_TO_H36M.items():
        j = JOINT_INDEX[joint]
        keypoints[:, j] = np.nan_to_num(parts[:, list(sources)]).mean(axis=1)
        weights[:, j] = present[:, list(sources)].all(axis=1)
    keep = weights.any(axis=1)
    keypoints, weights = keypoints[keep], weights[keep]
    pelvis_ok = weights[:, PELVIS] > 0
    mean_present = (keypoints * weights[..., None]).sum(1) / weights.sum(1, keepdims=True)
    placeholder = np.where(pelvis_ok[:, None], keypoints[:, PELVIS], mean_present)
    keypoints = np.where(weights[..., None] > 0, keypoints, placeholder[:, None, :])
    return keypoints.astype(np.float32), weights.astype(np.float32)


def load_mpii_2d(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MPII annotations as H36M-17: (keypoints [N, 17, 2] pixels, weights [N, 17]).

    `root` is the data root (holding mpii/) or the mpii folder itself. split:
      "train"  rows of kaggle_csv/mpii_human_pose.csv whose image is not in the validation list
               (pose_hg_train_annot/valid_images.txt), so validation images stay unseen;
      "valid"  pose_hg_train_annot/valid.h5, the standard 2,958-person validation split;
      "all"    every row of the CSV (validation images included).
    """
    root = Path(root)
    mpii = root / "mpii" if (root / "mpii").is_dir() else root
    csv_path = mpii / "kaggle_csv" / "mpii_human_pose.csv"
    valid_list = mpii / "pose_hg_train_annot" / "valid_images.txt"
    valid_h5 = mpii / "pose_hg_train_annot" / "valid.h5"
    if split == "valid":
        if not valid_h5.is_file():
            raise DataError(f"MPII validation file not found: {valid_h5}")
        import h5py  # only this split needs it
        try:
            with h5py.File(valid_h5, "r") as f:
                parts = np.asarray(f["part"], dtype=np.float64)
        except (OSError, KeyError) as err:
            raise DataError(f"{valid_h5}: not a readable MPII annotation file ({err})") from None
        if parts.ndim != 3 or parts.shape[1:] != (16, 2):
            raise DataError(f"{valid_h5}: 'part' has shape {parts.shape}, expected [N, 16, 2]")
        return mpii_to_h36m(parts)
    if split not in ("train", "all"):
        raise DataError(f"unknown MPII split {split!r}; use 'train', 'valid' or 'all'")
    if not csv_path.is_file():
        raise DataError(f"MPII CSV not found: {csv_path} (pass the data root or the mpii folder)")
    excluded = set()
    if split == "train":
        if not valid_list.is_file():
            raise DataError(f"{valid_list} not found: it is needed to keep validation images out of "
                            f"training (or use split='all')")
        excluded = set(valid_list.read_text().split())
    joint_columns = [f"{name}_{axis}" for name in
                     ("r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax",
                      "upper neck", "head top", "r wrist", "r elbow", "r shoulder", "l shoulder",
                      "l elbow", "l wrist") for axis in "XY"]
    rows = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ["NAME", *joint_columns] if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{csv_path}: not the MPII CSV export (missing columns {missing[:3]}...)")
        for line_no, row in enumerate(reader, start=2):
            if row["NAME"] in excluded:
                continue
            try:
                rows.append([float(row[c]) for c in joint_columns])
            except (TypeError, ValueError):
                raise DataError(f"{csv_path}:{line_no}: a joint coordinate is not a number") from None
    return mpii_to_h36m(np.asarray(rows).reshape(-1, 16, 2))


# ---- Human3.6M, VideoPose3D formats (user-supplied files) -------------------------------------

# H36M's 32-joint layout -> H36M-17 (as VideoPose3D's h36m_dataset.py keeps them).
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays, nothing else: the .npz files hold pickled
    objects, and a plain pickle.load would run whatever code a crafted file asks for."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy._core.multiarray":   # written by numpy 2, read by numpy 1
            module = "numpy.core.multiarray"
        return super().find_class(module, name)


def _read_npz_object(path: Path, key: str):
    """The pickled object stored under `key` of an .npz, read with _ArraysOnly."""
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(f"{key}.npy")
    except FileNotFoundError:
        raise DataError(f"Human3.6M file not found: {path}") from None
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not an .npz archive ({err})") from None
    except KeyError:
        raise DataError(f"{path}: no {key!r} entry; expected a VideoPose3D-format Human3.6M file") from None
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        _, _, dtype = read_header(stream)
        if dtype.hasobject:
            array = _ArraysOnly(stream).load()
        else:
            stream.seek(0)
            array = np.lib.format.read_array(stream)
    except (ValueError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
        raise DataError(f"{path}: {key!r} is not a plain dict of arrays ({err})") from None
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def _h36m_joints(array, where: str, dims: int) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.ndim != 3 or array.shape[2] != dims or array.shape[1] not in (17, 32):
        raise DataError(f"{where}: expected float [frames, 32 or 17, {dims}], got {array.dtype} {array.shape}")
    return array[:, list(H36M_32_TO_17)] if array.shape[1] == 32 else array


def _select_subjects(data, path: Path, subjects: Iterable[str] | None, key: str) -> list[str]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path}: {key!r} is not a dict of subjects -> dict of actions")
    wanted = list(data) if subjects is None else list(subjects)
    unknown = [s for s in wanted if s not in data]
    if unknown:
        raise DataError(f"{path}: no subject {unknown[0]!r}; the file has {', '.join(sorted(data))}")
    return wanted


# H36M world is z up, metres; (x, y, z) -> (x, -z, y) is a proper rotation (90 degrees about x)
# that sends up to -y (y down), then metres -> mm.
H36M_Z_UP_TO_Y_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def load_h36m_3d(path: str | Path, subjects: Iterable[str] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """VideoPose3D's data_3d_h36m.npz ('positions_3d': subject -> action -> [F, 32, 3] metres,
    world frame z up) as {(subject, action): [F, 17, 3] float32 mm, world frame y down}.

    Only trust files you made or got from a known source: the format stores pickled objects.
    This reader unpickles nothing but dicts and numpy arrays and checks every shape.
    """
    path = Path(path)
    data = _read_npz_object(path, "positions_3d")
    out = {}
    for subject in _select_subjects(data, path, subjects, "positions_3d"):
        for action, positions in data[subject].items():
            joints = _h36m_joints(positions, f"{path}: {subject}/{action}", 3)
            out[(subject, action)] = (joints @ H36M_Z_UP_TO_Y_DOWN.T * MM_PER_METRE).astype(np.float32)
    return out


def load_h36m_2d(path: str | Path, subjects: Iterable[str] | None = None) -> dict[tuple[str, str, int], np.ndarray]:
    """VideoPose3D's data_2d_h36m_gt.npz or a detections file in H36M layout ('positions_2d':
    subject -> action -> list of 4 cameras [F, 17, 2] pixels; 'metadata' with layout_name 'h36m', or num_joints 17 in the ground-truth file)
    as {(subject, action, camera index): [F, 17, 2] float32 pixels}. Detection files in COCO
    layout are refused (their joint order differs). Same trust note as load_h36m_3d."""
    path = Path(path)
    metadata = _read_npz_object(path, "metadata")
    if not isinstance(metadata, dict):
        raise DataError(f"{path}: no 'metadata' dict; expected VideoPose3D's 2D npz format")
    # Detection files name their layout; the ground-truth file only gives num_joints (17 = H36M order).
    layout = metadata.get("layout_name", "h36m" if metadata.get("num_joints") == 17 else None)
    if layout != "h36m":
        raise DataError(f"{path}: 2D layout {layout!r} is not 'h36m'; only H36M-ordered keypoints are supported")
    data = _read_npz_object(path, "positions_2d")
    out = {}
    for subject in _select_subjects(data, path, subjects, "positions_2d"):
        for action, cameras in data[subject].items():
            if not isinstance(cameras, (list, tuple)):
                raise DataError(f"{path}: {subject}/{action} is not a list of cameras")
            for c, keypoints in enumerate(cameras):
                where = f"{path}: {subject}/{action} camera {c}"
                out[(subject, action, c)] = _h36m_joints(keypoints, where, 2).astype(np.float32)
    return out


# ---- your own training data (models.train --critic-3d / --projection-3d / --given-2d) ------------

@dataclass
class PoseSource:
    """Poses from one user-supplied source, and the people in them (for the weak-supervision check)."""
    spec: str
    poses: np.ndarray           # [N, 17, 3] mm, world frame, y down; or [N, 17, 2] pixels for 2D
    weights: np.ndarray | None  # [N, 17] for 2D: 1 where the joint is present
    people: frozenset[str]      # "CMU 07", "H36M S1", or "BVH <absolute path>" for files not named after CMU


_NPZ_SPEC = re.compile(r"^(?P<path>.+\.npz)(?::(?P<subjects>[A-Za-z0-9_,]+))?$")


def parse_npz_spec(spec: str) -> tuple[Path, list[str] | None]:
    """"data_3d_h36m.npz:S1,S5" -> (path, ["S1", "S5"]); without ":..." every subject (None)."""
    match = _NPZ_SPEC.match(spec)
    if match is None:
        raise DataError(f"{spec!r}: expected a Human3.6M .npz file, optionally followed by :SUBJECTS "
                        f"(e.g. data_3d_h36m.npz:S1,S5,S6)")
    subjects = match["subjects"].split(",") if match["subjects"] else None
    return Path(match["path"]), subjects


def load_3d_source(spec: str, fps: float | None = 30.0) -> PoseSource:
    """3D poses from a folder of BVH files (searched recursively, any file names, rigs as in
    CMU_CONVENTIONS), one .bvh file, or a Human3.6M 3D file given as PATH.npz[:S1,S5,...].
    Every pose is rebuilt with the reference skeleton, like the CMU data, so that the critic sees
    one body size whatever the source (models.train relies on it against scale drift)."""
    if spec.endswith(".npz") or ".npz:" in spec:
        path, subjects = parse_npz_spec(spec)
        sequences = load_h36m_3d(path, subjects)
        if not sequences:
            raise DataError(f"{spec}: no poses in it")
        poses = np.concatenate(list(sequences.values()))
        poses = poses_from_bones(bone_directions(poses), REFERENCE_LENGTHS, poses[:, PELVIS]).astype(np.float32)
        people = frozenset(f"H36M {subject}" for subject, _ in sequences)
        return PoseSource(spec, poses, None, people)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: not found; pass a folder of .bvh files, a .bvh file or a Human3.6M .npz")
    files = [path] if path.suffix.lower() == ".bvh" and path.is_file() else sorted(path.rglob("*.bvh"))
    if not files:
        raise DataError(f"{spec}: no .bvh files in it")
    poses, people = [], set()
    for file in tqdm(files, desc=path.name, unit="file", disable=len(files) < 5):
        try:
            poses.append(bvh_to_h36m(read_bvh(file), fps))
        except BVHError as err:
            raise DataError(str(err)) from None
        cmu = _TRIAL_NAME.match(file.stem)
        people.add(f"CMU {int(cmu[1]):02d}" if cmu else f"BVH {file.resolve()}")
    return PoseSource(spec, np.concatenate(poses), None, frozenset(people))


def load_2d_source(spec: str) -> PoseSource:
    """2D poses as given, for the generator: a Human3.6M 2D file (ground truth or detections in
    H36M layout) given as PATH.npz[:S7,S8]; every camera's frames. Frames with a non-finite
    coordinate are left out."""
    path, subjects = parse_npz_spec(spec)
    sequences = load_h36m_2d(path, subjects)
    keypoints = np.concatenate(list(sequences.values())) if sequences else np.zeros((0, NUM_JOINTS, 2))
    keypoints = keypoints[np.isfinite(keypoints).all(axis=(1, 2))]
    if not len(keypoints):
        raise DataError(f"{spec}: no usable 2D poses in it")
    people = frozenset(f"H36M {subject}" for subject, _, _ in sequences)
    return PoseSource(spec, keypoints.astype(np.float32), np.ones(keypoints.shape[:2], np.float32), people)


def check_disjoint(groups: dict[str, set[str]]) -> None:
    """DataError if a person is in two groups (e.g. the critic's 3D and the generator's 2D)."""
    for (first, people_a), (second, people_b) in itertools.combinations(groups.items(), 2):
        shared = people_a & people_b
        if shared:
            raise DataError(f"{', '.join(sorted(shared))} in both the {first} and the {second} data; each "
                            f"person may be in one group only (weak supervision, honest held-out figures)")


# ---- synthetic 2D from 3D --------------------------------------------------------------------

def person_size_px(keypoints_2d: np.ndarray) -> np.ndarray:
    """[N, 1, 1] the person's size in the image: the longer side of the box around the joints."""
    return np.maximum(np.ptp(keypoints_2d[..., 0], axis=1), np.ptp(keypoints_2d[..., 1], axis=1))[:, None, None]


def jitter_2d(keypoints_2d: np.ndarray, noise_px: float, rng: np.random.Generator) -> np.ndarray:
    """The detector noise model: Gaussian jitter of std noise_px for a person 500 px tall, scaled
    with the person's size in the image. Training's projections and every evaluation use it."""
    return keypoints_2d + rng.normal(0.0, 1.0, keypoints_2d.shape) * noise_px * person_size_px(keypoints_2d) / 500.0


class Projections(NamedTuple):
    keypoints_2d: np.ndarray   # [F, 17, 2] float32 pixels, detector-like noise; dropped joints at the pelvis
    poses_camera: np.ndarray   # [F, 17, 3] float32 mm, root-relative, camera frame (what was projected)
    weights: np.ndarray        # [F, 17] float32, 1 for a detected joint, 0 for a dropped one
    rotations: np.ndarray      # [F, 3, 3] float32, world -> camera: the camera each pose was seen by


def project_random_cameras(poses_world: np.ndarray, rng: np.random.Generator, noise_px: float = 4.0,
                           outlier_prob: float = 0.01, dropout_prob: float = 0.02,
                           distance_mm: tuple[float, float] = (3500.0, 7000.0),
                           focal_px: tuple[float, float] = (800.0, 1600.0),
                           image_size: tuple[int, int] = (1000, 1000)) -> Projections:
    """Project world poses [F, 17, 3] (mm, y down) through one random camera each
    (core.camera.random_camera_rotations: all round, looking slightly down or up), pelvis on
    the optical axis at a random distance, principal point at the image centre.

    Detector-like noise: Gaussian jitter of std noise_px for a person 500 px tall, scaled with
    the person's size in the image; with probability outlier_prob a joint lands 5-25% of the
    person's size away (a confused detector, still weight 1); with probability dropout_prob a
    joint is dropped (weight 0, placed on the pelvis like a missing MPII joint).
    """
    poses_world = np.asarray(poses_world, dtype=np.float64)
    n = len(poses_world)
    R = random_camera_rotations(n, rng)
    centred = poses_world - poses_world[:, PELVIS:PELVIS + 1]
    poses_camera = np.einsum("nij,nkj->nki", R, centred)
    focal = rng.uniform(*focal_px, n)
    distance = rng.uniform(*distance_mm, n)
    centre = (image_size[0] / 2.0, image_size[1] / 2.0)
    clean = project_perspective(poses_camera, focal, distance, principal_point=centre)

    size_px = person_size_px(clean)
    keypoints = jitter_2d(clean, noise_px, rng)
    outlier = rng.random((n, NUM_JOINTS)) < outlier_prob
    direction = rng.normal(size=(n, NUM_JOINTS, 2))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    jump = direction * rng.uniform(0.05, 0.25, (n, NUM_JOINTS, 1)) * size_px
    keypoints = np.where(outlier[..., None], keypoints + jump, keypoints)
    weights = (rng.random((n, NUM_JOINTS)) >= dropout_prob).astype(np.float32)
    keypoints = np.where(weights[..., None] > 0, keypoints, keypoints[:, PELVIS:PELVIS + 1])
    return Projections(keypoints.astype(np.float32), poses_camera.astype(np.float32), weights, R.astype(np.float32))
