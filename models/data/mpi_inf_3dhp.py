"""The MPI-INF-3DHP test set as users download it (it cannot be shipped): TS1..TS6/annot_data.mat
(MATLAB v7.3, i.e. HDF5; older v5 files where scipy is installed), mapped to H36M-17 in the
project's conventions (core.skeleton, core.camera): millimetres, camera frame x right / y down /
z forward, pixels with y down.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from models.data import EvalFormatError

# The 17 joints of the test-set annotations (mpii_get_joints('relevant') in the 3DHP code).
MPI_INF_3DHP_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "pelvis", "spine", "head",
)

# H36M-17 joint i is 3DHP joint MPI_INF_3DHP_TO_H36M[i]. Limbs, pelvis and spine match by name.
# The neck and head points differ between the datasets; we follow the usual lifting-literature
# correspondence, matching positions rather than names:
#   H36M thorax    <- 3DHP neck     (base of the neck, between the shoulders: H36M's thorax);
#   H36M neck_nose <- 3DHP head     (a point inside the head at about nose level);
#   H36M head      <- 3DHP head_top (the crown; H36M's "head" is the head top too).
MPI_INF_3DHP_TO_H36M: tuple[int, ...] = tuple(MPI_INF_3DHP_JOINT_NAMES.index(name) for name in (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "neck", "head", "head_top",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
))

# Activity ids in activity_annotation (mpii_get_activity_name.m).
MPI_INF_3DHP_ACTIVITIES: dict[int, str] = {
    1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
    5: "On The Floor", 6: "Sports", 7: "Miscellaneous",
}

# The 14 joints behind the official PCK/AUC "Total" (mpii_get_pck_auc_joint_groups.m: head top,
# neck, shoulders, elbows, wrists, hips, knees, ankles; not pelvis, spine or head), as H36M indices.
MPI_INF_3DHP_PCK_JOINTS: tuple[int, ...] = tuple(
    h36m for h36m, mpi in enumerate(MPI_INF_3DHP_TO_H36M)
    if MPI_INF_3DHP_JOINT_NAMES[mpi] not in ("pelvis", "spine", "head"))

# Image sizes (width, height): TS1-4 studio cameras, TS5-6 outdoor camera.
MPI_INF_3DHP_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
    "TS5": (1920, 1080), "TS6": (1920, 1080),
}
MPI_INF_3DHP_TEST_SEQUENCES: tuple[str, ...] = tuple(MPI_INF_3DHP_IMAGE_SIZES)

_3DHP_KEYS = ("annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation")


@dataclass
class MpiInf3dhpSequence:
    """One MPI-INF-3DHP test sequence in H36M-17 order. F frames, all of them (use `valid`)."""
    name: str                        # "TS1" .. "TS6" (the folder name)
    keypoints_2d: np.ndarray         # [F, 17, 2] pixels, y down (annot2)
    poses_3d: np.ndarray             # [F, 17, 3] mm, camera frame, y down (annot3; consistent with the 2D)
    poses_3d_universal: np.ndarray   # [F, 17, 3] mm, rescaled to the H36M "universal" skeleton height
                                     # (univ_annot3: what the official evaluation script scores against)
    activity_ids: np.ndarray         # [F] int, keys of MPI_INF_3DHP_ACTIVITIES (0 if unlabelled)
    valid: np.ndarray                # [F] bool, the frames the official evaluation uses
    image_size: tuple[int, int] | None  # (width, height) for TS1..TS6, else None

    @property
    def activity_names(self) -> np.ndarray:
        """[F] activity name per frame ('' where unlabelled)."""
        return np.array([MPI_INF_3DHP_ACTIVITIES.get(int(i), "") for i in self.activity_ids])


def _read_mat(path: Path) -> tuple[dict[str, np.ndarray], bool]:
    """The 3DHP variables of a .mat file and whether they are in h5py (reversed) axis order."""
    if h5py.is_hdf5(path):  # MATLAB v7.3: HDF5, which stores arrays with the axes reversed
        with h5py.File(path, "r") as f:
            missing = [k for k in _3DHP_KEYS if k not in f]
            if missing:
                raise EvalFormatError(f"{path} lacks {', '.join(missing)} (found: {', '.join(sorted(f))}); "
                                      "expected an MPI-INF-3DHP test-set annot_data.mat")
            return {k: np.asarray(f[k]) for k in _3DHP_KEYS}, True
    try:  # older v5 .mat: read with scipy only if the user already has it (not a dependency)
        from scipy.io import loadmat
    except ImportError:
        raise EvalFormatError(f"{path} is not a MATLAB v7.3 (HDF5) file; reading an older .mat needs scipy "
                              "(pip install scipy) or re-save it in MATLAB with save(..., '-v7.3')") from None
    try:
        data = loadmat(path)
    except Exception as err:  # scipy raises several types for non-.mat input
        raise EvalFormatError(f"{path} is not a readable .mat file ({err})") from None
    missing = [k for k in _3DHP_KEYS if k not in data]
    if missing:
        raise EvalFormatError(f"{path} lacks {', '.join(missing)}; expected an MPI-INF-3DHP test-set annot_data.mat")
    return {k: np.asarray(data[k]) for k in _3DHP_KEYS}, False


def _frames_joints(array: np.ndarray, dims: int, reversed_axes: bool, what: str, path: Path) -> np.ndarray:
    """MATLAB's dims x 17 x 1 x F as [F, 17, dims] (h5py shows it as F x 1 x 17 x dims)."""
    if reversed_axes:
        ok = array.ndim >= 2 and array.shape[-2:] == (17, dims)
        result = array.reshape(-1, 17, dims) if ok else None
    else:
        ok = array.ndim >= 2 and array.shape[:2] == (dims, 17)
        result = array.reshape(dims, 17, -1).transpose(2, 1, 0) if ok else None
    if result is None:
        raise EvalFormatError(f"{what} in {path} has shape {array.shape}; expected MATLAB {dims}x17x1xF "
                              "(17 test-set joints)")
    return result.astype(np.float64)


def _check_y_down(keypoints_2d: np.ndarray, poses_3d: np.ndarray, valid: np.ndarray, path: Path) -> None:
    """annot2 is the pinhole projection of annot3; with y down, image v grows with Y / Z.

    A y-up frame (negative slope) or unrelated arrays (no correlation) would make every 3D error
    silently wrong, so refuse them instead.
    """
    depth = poses_3d[..., 2]
    use = valid[:, None] & (depth > 1.0) & np.isfinite(keypoints_2d).all(-1) & np.isfinite(poses_3d).all(-1)
    if use.sum() < 3:
        return
    ratio, v = poses_3d[..., 1][use] / depth[use], keypoints_2d[..., 1][use]
    if ratio.std() == 0 or v.std() == 0:
        return
    correlation = np.corrcoef(ratio, v)[0, 1]
    if not correlation > 0.5:  # a y-up frame gives about -1, unrelated arrays about 0
        raise EvalFormatError(
            f"annot2 in {path} is not a y-down projection of annot3 (correlation of v with Y/Z: "
            f"{correlation:.2f}); expected the unmodified MPI-INF-3DHP test-set annotations")


def load_mpi_inf_3dhp_sequence(path: str | Path) -> MpiInf3dhpSequence:
    """Read one test sequence: a ``TSi`` folder or its ``annot_data.mat``, mapped to H36M-17."""
    path = Path(path)
    if path.is_dir():
        path = path / "annot_data.mat"
    if not path.is_file():
        raise EvalFormatError(f"{path} not found; point to an MPI-INF-3DHP test-set folder TS1..TS6 "
                              "or its annot_data.mat")
    data, reversed_axes = _read_mat(path)
    to_h36m = list(MPI_INF_3DHP_TO_H36M)
    keypoints_2d = _frames_joints(data["annot2"], 2, reversed_axes, "annot2", path)[:, to_h36m]
    poses_3d = _frames_joints(data["annot3"], 3, reversed_axes, "annot3", path)[:, to_h36m]
    universal = _frames_joints(data["univ_annot3"], 3, reversed_axes, "univ_annot3", path)[:, to_h36m]
    valid = data["valid_frame"].ravel() > 0     # 1 x F or F x 1: either way one value per frame
    activity = data["activity_annotation"].ravel()
    frames = len(poses_3d)
    if not (len(keypoints_2d) == len(universal) == len(valid) == len(activity) == frames):
        raise EvalFormatError(
            f"{path}: frame counts differ (annot2 {len(keypoints_2d)}, annot3 {frames}, univ_annot3 "
            f"{len(universal)}, valid_frame {len(valid)}, activity_annotation {len(activity)})")
    _check_y_down(keypoints_2d, poses_3d, valid, path)
    name = path.parent.name
    return MpiInf3dhpSequence(
        name=name, keypoints_2d=keypoints_2d, poses_3d=poses_3d, poses_3d_universal=universal,
        activity_ids=np.nan_to_num(activity).astype(np.int64), valid=valid,
        image_size=MPI_INF_3DHP_IMAGE_SIZES.get(name))


def load_mpi_inf_3dhp_test_set(root: str | Path, sequences: Sequence[str] = MPI_INF_3DHP_TEST_SEQUENCES
                               ) -> dict[str, MpiInf3dhpSequence]:
    """Read ``root/TS1..TS6/annot_data.mat`` (the extracted mpi_inf_3dhp_test_set folder)."""
    root = Path(root)
    missing = [s for s in sequences if not (root / s / "annot_data.mat").is_file()]
    if missing:
        raise EvalFormatError(f"{root} lacks {', '.join(s + '/annot_data.mat' for s in missing)}; "
                              "point to the extracted mpi_inf_3dhp_test_set folder")
    return {s: load_mpi_inf_3dhp_sequence(root / s / "annot_data.mat") for s in sequences}
