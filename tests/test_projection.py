"""Synthetic 2D from 3D (models/data/projection.py): random pinhole cameras and the detector noise model."""
from __future__ import annotations

import numpy as np
import pytest

from core.skeleton import JOINT_INDEX, PELVIS, bone_lengths
from models.data.bvh import read_bvh
from models.data.cmu import bvh_to_h36m
from models.data.projection import project_random_cameras


@pytest.fixture(scope="module")
def walking_poses(data_root) -> np.ndarray:
    return bvh_to_h36m(read_bvh(data_root / "cmu_mocap/daz_friendly/02/02_03.bvh"), fps=30)


def test_projection_is_a_pinhole_camera(walking_poses):
    poses = np.repeat(walking_poses, 5, axis=0)
    keypoints, poses_camera, weights, rotations = project_random_cameras(
        poses, np.random.default_rng(0), noise_px=0.0, outlier_prob=0.0, dropout_prob=0.0)
    assert keypoints.shape == (len(poses), 17, 2) and poses_camera.shape == (len(poses), 17, 3)
    assert (weights == 1).all()
    # camera-frame poses are the root-relative world poses turned by the returned rotations
    np.testing.assert_allclose(poses_camera[:, PELVIS], 0.0, atol=1e-3)
    centred = poses - poses[:, PELVIS:PELVIS + 1]
    np.testing.assert_allclose(np.einsum("nij,nkj->nki", rotations, centred), poses_camera, atol=1e-2)
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", rotations, rotations), np.broadcast_to(np.eye(3), rotations.shape), atol=1e-5)
    np.testing.assert_allclose(bone_lengths(poses_camera), bone_lengths(poses), rtol=1e-4)
    # the pelvis sits on the optical axis: the image centre
    np.testing.assert_allclose(keypoints[:, PELVIS], 500.0, atol=1e-3)
    # every pixel is centre + f * x / (d + z): recover f and d per frame by least squares
    x, z, u = poses_camera[..., 0].astype(float), poses_camera[..., 2].astype(float), keypoints[..., 0] - 500.0
    for i in range(0, len(poses), 17):
        A = np.stack([u[i], -x[i]], axis=1)          # u * d - f * x = -u * z
        (d, f), *_ = np.linalg.lstsq(A, -u[i] * z[i], rcond=None)
        assert 3500 - 1 <= d <= 7000 + 1 and 800 - 1 <= f <= 1600 + 1
        np.testing.assert_allclose(keypoints[i, :, 1] - 500.0, f * poses_camera[i, :, 1] / (d + z[i]), atol=1e-2)
    # the cameras look from all round: the facing direction in the image varies over the circle
    assert (np.abs(keypoints[:, JOINT_INDEX["left_hip"], 0] - 500) > 20).mean() > 0.5


def test_projection_noise_outliers_and_dropout(walking_poses):
    poses = np.repeat(walking_poses, 60, axis=0)
    clean, *_ = project_random_cameras(poses, np.random.default_rng(3), noise_px=0.0,
                                                  outlier_prob=0.0, dropout_prob=0.0)
    noisy, _, weights, _ = project_random_cameras(poses, np.random.default_rng(3), noise_px=4.0,
                                                        outlier_prob=0.02, dropout_prob=0.05)
    size = np.maximum(np.ptp(clean[..., 0], axis=1), np.ptp(clean[..., 1], axis=1))[:, None]
    residual = np.linalg.norm(noisy - clean, axis=-1) / (size / 500.0)     # px at a 500 px person
    kept = weights > 0
    assert weights.dtype == np.float32 and abs((~kept).mean() - 0.05) < 0.01
    # dropped joints sit on the (noisy) pelvis
    pelvis = np.broadcast_to(noisy[:, PELVIS:PELVIS + 1], noisy.shape)
    np.testing.assert_allclose(noisy[~kept], pelvis[~kept])
    # 2D Gaussian of std 4 per axis: median distance 4 * sqrt(2 ln 2) = 4.71
    assert np.median(residual[kept]) == pytest.approx(4.71, rel=0.1)
    outliers = (residual[kept] > 20.0).mean()             # 5-25 % of the person away
    assert 0.01 < outliers < 0.03


def test_projection_is_reproducible(walking_poses):
    a = project_random_cameras(walking_poses, np.random.default_rng(7))
    b = project_random_cameras(walking_poses, np.random.default_rng(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
