"""MPII Human Pose: in-the-wild 2D annotations as H36M-17 keypoints (pixels) and per-joint weights.

Read from the shared data's Kaggle CSV export (training) or the standard validation file
(pose_hg_train_annot/valid.h5); docs/data.md says how its 16 joints become H36M's 17.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from core.skeleton import JOINT_INDEX, NUM_JOINTS, PELVIS
from models.data import DataError

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
