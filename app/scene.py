"""The viewer's scene as numpy arrays, no Open3D: thin tubes for the bones and the camera's
frustum, the floor grid, and the checks that turn a frame's pose and camera into something drawable.

Scene units are metres in the lifter's canonical frame (core/camera.py): pelvis at the origin,
y down. The estimated camera sits CAMERA_DISTANCE_M from the pelvis along its viewing axis: weak
perspective carries no depth, so the distance is for display only. Line widths are ignored under
Xvfb (1 px lines), hence tubes rather than lines for everything thick.
"""
from __future__ import annotations

import numpy as np

from core.camera import rotation_from_camera
from core.skeleton import NUM_JOINTS

BONE_RADIUS_M = 0.018
JOINT_RADIUS_M = 0.030
FRUSTUM_RADIUS_M = 0.010
TUBE_SIDES = 8
CAMERA_DISTANCE_M = 2.0
FRUSTUM_DEPTH_M = 0.30
FRUSTUM_HALF_WIDTH_M = 0.20   # 4:3 image plane
FRUSTUM_HALF_HEIGHT_M = 0.15
GRID_HALF_SIZE_M = 2.5
GRID_STEP_M = 0.5

_ANGLES = np.linspace(0.0, 2.0 * np.pi, TUBE_SIDES, endpoint=False)


def tube_triangles(n_tubes: int) -> np.ndarray:
    """Triangles of n open tubes; tube t has a start ring then an end ring of TUBE_SIDES vertices."""
    i = np.arange(TUBE_SIDES)
    a, b = i, (i + 1) % TUBE_SIDES
    c, d = a + TUBE_SIDES, b + TUBE_SIDES
    one = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    offsets = (np.arange(n_tubes) * 2 * TUBE_SIDES)[:, None, None]
    return (one[None] + offsets).reshape(-1, 3)


def tube_vertices(starts: np.ndarray, ends: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and normals [M * 2 * TUBE_SIDES, 3] of tubes around the segments starts -> ends [M, 3]."""
    axis = ends - starts
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    axis = np.where(length > 1e-9, axis / np.maximum(length, 1e-9), [0.0, 1.0, 0.0])
    helper = np.where(np.abs(axis[:, :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(axis, u)
    ring = np.cos(_ANGLES)[None, :, None] * u[:, None] + np.sin(_ANGLES)[None, :, None] * v[:, None]
    vertices = np.concatenate([starts[:, None] + radius * ring, ends[:, None] + radius * ring], axis=1)
    normals = np.concatenate([ring, ring], axis=1)
    return vertices.reshape(-1, 3), normals.reshape(-1, 3)


def frustum_segments(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments (starts, ends) [10, 3] of a camera with rotation R (canonical -> camera) drawn
    CAMERA_DISTANCE_M from the origin: apex-to-corner edges, the image rectangle, and a small roof
    on the image's top edge (camera -y) so that a rolled or upside-down camera shows as such."""
    w, h, f = FRUSTUM_HALF_WIDTH_M, FRUSTUM_HALF_HEIGHT_M, FRUSTUM_DEPTH_M
    in_camera = np.array([
        [0, 0, 0],                                   # apex (the camera centre)
        [-w, -h, f], [w, -h, f], [w, h, f], [-w, h, f],  # image corners, top edge first
        [0, -h * 1.8, f],                            # roof tip
    ])
    # camera = R @ canonical + t with the pelvis at depth d, so canonical = R.T @ (camera - t).
    points = (in_camera - [0.0, 0.0, CAMERA_DISTANCE_M]) @ R
    starts = points[[0, 0, 0, 0, 1, 2, 3, 4, 1, 5]]
    ends = points[[1, 2, 3, 4, 2, 3, 4, 1, 5, 2]]
    return starts, ends


def grid_lines() -> tuple[np.ndarray, np.ndarray]:
    """Points [n, 3] (y filled in later) and line index pairs of a square grid on the floor."""
    ticks = np.arange(-GRID_HALF_SIZE_M, GRID_HALF_SIZE_M + 1e-9, GRID_STEP_M)
    points = []
    for t in ticks:
        points += [[t, 0.0, -GRID_HALF_SIZE_M], [t, 0.0, GRID_HALF_SIZE_M],
                   [-GRID_HALF_SIZE_M, 0.0, t], [GRID_HALF_SIZE_M, 0.0, t]]
    points = np.array(points)
    lines = np.arange(len(points)).reshape(-1, 2)
    return points, lines


def usable_pose(pose_3d: np.ndarray | None) -> np.ndarray | None:
    """The pose in metres, or None for no person (None, non-finite or collapsed to a point)."""
    if pose_3d is None:
        return None
    pose = np.asarray(pose_3d, dtype=np.float64)
    if pose.shape != (NUM_JOINTS, 3):
        raise ValueError(f"pose_3d must have shape ({NUM_JOINTS}, 3), got {pose.shape}")
    if not np.isfinite(pose).all() or np.ptp(pose, axis=0).max() < 1e-3:
        return None
    return pose / 1000.0


def usable_rotation(camera: np.ndarray | None) -> np.ndarray | None:
    if camera is None:
        return None
    K = np.asarray(camera, dtype=np.float64)
    if K.shape != (2, 3):
        raise ValueError(f"camera must have shape (2, 3), got {K.shape}")
    if not np.isfinite(K).all() or np.abs(K).max() < 1e-9:
        return None
    return rotation_from_camera(K)[0]
