"""Camera geometry shared by training, evaluation and the app (numpy only).

Frames. Everything is right-handed with y down. The *canonical* frame is the one RepNet's
generator predicts in: pelvis at the origin, gravity along +y, and the person turned so that
the line from the right hip to the left hip points along +x; the person then faces -z. A level
camera that the person faces squarely therefore has the weak-perspective matrix
K = s * [[1, 0, 0], [0, 1, 0]], and any other view is K = s * R[:2] for a rotation R into
camera coordinates (x right, y down, z forward).
"""
from __future__ import annotations

import numpy as np

from core.skeleton import JOINT_INDEX, PELVIS

LEFT_HIP = JOINT_INDEX["left_hip"]
RIGHT_HIP = JOINT_INDEX["right_hip"]


def rotation_about_y(angle: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about the vertical (y) axis."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, zero, s], -1),
                     np.stack([zero, one, zero], -1),
                     np.stack([-s, zero, c], -1)], -2)


def rotation_about_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([one, zero, zero], -1),
                     np.stack([zero, c, -s], -1),
                     np.stack([zero, s, c], -1)], -2)


def rotation_about_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, zero], -1),
                     np.stack([s, c, zero], -1),
                     np.stack([zero, zero, one], -1)], -2)


def canonicalize(poses: np.ndarray) -> np.ndarray:
    """World poses [..., 17, 3] (y down) to the canonical frame: pelvis-centred, hips along +x.

    Only the heading (rotation about the vertical) is removed: a person bending over or lying
    down stays so, which keeps gravity meaningful for the critic and the viewer's floor.
    """
    centred = poses - poses[..., PELVIS:PELVIS + 1, :]
    hips = centred[..., LEFT_HIP, :] - centred[..., RIGHT_HIP, :]
    heading = np.arctan2(hips[..., 2], hips[..., 0])
    R = rotation_about_y(heading)
    return np.einsum("...ij,...kj->...ki", R, centred)


def rotation_from_camera(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split weak-perspective cameras K [..., 2, 3] into rotations [..., 3, 3] and scales [...].

    The two rows are made orthonormal by the polar decomposition (the closest orthonormal pair);
    their cross product is the third row, so R is a proper rotation into camera coordinates.
    """
    K = np.asarray(K, dtype=np.float64)
    U, S, Vt = np.linalg.svd(K, full_matrices=False)  # K = U diag(S) Vt, U 2x2, Vt 2x3
    rows = U @ Vt
    third = np.cross(rows[..., 0, :], rows[..., 1, :])
    R = np.concatenate([rows, third[..., None, :]], axis=-2)
    return R, S.mean(axis=-1)


def camera_angles(K: np.ndarray) -> np.ndarray:
    """(elevation, roll) [..., 2] radians of weak-perspective cameras K [..., 2, 3] looking at a
    canonical pose: elevation positive looking down (as random_camera_rotations), roll the turn
    of the image about the optical axis (gravity drawn towards the image's down when zero).
    For K = s * (Rz(roll) Rx(-elevation) Ry(azimuth))[:2] these are the angles put in."""
    K = np.asarray(K, dtype=np.float64)
    towards_camera = np.cross(K[..., 0, :], K[..., 1, :])
    sine = -towards_camera[..., 1] / np.maximum(np.linalg.norm(towards_camera, axis=-1), 1e-12)
    elevation = np.arcsin(np.clip(sine, -1.0, 1.0))
    roll = np.arctan2(-K[..., 0, 1], K[..., 1, 1])
    return np.stack([elevation, roll], axis=-1)


# Elevations of the training cameras, degrees (positive: looking down): level to well above a person,
# and a little below. Training also holds the lifter's estimated camera to this range where asked.
TRAINING_ELEVATION_DEG: tuple[float, float] = (-15.0, 45.0)


def random_camera_rotations(n: int, rng: np.random.Generator,
                            elevation_deg: tuple[float, float] = TRAINING_ELEVATION_DEG,
                            roll_deg: float = 5.0) -> np.ndarray:
    """Rotations [n, 3, 3] world -> camera for cameras placed all around the person.

    Azimuth is uniform over the full circle, elevation (a camera looking down is positive) is
    uniform in the given range, and a small roll mimics a hand-held or tilted camera.
    """
    azimuth = rng.uniform(-np.pi, np.pi, n)
    elevation = np.deg2rad(rng.uniform(*elevation_deg, n))
    roll = np.deg2rad(rng.normal(0.0, roll_deg, n))
    # Looking down (positive elevation) turns the camera's forward axis towards +y (down).
    return rotation_about_z(roll) @ rotation_about_x(-elevation) @ rotation_about_y(azimuth)


def project_perspective(poses_camera: np.ndarray, focal: np.ndarray, distance: np.ndarray,
                        principal_point: tuple[float, float] = (500.0, 500.0)) -> np.ndarray:
    """Pinhole projection of root-relative camera-frame poses [n, 17, 3] (mm) placed `distance`
    mm in front of a camera with focal length `focal` (px). Returns pixels [n, 17, 2]."""
    focal = np.asarray(focal, dtype=np.float64).reshape(-1, 1)
    depth = poses_camera[..., 2] + np.asarray(distance, dtype=np.float64).reshape(-1, 1)
    depth = np.maximum(depth, 1.0)
    u = focal * poses_camera[..., 0] / depth + principal_point[0]
    v = focal * poses_camera[..., 1] / depth + principal_point[1]
    return np.stack([u, v], axis=-1)
