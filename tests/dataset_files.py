"""Small evaluation files written in the datasets' real formats, for the readers' and the
evaluation command's tests: an MPI-INF-3DHP test sequence (annot_data.mat as MATLAB -v7.3 writes
it) and Human3.6M in VideoPose3D's .npz files. Each holds a known pose, so a reader's answer can be
checked against it."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from core.skeleton import JOINT_INDEX, NUM_JOINTS
from models.data.h36m import H36M_EXTRINSICS
from tests.poses import standing_pose

# ---------------------------------------------------------------------------- MPI-INF-3DHP

# How each H36M-17 joint is named in the 3DHP test set (the documented correspondence).
H36M_TO_3DHP_NAME = {
    "pelvis": "pelvis", "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle", "spine": "spine",
    "thorax": "neck", "neck_nose": "head", "head": "head_top",
    "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
    "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
}
# 3DHP test-set joint order, as listed by mpii_get_joints('relevant').
NAMES_3DHP = ["head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
              "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
              "left_ankle", "pelvis", "spine", "head"]

POSE = standing_pose()  # H36M-17 order, mm, y down, pelvis at the origin
FOCAL, CENTRE = 1500.0, np.array([1024.0, 1024.0])
VALID = np.array([1, 1, 0, 1, 1, 0])
ACTIVITY = np.array([1, 1, 2, 3, 5, 7])


def h36m_to_3dhp(poses: np.ndarray) -> np.ndarray:
    out = np.empty_like(poses)
    for name, index in JOINT_INDEX.items():
        out[..., NAMES_3DHP.index(H36M_TO_3DHP_NAME[name]), :] = poses[..., index, :]
    return out


def expected_sequence() -> dict[str, np.ndarray]:
    """Six frames of a person walking across in front of a y-down pinhole camera (H36M order)."""
    rng = np.random.default_rng(3)
    frames = len(VALID)
    poses = POSE + rng.normal(0, 15, (frames, NUM_JOINTS, 3)) + np.array([0.0, 200.0, 4000.0])
    poses[:, :, 0] += np.linspace(-600, 600, frames)[:, None]
    keypoints = FOCAL * poses[..., :2] / poses[..., 2:] + CENTRE
    universal = 0.9 * (poses - poses[:, :1]) + poses[:, :1]
    return {"keypoints_2d": keypoints, "poses_3d": poses, "poses_3d_universal": universal}


def matlab_variables(flip_y: bool = False) -> dict[str, np.ndarray]:
    """The annot_data.mat variables in MATLAB axis order (annot3: 3 x 17 x 1 x F, valid_frame: 1 x F)."""
    seq = expected_sequence()
    poses = seq["poses_3d"] * ([1, -1, 1] if flip_y else 1)

    def to_matlab(h36m: np.ndarray) -> np.ndarray:  # [F, 17, D] -> D x 17 x 1 x F
        return h36m_to_3dhp(h36m).transpose(2, 1, 0)[:, :, None, :]

    return {"annot2": to_matlab(seq["keypoints_2d"]), "annot3": to_matlab(poses),
            "univ_annot3": to_matlab(seq["poses_3d_universal"]),
            "valid_frame": VALID[None].astype(np.float64), "activity_annotation": ACTIVITY[None].astype(np.float64),
            "bb_crop_param": np.zeros((6, 1, len(VALID)))}


def write_mat_v73(path: Path, variables: dict[str, np.ndarray]) -> None:
    """What MATLAB's save -v7.3 writes: a 512-byte MAT header, then HDF5 with the axes reversed."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            dataset = f.create_dataset(name, data=np.asarray(value, dtype=np.float64).T)
            dataset.attrs["MATLAB_class"] = np.bytes_("double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


# ---------------------------------------------------------------------------- Human3.6M

def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """VideoPose3D's quaternion rotation, written independently: v + 2 (w (q x v) + q x (q x v))."""
    uv = np.cross(q[1:], v)
    return v + 2 * (q[0] * uv + np.cross(q[1:], uv))


def camera_to_world_z_up(poses_camera: np.ndarray, subject: str, camera: int) -> np.ndarray:
    """VideoPose3D's camera_to_world: the dataset's world frame (z up), mm."""
    orientation, centre = H36M_EXTRINSICS[subject][camera]
    q = np.asarray(orientation)
    return np.apply_along_axis(lambda v: qrot(q, v), -1, poses_camera) + np.asarray(centre)


def write_videopose3d_npz(folder: Path, pose_camera: np.ndarray, layout_name: str | None) -> tuple[Path, Path]:
    """data_3d_h36m.npz and data_2d_h36m_gt.npz as VideoPose3D's prepare_data_h36m.py writes them:
    32 joints in metres, world frame z up; 2D as a list of 4 cameras per action, pixels."""
    to_32 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]  # where H36M-17 sits in the 32
    positions_3d, positions_2d = {}, {}
    for subject in ("S9", "S11"):
        joints_32 = np.zeros((2, 32, 3), dtype=np.float32)
        joints_32[:, to_32] = camera_to_world_z_up(pose_camera, subject, 1) / 1000.0
        positions_3d[subject] = {"Directions 1": joints_32}
        positions_2d[subject] = {"Directions 1": [np.full((2, 17, 2), 10.0 * c, dtype=np.float32)
                                                  for c in range(4)]}
    metadata = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    if layout_name is not None:  # detection files (e.g. CPN) carry a layout name; the GT file does not
        metadata["layout_name"] = layout_name
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=positions_3d)
    np.savez_compressed(folder / "data_2d_h36m_gt.npz", positions_2d=positions_2d, metadata=metadata)
    return folder / "data_3d_h36m.npz", folder / "data_2d_h36m_gt.npz"
