"""The test sets of the field's protocols, each as TestData: the 2D the protocol gives and the
camera-frame 3D ground truth, with a label (action, activity) per frame.

  cmu_test_data           the held-out CMU subjects (models.data.cmu.TEST_SUBJECTS) seen exactly
                          through fixed random cameras, plus the detector-like mix training
                          validates on (models.data.projection.DETECTOR_LIKE)
  h36m_test_data          Human3.6M Protocols 1 and 2: S9 and S11, every action and camera
  mpi_inf_3dhp_test_data  the MPI-INF-3DHP test set, scored as its official script does
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.augment import vary_bone_lengths
from models.data import DataError, EvalFormatError, cmu
from models.data.h36m import h36m_action_name, load_h36m_sequences
from models.data.mpi_inf_3dhp import MPI_INF_3DHP_PCK_JOINTS, MPI_INF_3DHP_TEST_SEQUENCES, load_mpi_inf_3dhp_test_set
from models.data.projection import DETECTOR_LIKE
from models.validation import make_eval_set

CMU_EVAL_SEED = 1234                  # fixed cameras and noise: every model sees the same inputs


@dataclass
class TestData:
    """One protocol's test frames: 2D as the protocol gives it and camera-frame 3D ground truth."""
    protocol: str
    description: str
    keypoints_2d: np.ndarray            # [N, 17, 2] pixels
    poses_camera: np.ndarray            # [N, 17, 3] mm, camera frame (metrics centre on the pelvis)
    labels: np.ndarray                  # [N] action / activity per frame
    pck_joints: tuple[int, ...] | None = None  # joints PCK/AUC count (None: all 17)
    extra_conditions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> other 2D, same frames


# Activities of the held-out CMU takes (the CMU index labels in ../shared/data/README.md).
CMU_ACTIVITIES: dict[str, str] = {"02_01": "walk", "02_02": "walk", "02_03": "run/jog", "02_04": "jump, balance",
                                  "16": "jump", "61": "salsa"}


def cmu_activity(trial: str) -> str:
    return CMU_ACTIVITIES.get(trial, CMU_ACTIVITIES.get(trial.split("_")[0], f"subject {trial.split('_')[0]}"))


def cmu_test_data(data_root: Path | str, stride: int = 1, seed: int = CMU_EVAL_SEED,
                  varied_bodies: bool = False) -> TestData:
    """The held-out CMU subjects (cmu.TEST_SUBJECTS), every frame at 30 fps (every `stride`-th),
    projected exactly through fixed random cameras; plus the detector-like mix of training's eval.

    varied_bodies: the CMU poses all have the reference body's proportions (models.data.cmu), which a
    lifter that learned that body is rewarded for; this gives every frame its own body instead
    (size +-10%, each bone group +-8%, fixed by the seed), as real people differ. Per frame, not
    per take: a single-frame lifter scores each frame alone, and a handful of takes would leave the
    test set's mean body size to chance."""
    root = Path(data_root)
    folder = root / "cmu_mocap" if (root / "cmu_mocap").is_dir() else root
    trials = {t: p for t, p in cmu.load_cmu_sequences(folder, progress=False).items()
              if t.split("_")[0] in cmu.TEST_SUBJECTS}
    if not trials:
        raise DataError(f"no held-out CMU subjects ({', '.join(cmu.TEST_SUBJECTS)}) under {folder}")
    if varied_bodies:
        body_rng = np.random.default_rng(seed + 1)
        trials = {t: vary_bone_lengths(p, body_rng) for t, p in trials.items()}
    world = np.concatenate(list(trials.values()))[::stride]
    labels = np.concatenate([[cmu_activity(t)] * len(p) for t, p in trials.items()])[::stride]
    exact = make_eval_set(world, len(world), noise_px=0.0, seed=seed, labels=labels, outlier_prob=0.0,
                          dropout_prob=0.0)
    realistic = make_eval_set(world, len(world), seed=seed, **DETECTOR_LIKE)
    assert np.array_equal(exact.poses_camera, realistic.poses_camera)  # same frames, same cameras
    description = (f"CMU held-out subjects {', '.join(sorted({t.split('_')[0] for t in trials}))} "
                   f"({len(world)} frames at {30 / stride:g} fps), random cameras (seed {seed})"
                   + (", every frame with its own body proportions" if varied_bodies else ""))
    name = (f"detector-like ({DETECTOR_LIKE['noise_px']:g} px, {DETECTOR_LIKE['outlier_prob']:.0%} outliers, "
            f"{DETECTOR_LIKE['dropout_prob']:.0%} dropped)")
    return TestData("cmu", description, exact.keypoints_2d, exact.poses_camera, exact.labels,
                    extra_conditions={name: realistic.keypoints_2d})


def h36m_test_data(path_3d: Path | str, path_2d: Path | str, stride: int = 1) -> TestData:
    """Human3.6M Protocols 1 and 2: S9 and S11, all actions and cameras (every `stride`-th frame)."""
    keypoints, poses, labels = [], [], []
    for seq in load_h36m_sequences(path_3d, path_2d):
        keypoints.append(seq.keypoints_2d[::stride])
        poses.append(seq.poses_3d[::stride])
        labels += [h36m_action_name(seq.action)] * len(poses[-1])
    return TestData("h36m", f"Human3.6M S9 and S11, 4 cameras, every {stride}. frame ({len(labels)} frames); "
                    f"2D from {Path(path_2d).name}", np.concatenate(keypoints), np.concatenate(poses),
                    np.asarray(labels))


def mpi_inf_3dhp_test_data(root: Path | str, stride: int = 1) -> TestData:
    """MPI-INF-3DHP test set: the valid frames of TS1..TS6, scored against univ_annot3 as the
    official script does, PCK/AUC over its 14 joints."""
    root = Path(root)
    present = [s for s in MPI_INF_3DHP_TEST_SEQUENCES if (root / s / "annot_data.mat").is_file()]
    if not present:
        raise EvalFormatError(f"no TS1..TS6/annot_data.mat under {root}; point --3dhp-root to the extracted "
                              "mpi_inf_3dhp_test_set folder")
    keypoints, poses, labels = [], [], []
    for seq in load_mpi_inf_3dhp_test_set(root, present).values():
        valid = np.flatnonzero(seq.valid)[::stride]
        keypoints.append(seq.keypoints_2d[valid])
        poses.append(seq.poses_3d_universal[valid])
        labels.append(seq.activity_names[valid])
    return TestData("3dhp", f"MPI-INF-3DHP test set {', '.join(present)}, valid frames ({sum(map(len, labels))})",
                    np.concatenate(keypoints), np.concatenate(poses), np.concatenate(labels),
                    pck_joints=MPI_INF_3DHP_PCK_JOINTS)
