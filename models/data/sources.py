"""Your own training data (models.train --critic-3d / --projection-3d / --given-2d): folders of
BVH files or Human3.6M files, read into the same skeleton and body as the CMU data, and the check
that keeps every person on one side of the weak supervision.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.skeleton import NUM_JOINTS, PELVIS, REFERENCE_LENGTHS, bone_directions, poses_from_bones
from models.data import DataError
from models.data.bvh import BVHError, read_bvh
from models.data.cmu import bvh_to_h36m, trial_id
from models.data.h36m import load_h36m_2d, load_h36m_3d


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
    models.data.cmu.CMU_CONVENTIONS), one .bvh file, or a Human3.6M 3D file given as PATH.npz[:S1,S5,...].
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
        trial = trial_id(file.stem)
        people.add(f"CMU {trial.split('_')[0]}" if trial else f"BVH {file.resolve()}")
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
