"""Readers for MPI-INF-3DHP and Human3.6M evaluation data, on small files written in the real formats."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from models import eval_formats as ef
from core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from tests.poses import standing_pose

# ---------------------------------------------------------------------------- MPI-INF-3DHP fixtures

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


@pytest.fixture
def test_set(tmp_path: Path) -> Path:
    (tmp_path / "TS1").mkdir()
    write_mat_v73(tmp_path / "TS1" / "annot_data.mat", matlab_variables())
    return tmp_path


def test_3dhp_v73_file_round_trips_a_known_pose(test_set: Path):
    seq = ef.load_mpi_inf_3dhp_sequence(test_set / "TS1" / "annot_data.mat")
    expected = expected_sequence()
    assert seq.name == "TS1" and seq.image_size == (2048, 2048)
    assert seq.keypoints_2d.shape == (6, 17, 2) and seq.poses_3d.shape == (6, 17, 3)
    np.testing.assert_allclose(seq.keypoints_2d, expected["keypoints_2d"])
    np.testing.assert_allclose(seq.poses_3d, expected["poses_3d"])
    np.testing.assert_allclose(seq.poses_3d_universal, expected["poses_3d_universal"])
    assert seq.valid.dtype == bool and seq.valid.tolist() == VALID.astype(bool).tolist()
    assert seq.activity_ids.tolist() == ACTIVITY.tolist()
    assert seq.activity_names.tolist() == ["Standing/Walking", "Standing/Walking", "Exercising", "Sitting",
                                           "On The Floor", "Miscellaneous"]


def test_3dhp_joints_are_reordered_to_h36m_by_position():
    raw = np.arange(17 * 3, dtype=float).reshape(1, 17, 3)  # joint k of the 3DHP order holds 3k..3k+2
    h36m = raw[:, list(ef.MPI_INF_3DHP_TO_H36M)]
    for name, index in JOINT_INDEX.items():
        assert h36m[0, index, 0] == 3 * NAMES_3DHP.index(H36M_TO_3DHP_NAME[name])
    assert ef.MPI_INF_3DHP_JOINT_NAMES == tuple(NAMES_3DHP)
    scored = {JOINT_NAMES[i] for i in ef.MPI_INF_3DHP_PCK_JOINTS}
    assert scored == set(JOINT_NAMES) - {"pelvis", "spine", "neck_nose"} and len(scored) == 14


def test_3dhp_folder_and_test_set_root_are_accepted(test_set: Path):
    by_folder = ef.load_mpi_inf_3dhp_sequence(test_set / "TS1")
    by_root = ef.load_mpi_inf_3dhp_test_set(test_set, sequences=("TS1",))
    np.testing.assert_array_equal(by_folder.poses_3d, by_root["TS1"].poses_3d)
    with pytest.raises(ef.EvalFormatError, match="TS2/annot_data.mat"):
        ef.load_mpi_inf_3dhp_test_set(test_set)


def test_3dhp_older_v5_mat_reads_the_same(tmp_path: Path, test_set: Path):
    scipy_io = pytest.importorskip("scipy.io")
    (tmp_path / "v5" / "TS1").mkdir(parents=True)
    scipy_io.savemat(tmp_path / "v5" / "TS1" / "annot_data.mat", matlab_variables())
    v5 = ef.load_mpi_inf_3dhp_sequence(tmp_path / "v5" / "TS1")
    v73 = ef.load_mpi_inf_3dhp_sequence(test_set / "TS1")
    for field in ("keypoints_2d", "poses_3d", "poses_3d_universal", "activity_ids", "valid"):
        np.testing.assert_array_equal(getattr(v5, field), getattr(v73, field))


def test_3dhp_y_up_or_mismatched_annotations_are_refused(tmp_path: Path):
    write_mat_v73(tmp_path / "annot_data.mat", matlab_variables(flip_y=True))
    with pytest.raises(ef.EvalFormatError, match="not a y-down projection"):
        ef.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")


def test_3dhp_bad_files_get_a_clear_error(tmp_path: Path):
    with pytest.raises(ef.EvalFormatError, match="not found"):
        ef.load_mpi_inf_3dhp_sequence(tmp_path / "TS9")
    variables = matlab_variables()
    del variables["univ_annot3"]
    write_mat_v73(tmp_path / "annot_data.mat", variables)
    with pytest.raises(ef.EvalFormatError, match="lacks univ_annot3"):
        ef.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")
    variables = matlab_variables()
    variables["annot3"] = variables["annot3"][:, :16]  # 16 joints: some other skeleton
    write_mat_v73(tmp_path / "annot_data.mat", variables)
    with pytest.raises(ef.EvalFormatError, match="3x17x1xF"):
        ef.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")
    (tmp_path / "text.mat").write_text("not a mat file")
    with pytest.raises(ef.EvalFormatError, match="text.mat"):
        ef.load_mpi_inf_3dhp_sequence(tmp_path / "text.mat")


# ---------------------------------------------------------------------------- Human3.6M

def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """VideoPose3D's quaternion rotation, written independently: v + 2 (w (q x v) + q x (q x v))."""
    uv = np.cross(q[1:], v)
    return v + 2 * (q[0] * uv + np.cross(q[1:], uv))


def camera_to_world_z_up(poses_camera: np.ndarray, subject: str, camera: int) -> np.ndarray:
    """VideoPose3D's camera_to_world: the dataset's world frame (z up), mm."""
    orientation, centre = ef.H36M_EXTRINSICS[subject][camera]
    q = np.asarray(orientation)
    return np.apply_along_axis(lambda v: qrot(q, v), -1, poses_camera) + np.asarray(centre)


def y_down(world_z_up: np.ndarray) -> np.ndarray:
    """The dataset's z-up world as load_h36m_3d returns it (y down): (x, y, z) -> (x, -z, y)."""
    return np.stack([world_z_up[..., 0], -world_z_up[..., 2], world_z_up[..., 1]], axis=-1)


def test_world_to_camera_matches_the_quaternion_convention():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 2000, (5, 3))  # dataset world frame, z up
    for subject in ("S1", "S9", "S11"):
        for camera in range(4):
            orientation, centre = ef.H36M_EXTRINSICS[subject][camera]
            inverse = np.asarray(orientation) * [1, -1, -1, -1]
            expected = np.stack([qrot(inverse, p - np.asarray(centre)) for p in points])
            # VideoPose3D does not renormalise the stored float32 quaternions; we do (a proper
            # rotation), which differs by a few micrometres per metre.
            np.testing.assert_allclose(ef.h36m_world_to_camera(y_down(points), subject, camera), expected, atol=0.05)


@pytest.mark.parametrize("subject", ef.H36M_TRAIN_SUBJECTS + ef.H36M_TEST_SUBJECTS)
def test_h36m_cameras_look_at_the_stage_with_y_down(subject):
    stage_centre = y_down(np.array([0.0, 0.0, 900.0]))  # about pelvis height above the floor's middle
    for camera, camera_id in enumerate(ef.H36M_CAMERA_IDS):
        R, _ = ef._extrinsics(subject, camera)
        assert np.linalg.det(R) == pytest.approx(1.0)
        up_in_camera = np.array([0.0, 0.0, 1.0]) @ R  # world z is up
        assert up_in_camera[1] < -0.9  # "up" is -y in a y-down camera
        x, y, z = ef.h36m_world_to_camera(stage_centre, subject, camera)
        assert 3500 < z < 6500
        intrinsics = ef.H36M_INTRINSICS[camera_id]
        u = intrinsics["focal"][0] * x / z + intrinsics["center"][0]
        v = intrinsics["focal"][1] * y / z + intrinsics["center"][1]
        assert 0 < u < intrinsics["size"][0] and 0 < v < intrinsics["size"][1]


def test_h36m_sequences_yield_camera_frame_poses_for_every_view():
    pose_camera = POSE + [100.0, 200.0, 5000.0]
    world, keypoints = {}, {}
    for subject in ("S9", "S11"):
        world[(subject, "Walking 1")] = np.stack([y_down(camera_to_world_z_up(pose_camera, subject, 2))] * 3)
        world[(subject, "Eating")] = np.zeros((2, 17, 3))
        for camera in range(4):
            keypoints[(subject, "Walking 1", camera)] = np.full((4, 17, 2), float(camera))  # 2D one longer
            keypoints[(subject, "Eating", camera)] = np.zeros((2, 17, 2))
    sequences = list(ef.h36m_sequences(world, keypoints))
    assert len(sequences) == 2 * 2 * 4
    subject, action, camera, kp, poses = sequences[2]  # unpacks as a tuple
    assert (subject, action, camera) == ("S9", "Walking 1", 2)
    assert kp.shape == (3, 17, 2) and poses.shape == (3, 17, 3)  # trimmed to the shorter
    assert np.all(kp == 2.0)
    np.testing.assert_allclose(poses, np.stack([pose_camera] * 3), atol=0.05)  # the known pose comes back
    assert [s.subject for s in sequences].count("S11") == 8
    assert ef.h36m_action_name("Walking 1") == "Walking" and ef.h36m_action_name("Eating") == "Eating"


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


def test_h36m_npz_files_round_trip_a_known_pose(tmp_path: Path):
    pose_camera = POSE + [-50.0, 150.0, 4500.0]
    path_3d, path_2d = write_videopose3d_npz(tmp_path, pose_camera, layout_name="h36m")
    sequences = list(ef.load_h36m_sequences(path_3d, path_2d, subjects=("S11",)))
    assert [(s.subject, s.action, s.camera) for s in sequences] == [("S11", "Directions 1", c) for c in range(4)]
    np.testing.assert_allclose(sequences[1].poses_3d, np.stack([pose_camera] * 2), atol=0.05)
    assert np.all(sequences[3].keypoints_2d == 30.0)


def test_h36m_ground_truth_2d_file_without_layout_name_is_read(tmp_path: Path):
    path_3d, path_2d = write_videopose3d_npz(tmp_path, POSE + [0.0, 0.0, 5000.0], layout_name=None)
    assert len(list(ef.load_h36m_sequences(path_3d, path_2d))) == 8


def test_h36m_bad_input_gets_a_clear_error():
    with pytest.raises(ef.EvalFormatError, match="S9 is missing"):
        list(ef.h36m_sequences({}, {}))
    with pytest.raises(ef.EvalFormatError, match="no camera parameters"):
        ef.h36m_world_to_camera(np.zeros(3), "S2", 0)
    world = {("S9", "Walking"): np.zeros((2, 17, 3))}
    with pytest.raises(ef.EvalFormatError, match="no 2D keypoints"):
        list(ef.h36m_sequences(world, {}, subjects=("S9",)))
    keypoints = {("S9", "Walking", c): np.zeros((2, 16, 2)) for c in range(4)}
    with pytest.raises(ef.EvalFormatError, match=r"expected \[F, 17, 2\]"):
        list(ef.h36m_sequences(world, keypoints, subjects=("S9",)))
