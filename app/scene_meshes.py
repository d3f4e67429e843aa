"""The Open3D geometry of the 3D view, created once and moved every frame: the skeleton (bone
tubes and joint spheres), the camera frustum with its post to the floor, the floor grid and the
fading trail of the pelvis. The arrays come from app/scene.py.

Every frame writes new vertices into geometry created once through numpy views of Open3D's
buffers, then update_geometry (re-creating Open3D geometry costs far more), so an update stays
at a few milliseconds even with software OpenGL. No geometry may start degenerate: a LineSet
whose points all coincide breaks Open3D's view for good, so everything starts from a real pose.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from app.draw import SIDE_COLORS
from app.scene import (BONE_RADIUS_M, FRUSTUM_RADIUS_M, FRUSTUM_TUBES, JOINT_RADIUS_M, TUBE_SIDES, frustum_segments,
                       grid_lines, grid_offset, trail_colors, tube_triangles, tube_vertices)
from core.skeleton import BONES, NUM_JOINTS, PELVIS, bone_side, joint_side

BACKGROUND = (0.08, 0.08, 0.10)
GRID_COLOR = (0.35, 0.35, 0.38)
FRUSTUM_COLOR = (1.00, 0.85, 0.15)
TRAIL_COLOR = (0.20, 0.90, 0.55)
NO_PERSON_COLOR = (0.45, 0.45, 0.45)  # the last pose and camera, greyed, while nobody is seen
TRAIL_SECONDS = 4.0                   # a pelvis position fades out over this long
TRAIL_POINTS = 160                    # room for TRAIL_SECONDS at up to 40 redraws a second
VIEW_RANGE_M = 20.0                   # the scene extent the view's zoom range is sized by


class SceneMeshes:
    """The geometry, added to an Open3D visualizer `vis` at construction, placed by joints_world
    [17, 3] and camera_pose [3, 4] (app/scene.py's world frame)."""

    def __init__(self, o3d, vis, joints_world: np.ndarray, camera_pose: np.ndarray):
        self._vis = vis
        sphere = o3d.geometry.TriangleMesh.create_sphere(radius=1.0, resolution=6)
        self._unit_sphere = np.asarray(sphere.vertices).copy()
        n_tube = 2 * TUBE_SIDES

        # Skeleton: one mesh, 16 bone tubes followed by 17 joint spheres.
        self.skeleton = o3d.geometry.TriangleMesh()
        n_bone_vertices = len(BONES) * n_tube
        sphere_triangles = np.asarray(sphere.triangles)[None] + (
            n_bone_vertices + np.arange(NUM_JOINTS) * len(self._unit_sphere))[:, None, None]
        self.skeleton.triangles = o3d.utility.Vector3iVector(
            np.concatenate([tube_triangles(len(BONES)), sphere_triangles.reshape(-1, 3)]).astype(np.int32))
        self._skeleton_colors = np.concatenate(
            [np.repeat([SIDE_COLORS[bone_side(b)] for b in BONES], n_tube, axis=0),
             np.repeat([SIDE_COLORS[joint_side(j)] for j in range(NUM_JOINTS)], len(self._unit_sphere), axis=0)])
        self._joint_normals = np.tile(self._unit_sphere, (NUM_JOINTS, 1))
        self.frustum = o3d.geometry.TriangleMesh()
        self.frustum.triangles = o3d.utility.Vector3iVector(tube_triangles(FRUSTUM_TUBES).astype(np.int32))
        for mesh, n_vertices in ((self.skeleton, len(self._skeleton_colors)), (self.frustum, FRUSTUM_TUBES * n_tube)):
            mesh.vertices = o3d.utility.Vector3dVector(np.zeros((n_vertices, 3)))
            mesh.vertex_normals = o3d.utility.Vector3dVector(np.zeros((n_vertices, 3)))
            mesh.vertex_colors = o3d.utility.Vector3dVector(np.tile(NO_PERSON_COLOR, (n_vertices, 1)))
        self._grey = {"skeleton": True, "frustum": True}

        grid_points, grid_segments = grid_lines()
        self._grid_points = grid_points
        self.grid = o3d.geometry.LineSet(o3d.utility.Vector3dVector(grid_points),
                                         o3d.utility.Vector2iVector(grid_segments.astype(np.int32)))
        self.grid.paint_uniform_color(GRID_COLOR)
        self.grid_center = np.zeros(3)

        # The trail: TRAIL_POINTS positions joined in order; unused and expired ones sit on the
        # oldest live one (zero-length segments draw nothing).
        pelvis = np.asarray(joints_world, dtype=np.float64)[PELVIS]
        self._trail: deque[tuple[float, np.ndarray]] = deque(maxlen=TRAIL_POINTS)
        spread = pelvis + np.linspace(-0.01, 0.01, TRAIL_POINTS)[:, None] * [1.0, 0.0, 0.0]  # never all one point
        self.trail = o3d.geometry.LineSet(
            o3d.utility.Vector3dVector(spread),
            o3d.utility.Vector2iVector(np.stack([np.arange(TRAIL_POINTS - 1), np.arange(1, TRAIL_POINTS)], 1)
                                       .astype(np.int32)))
        self.trail.colors = o3d.utility.Vector3dVector(np.tile(BACKGROUND, (TRAIL_POINTS - 1, 1)))

        self.write_pose(joints_world)
        self.write_camera(camera_pose)
        # Open3D sizes the view's zoom range by what it was given first (the eye reaches at most
        # about 3.5 times its extent; it counts neither line sets nor a mesh without triangles to
        # draw): the skeleton is added stretched over VIEW_RANGE_M, so that a person walking 10 m
        # away stays in reach, and then put in place before anything is drawn.
        vertices = np.asarray(self.skeleton.vertices)
        vertices[:2] = pelvis + np.array([[-0.5, -0.1, -0.5], [0.5, 0.1, 0.5]]) * VIEW_RANGE_M
        for geometry in (self.grid, self.skeleton, self.frustum):
            vis.add_geometry(geometry)
        self.write_pose(joints_world)
        vis.update_geometry(self.skeleton)
        vis.add_geometry(self.trail, reset_bounding_box=False)

    # --- placing ------------------------------------------------------------------------------
    def write_pose(self, joints_world: np.ndarray) -> None:
        parents, children = zip(*BONES)
        bone_vertices, bone_normals = tube_vertices(joints_world[list(parents)], joints_world[list(children)],
                                                    BONE_RADIUS_M)
        joint_vertices = (joints_world[:, None] + JOINT_RADIUS_M * self._unit_sphere[None]).reshape(-1, 3)
        np.asarray(self.skeleton.vertices)[:] = np.concatenate([bone_vertices, joint_vertices])
        np.asarray(self.skeleton.vertex_normals)[:] = np.concatenate([bone_normals, self._joint_normals])

    def write_camera(self, camera_pose: np.ndarray) -> None:
        vertices, normals = tube_vertices(*frustum_segments(camera_pose), FRUSTUM_RADIUS_M)
        np.asarray(self.frustum.vertices)[:] = vertices
        np.asarray(self.frustum.vertex_normals)[:] = normals

    def show_person(self, joints_world: np.ndarray, camera_pose: np.ndarray, time_s: float) -> None:
        """Place the skeleton and the camera, move the grid under the person, extend the trail."""
        self.write_pose(joints_world)
        self.write_camera(camera_pose)
        self.set_grey(False)
        self._vis.update_geometry(self.skeleton)
        self._vis.update_geometry(self.frustum)
        center = grid_offset(joints_world[PELVIS])
        if not np.array_equal(center, self.grid_center):  # only when the person crosses a square
            self.grid_center = center
            np.asarray(self.grid.points)[:] = self._grid_points + center
            self._vis.update_geometry(self.grid)
        if self._trail and time_s < self._trail[-1][0]:
            self._trail.clear()  # time went back: another video
        if self._trail and time_s == self._trail[-1][0]:
            self._trail.pop()  # the same frame again (a redraw while waiting): one point
        self._trail.append((time_s, joints_world[PELVIS].copy()))
        self.fade_trail(time_s)

    def fade_trail(self, time_s: float) -> None:
        """Recolour the trail for the time now: its segments fade with their age."""
        live = [(t, p) for t, p in self._trail if time_s - t < TRAIL_SECONDS]
        points = np.asarray(self.trail.points)
        colors = np.asarray(self.trail.colors)
        if len(live) < 2:  # nothing to draw: every segment of zero length
            points[:] = self._trail[-1][1] if self._trail else points[-1]
            colors[:] = BACKGROUND
        else:
            times = np.array([t for t, _ in live])
            n = len(live)
            points[:TRAIL_POINTS - n] = live[0][1]
            points[TRAIL_POINTS - n:] = [p for _, p in live]
            colors[:TRAIL_POINTS - n] = BACKGROUND
            colors[TRAIL_POINTS - n:] = trail_colors(time_s - times[1:], TRAIL_SECONDS, TRAIL_COLOR, BACKGROUND)
        self._vis.update_geometry(self.trail)

    def joint_centres(self) -> np.ndarray:
        """Where the joints are drawn [17, 3]: the centres of the spheres after the bone tubes."""
        spheres = np.asarray(self.skeleton.vertices)[len(BONES) * 2 * TUBE_SIDES:]
        return spheres.reshape(NUM_JOINTS, -1, 3).mean(axis=1)

    def trail_points(self) -> np.ndarray:
        """The pelvis positions the trail holds, oldest first [n, 3]."""
        return np.array([p for _, p in self._trail]).reshape(-1, 3)

    def set_grey(self, grey: bool) -> None:
        """Grey the skeleton and the camera while nobody is seen; colours back with the next person."""
        if self._grey["skeleton"] == grey:
            return
        for name, mesh, colors in (("skeleton", self.skeleton, self._skeleton_colors),
                                   ("frustum", self.frustum, FRUSTUM_COLOR)):
            self._grey[name] = grey
            np.asarray(mesh.vertex_colors)[:] = NO_PERSON_COLOR if grey else colors
            self._vis.update_geometry(mesh)
