"""The viewer's scene as numpy arrays, no Open3D: thin tubes for the bones and the camera's
frustum, the floor grid, the pelvis trail, and the checks that turn a frame's results into
something drawable.

The scene is the world frame of app/world.py, in metres: y up, the floor is y = 0, the camera
looks along about -z from above the origin, and camera_pose [R | position] maps camera
coordinates to the world (x_world = R @ x_camera + position). Where a frame has no world
placement (a single image, results recorded before world space existed) stand_in_world() puts
the lifter's pose on the floor CAMERA_DISTANCE_M in front of its camera. Line widths are ignored
under Xvfb (1 px lines), hence tubes rather than lines for everything thick.
"""
from __future__ import annotations

import numpy as np

from app.world import ANKLE_HEIGHT_M
from core.camera import rotation_from_camera
from core.skeleton import NUM_JOINTS

BONE_RADIUS_M = 0.018
JOINT_RADIUS_M = 0.030
FRUSTUM_RADIUS_M = 0.012
TUBE_SIDES = 8
CAMERA_DISTANCE_M = 2.0       # stand_in_world: weak perspective carries no depth
FRUSTUM_DEPTH_M = 0.22
FRUSTUM_HALF_WIDTH_M = 0.15   # 4:3 image plane
FRUSTUM_HALF_HEIGHT_M = 0.11
FRUSTUM_TUBES = 11            # 4 edges from the apex, 4 sides of the image, 2 of the roof, the post to the floor
GRID_HALF_SIZE_M = 4.0        # a room's width around the person: a webcam 2-4 m away stands on it too
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
    u = _cross(axis, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = _cross(axis, u)
    ring = np.cos(_ANGLES)[None, :, None] * u[:, None] + np.sin(_ANGLES)[None, :, None] * v[:, None]
    vertices = np.concatenate([starts[:, None] + radius * ring, ends[:, None] + radius * ring], axis=1)
    normals = np.concatenate([ring, ring], axis=1)
    return vertices.reshape(-1, 3), normals.reshape(-1, 3)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross products [M, 3]: np.cross's axis handling costs 5x more at this size, and
    this runs for every bone and frustum edge of every frame."""
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)


def frustum_segments(camera_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments (starts, ends) [FRUSTUM_TUBES, 3] of the camera at camera_pose [3, 4] in the world:
    apex-to-corner edges, the image rectangle, a small roof on the image's top edge (camera -y) so
    that a rolled or upside-down camera shows as such, and a post from the apex down to the floor
    that shows the camera's height. The apex is the camera centre, camera_pose[:, 3]."""
    w, h, f = FRUSTUM_HALF_WIDTH_M, FRUSTUM_HALF_HEIGHT_M, FRUSTUM_DEPTH_M
    in_camera = np.array([
        [0, 0, 0],                                   # apex (the camera centre)
        [-w, -h, f], [w, -h, f], [w, h, f], [-w, h, f],  # image corners, top edge first
        [0, -h * 1.8, f],                            # roof tip
    ])
    points = in_camera @ camera_pose[:, :3].T + camera_pose[:, 3]
    floor = points[0] * [1.0, 0.0, 1.0]
    starts = np.concatenate([points[[0, 0, 0, 0, 1, 2, 3, 4, 1, 5]], points[:1]])
    ends = np.concatenate([points[[1, 2, 3, 4, 2, 3, 4, 1, 5, 2]], floor[None]])
    return starts, ends


def grid_lines() -> tuple[np.ndarray, np.ndarray]:
    """Points [n, 3] on the floor (y = 0) around the origin, and the line index pairs of a square
    grid of GRID_STEP_M squares; grid_offset() moves it under the person."""
    ticks = np.arange(-GRID_HALF_SIZE_M, GRID_HALF_SIZE_M + 1e-9, GRID_STEP_M)
    points = []
    for t in ticks:
        points += [[t, 0.0, -GRID_HALF_SIZE_M], [t, 0.0, GRID_HALF_SIZE_M],
                   [-GRID_HALF_SIZE_M, 0.0, t], [GRID_HALF_SIZE_M, 0.0, t]]
    points = np.array(points)
    lines = np.arange(len(points)).reshape(-1, 2)
    return points, lines


def grid_offset(position: np.ndarray) -> np.ndarray:
    """Where the grid's centre goes for a person at `position` (world, m): the floor point below
    them, snapped to whole squares, so that the grid follows a walk while its lines stay put on
    the floor (a grid sliding with the person would hide the walking)."""
    snapped = np.round(np.asarray(position, dtype=np.float64) / GRID_STEP_M) * GRID_STEP_M
    return np.array([snapped[0], 0.0, snapped[2]])


def trail_colors(ages_s: np.ndarray, lifetime_s: float, color: tuple[float, float, float],
                 background: tuple[float, float, float]) -> np.ndarray:
    """Colours [n, 3] of trail segments `ages_s` old: `color` when new, fading linearly into the
    background over lifetime_s."""
    fade = np.clip(1.0 - np.asarray(ages_s, dtype=np.float64) / lifetime_s, 0.0, 1.0)[:, None]
    return np.asarray(background) + fade * (np.asarray(color) - np.asarray(background))


def stand_in_world(pose_m: np.ndarray, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(joints_world [17, 3], camera_pose [3, 4]) for a pose without a world placement: the pose
    (canonical, m) seen by a camera with rotation R (canonical -> camera) CAMERA_DISTANCE_M away,
    set up like app.world.WorldTracker: gravity from R, the lowest joint ANKLE_HEIGHT_M above the
    floor, the world's x the camera's right made horizontal."""
    joints_camera = pose_m @ rotation.T + [0.0, 0.0, CAMERA_DISTANCE_M]
    up = -rotation[:, 1]  # the canonical frame's +y is gravity
    right = np.array([1.0, 0.0, 0.0]) - up[0] * up
    if np.linalg.norm(right) < 1e-6:  # the camera rolled by 90 degrees: its y axis is horizontal
        right = np.array([0.0, 1.0, 0.0]) - up[1] * up
    right /= np.linalg.norm(right)
    world_from_camera = np.stack([right, up, np.cross(right, up)])
    position = np.array([0.0, ANKLE_HEIGHT_M - float((joints_camera @ up).min()), 0.0])
    return joints_camera @ world_from_camera.T + position, np.concatenate([world_from_camera, position[:, None]], 1)


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


def usable_world(joints_world: np.ndarray | None, camera_pose: np.ndarray | None) -> tuple | None:
    """(joints_world [17, 3] m, camera_pose [3, 4]) when both are given and finite, else None."""
    if joints_world is None or camera_pose is None:
        return None
    joints, pose = np.asarray(joints_world, dtype=np.float64), np.asarray(camera_pose, dtype=np.float64)
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f"joints_world must have shape ({NUM_JOINTS}, 3), got {joints.shape}")
    if pose.shape != (3, 4):
        raise ValueError(f"camera_pose must have shape (3, 4), got {pose.shape}")
    if not (np.isfinite(joints).all() and np.isfinite(pose).all()) or np.ptp(joints, axis=0).max() < 1e-3:
        return None
    return joints, pose
