"""Synthetic 2D from 3D: world poses seen through random cameras, with the detector noise model
(Gaussian jitter scaled with the person's size, outliers, dropped joints). Training's 2D
projections, its held-out validation and every evaluation draw their 2D through this one model.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from core.camera import project_perspective, random_camera_rotations
from core.skeleton import NUM_JOINTS, PELVIS

# The detector-like mix: training projects with it by default, its held-out validation and the
# evaluations' "detector-like" 2D input are scored with it, so that all three see the same noise.
DETECTOR_LIKE: dict[str, float] = {"noise_px": 4.0, "outlier_prob": 0.01, "dropout_prob": 0.02}


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


def project_random_cameras(poses_world: np.ndarray, rng: np.random.Generator,
                           noise_px: float = DETECTOR_LIKE["noise_px"],
                           outlier_prob: float = DETECTOR_LIKE["outlier_prob"],
                           dropout_prob: float = DETECTOR_LIKE["dropout_prob"],
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
