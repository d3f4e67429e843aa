"""Human3.6M (models/data/h36m.py): VideoPose3D's .npz readers, the published cameras and the
per-camera test sequences, on small files generated in the real formats."""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models.data import DataError, EvalFormatError
from models.data import h36m
from tests.dataset_files import POSE, camera_to_world_z_up, qrot, write_videopose3d_npz


# ---- the files: VideoPose3D's .npz formats ----------------------------------------------------

def _h36m_3d_fixture(path: Path) -> dict:
    rng = np.random.default_rng(0)
    data = {"S1": {"Walking": rng.normal(size=(5, 32, 3)), "Sitting 1": rng.normal(size=(3, 32, 3))},
            "S9": {"Walking": rng.normal(size=(4, 32, 3))}}
    np.savez_compressed(path, positions_3d=data)     # stored as a pickled dict, like the real file
    return data


def test_h36m_3d_reader(tmp_path):
    path = tmp_path / "data_3d_h36m.npz"
    data = _h36m_3d_fixture(path)
    poses = h36m.load_h36m_3d(path, subjects=["S1"])
    assert sorted(poses) == [("S1", "Sitting 1"), ("S1", "Walking")]
    walking = poses[("S1", "Walking")]
    assert walking.shape == (5, 17, 3) and walking.dtype == np.float32
    source = data["S1"]["Walking"][:, list(h36m.H36M_32_TO_17)]
    # z up, metres -> y down, mm: (x, y, z) -> (x, -z, y) * 1000
    np.testing.assert_allclose(walking[..., 0], source[..., 0] * 1000, rtol=1e-5)
    np.testing.assert_allclose(walking[..., 1], -source[..., 2] * 1000, rtol=1e-5)
    np.testing.assert_allclose(walking[..., 2], source[..., 1] * 1000, rtol=1e-5)
    assert np.linalg.det(h36m.H36M_Z_UP_TO_Y_DOWN) == pytest.approx(1.0)   # a rotation: no mirroring
    assert len(h36m.load_h36m_3d(path)) == 3
    with pytest.raises(DataError, match="no subject 'S11'; the file has S1, S9"):
        h36m.load_h36m_3d(path, subjects=["S11"])


def test_h36m_joint_selection_matches_videopose3d():
    # VideoPose3D removes joints [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]
    removed = {4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31}
    assert h36m.H36M_32_TO_17 == tuple(i for i in range(32) if i not in removed)


def test_h36m_2d_reader(tmp_path):
    rng = np.random.default_rng(1)
    cams = [rng.uniform(0, 1000, size=(6 + c, 17, 2)).astype(np.float32) for c in range(4)]
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S9": {"Walking": cams}}, metadata=metadata)
    keypoints = h36m.load_h36m_2d(path, subjects=["S9"])
    assert sorted(keypoints) == [("S9", "Walking", c) for c in range(4)]
    np.testing.assert_array_equal(keypoints[("S9", "Walking", 2)], cams[2])
    coco = tmp_path / "data_2d_h36m_detectron_pt_coco.npz"
    np.savez_compressed(coco, positions_2d={"S9": {"Walking": cams}}, metadata={**metadata, "layout_name": "coco"})
    with pytest.raises(DataError, match="layout 'coco' is not 'h36m'"):
        h36m.load_h36m_2d(coco)


def test_h36m_reader_checks_structure(tmp_path):
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez_compressed(bad_shape, positions_3d={"S1": {"Walking": np.zeros((5, 20, 3))}})
    with pytest.raises(DataError, match=r"Walking: expected float \[frames, 32 or 17, 3\]"):
        h36m.load_h36m_3d(bad_shape)
    wrong_key = tmp_path / "wrong_key.npz"
    np.savez_compressed(wrong_key, poses=np.zeros(3))
    with pytest.raises(DataError, match="no 'positions_3d' entry"):
        h36m.load_h36m_3d(wrong_key)
    not_zip = tmp_path / "not_zip.npz"
    not_zip.write_text("hello")
    with pytest.raises(DataError, match="not an .npz archive"):
        h36m.load_h36m_3d(not_zip)


class _Payload:
    """What a crafted file could hold: unpickling it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_h36m_reader_refuses_code_in_pickles(tmp_path):
    marker = tmp_path / "pwned"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": ()})
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("positions_3d.npy", header.getvalue() + pickle.dumps(_Payload(marker), protocol=3))
    with pytest.raises(DataError, match="refusing to load io.open"):
        h36m.load_h36m_3d(path)
    assert not marker.exists()


# ---- the cameras and the per-camera sequences ---------------------------------------------------

def y_down(world_z_up: np.ndarray) -> np.ndarray:
    """The dataset's z-up world as load_h36m_3d returns it (y down): (x, y, z) -> (x, -z, y)."""
    return np.stack([world_z_up[..., 0], -world_z_up[..., 2], world_z_up[..., 1]], axis=-1)


def test_world_to_camera_matches_the_quaternion_convention():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 2000, (5, 3))  # dataset world frame, z up
    for subject in ("S1", "S9", "S11"):
        for camera in range(4):
            orientation, centre = h36m.H36M_EXTRINSICS[subject][camera]
            inverse = np.asarray(orientation) * [1, -1, -1, -1]
            expected = np.stack([qrot(inverse, p - np.asarray(centre)) for p in points])
            # VideoPose3D does not renormalise the stored float32 quaternions; we do (a proper
            # rotation), which differs by a few micrometres per metre.
            np.testing.assert_allclose(h36m.h36m_world_to_camera(y_down(points), subject, camera), expected, atol=0.05)


@pytest.mark.parametrize("subject", h36m.H36M_TRAIN_SUBJECTS + h36m.H36M_TEST_SUBJECTS)
def test_h36m_cameras_look_at_the_stage_with_y_down(subject):
    stage_centre = y_down(np.array([0.0, 0.0, 900.0]))  # about pelvis height above the floor's middle
    for camera, camera_id in enumerate(h36m.H36M_CAMERA_IDS):
        R, _ = h36m._extrinsics(subject, camera)
        assert np.linalg.det(R) == pytest.approx(1.0)
        up_in_camera = np.array([0.0, 0.0, 1.0]) @ R  # world z is up
        assert up_in_camera[1] < -0.9  # "up" is -y in a y-down camera
        x, y, z = h36m.h36m_world_to_camera(stage_centre, subject, camera)
        assert 3500 < z < 6500
        intrinsics = h36m.H36M_INTRINSICS[camera_id]
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
    sequences = list(h36m.h36m_sequences(world, keypoints))
    assert len(sequences) == 2 * 2 * 4
    subject, action, camera, kp, poses = sequences[2]  # unpacks as a tuple
    assert (subject, action, camera) == ("S9", "Walking 1", 2)
    assert kp.shape == (3, 17, 2) and poses.shape == (3, 17, 3)  # trimmed to the shorter
    assert np.all(kp == 2.0)
    np.testing.assert_allclose(poses, np.stack([pose_camera] * 3), atol=0.05)  # the known pose comes back
    assert [s.subject for s in sequences].count("S11") == 8
    assert h36m.h36m_action_name("Walking 1") == "Walking" and h36m.h36m_action_name("Eating") == "Eating"


def test_h36m_npz_files_round_trip_a_known_pose(tmp_path: Path):
    pose_camera = POSE + [-50.0, 150.0, 4500.0]
    path_3d, path_2d = write_videopose3d_npz(tmp_path, pose_camera, layout_name="h36m")
    sequences = list(h36m.load_h36m_sequences(path_3d, path_2d, subjects=("S11",)))
    assert [(s.subject, s.action, s.camera) for s in sequences] == [("S11", "Directions 1", c) for c in range(4)]
    np.testing.assert_allclose(sequences[1].poses_3d, np.stack([pose_camera] * 2), atol=0.05)
    assert np.all(sequences[3].keypoints_2d == 30.0)


def test_h36m_ground_truth_2d_file_without_layout_name_is_read(tmp_path: Path):
    path_3d, path_2d = write_videopose3d_npz(tmp_path, POSE + [0.0, 0.0, 5000.0], layout_name=None)
    assert len(list(h36m.load_h36m_sequences(path_3d, path_2d))) == 8


def test_h36m_bad_input_gets_a_clear_error():
    with pytest.raises(EvalFormatError, match="S9 is missing"):
        list(h36m.h36m_sequences({}, {}))
    with pytest.raises(EvalFormatError, match="no camera parameters"):
        h36m.h36m_world_to_camera(np.zeros(3), "S2", 0)
    world = {("S9", "Walking"): np.zeros((2, 17, 3))}
    with pytest.raises(EvalFormatError, match="no 2D keypoints"):
        list(h36m.h36m_sequences(world, {}, subjects=("S9",)))
    keypoints = {("S9", "Walking", c): np.zeros((2, 16, 2)) for c in range(4)}
    with pytest.raises(EvalFormatError, match=r"expected \[F, 17, 2\]"):
        list(h36m.h36m_sequences(world, keypoints, subjects=("S9",)))
