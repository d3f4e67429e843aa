"""The live viewer: the 3D skeleton, a ground grid and the estimated camera in an Open3D window,
plus a second window (OpenCV) with the video frame and the 2D keypoints.

Scene units are metres in the lifter's canonical frame (core/camera.py): pelvis at the origin,
y down, the person's left hip towards +x, the person facing -z. The floor is drawn under the
lowest joint. The estimated camera sits app.scene.CAMERA_DISTANCE_M from the pelvis along its
viewing axis: weak perspective carries no depth, so the distance is for display only. The
geometry's arrays are computed in app/scene.py; this module owns the windows.

Every frame moves the vertices of geometry created once (re-creating Open3D geometry costs far
more), so one update stays at a few milliseconds even with software OpenGL.

Open3D picks its window system by itself: with a DISPLAY (a desktop or Xvfb) a GLFW window, with
none an EGL offscreen context, in which case nothing is shown but render_3d() still works. An
invisible viewer (visible=False, for --save-video without a window) always renders with EGL.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import cv2
import numpy as np

from app.display import screen_size, x_display_reachable
from app.draw import SIDE_COLORS, draw_panel
from app.scene import (BONE_RADIUS_M, FRUSTUM_RADIUS_M, JOINT_RADIUS_M, TUBE_SIDES, frustum_segments, grid_lines,
                       tube_triangles, tube_vertices, usable_pose, usable_rotation)
from core.skeleton import BONES, NUM_JOINTS, REST_POSE, bone_side, joint_side

# --- what the scene looks like --------------------------------------------------------------
BACKGROUND = (0.08, 0.08, 0.10)
GRID_COLOR = (0.35, 0.35, 0.38)
FRUSTUM_COLOR = (1.00, 0.85, 0.15)
NO_PERSON_COLOR = (0.45, 0.45, 0.45)  # the last pose and camera, greyed, while nobody is seen
# The default view (key R): from the person's front-left and above, looking at a point between
# the person and a frontal camera, so that both show and the skeleton faces the viewer (its left
# side on the image's right).
VIEW_FRONT = (0.7, -0.45, -0.55)  # from the look-at point towards the eye, y down
VIEW_UP = (0.0, -1.0, 0.0)
VIEW_LOOKAT = (0.1, -0.05, -0.8)
VIEW_ZOOM = 0.62

PAUSED_WAIT_S = 0.015  # update() while paused: still ~60 redraws a second for the mouse

# GLFW key codes (Open3D's key callbacks); letters are their upper-case ASCII codes.
KEY_ESCAPE = 256
KEY_SPACE = 32


class ViewerError(RuntimeError):
    """The viewer cannot start (Open3D missing or unloadable, no OpenGL)."""


def _import_open3d():
    try:
        import open3d
    except (ImportError, OSError) as error:  # OSError: a missing system library
        raise ViewerError(
            f"cannot load Open3D ({error}); install it with `pip install -r requirements.txt` and the "
            "system libraries with `apt-get install libusb-1.0-0 libgl1 libegl1`, or run with --no-viewer"
        ) from None
    return open3d


TITLE_BAR_PX = 40   # room a window manager may add above each window (Xvfb adds none)


def tile(screen: tuple[int, int], frame_size: tuple[int, int]) -> tuple[tuple[int, int, int, int],
                                                                         tuple[int, int, int, int]]:
    """Side by side on one screen, never overlapping: (x, y, width, height) of the 2D panel (the
    frame scaled down to fit, never up, in at most half the width) and of the 3D window (the rest
    of the width, as tall as the panel or at least three quarters of the width it gets)."""
    screen_w, screen_h = screen
    usable_h = max(120, screen_h - TITLE_BAR_PX)
    frame_w, frame_h = frame_size
    scale = min(1.0, (screen_w // 2) / frame_w, usable_h / frame_h)
    panel = (0, 0, max(1, int(frame_w * scale)), max(1, int(frame_h * scale)))
    view_w = screen_w - panel[2]
    view_h = min(usable_h, max(panel[3], int(0.75 * view_w)))
    return panel, (panel[2], 0, view_w, view_h)


class Viewer:
    """Open3D window with the 3D skeleton, floor grid and estimated camera, plus an OpenCV window
    with the frame and 2D keypoints (only where a display exists and visible=True).

    Keys (in either window): P or space pauses, R resets the 3D view, Q or Esc quits. While paused,
    update() keeps the picture (and the view stays interactive) but ignores the new data, and
    takes PAUSED_WAIT_S longer so that a caller looping until the unpause does not spin a core.
    With no person (pose_3d None) the last pose and camera stay on screen in grey.
    """

    def __init__(self, width: int = 640, height: int = 480, visible: bool = True,
                 title: str = "RepNet Live", frame_size: tuple[int, int] | None = None):
        """frame_size (width, height) of the video: when given and a screen is there, the 2D panel
        and the 3D window are tiled side by side on it (see tile()) instead of opening on top of
        each other at the frame's full size."""
        o3d = _import_open3d()
        screen = screen_size() if visible and frame_size is not None else None
        self._panel_rect, left, top = None, 50, 50
        if screen is not None:
            self._panel_rect, (left, top, width, height) = tile(screen, frame_size)
        o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)  # never Debug: hangs at exit
        self._paused = False
        self._quit = False
        self._closed = False
        self._vis = self._create_window(o3d, title, width, height, visible, left, top)
        # The 2D window needs a display: OpenCV's GUI (Qt) aborts the process without one.
        self._panel_name = (f"{title} - 2D" if visible and os.environ.get("DISPLAY") and x_display_reachable()
                            else None)

        # Skeleton: one mesh, 16 bone tubes followed by 17 joint spheres.
        sphere = o3d.geometry.TriangleMesh.create_sphere(radius=1.0, resolution=6)
        self._unit_sphere = np.asarray(sphere.vertices).copy()
        self._skeleton = o3d.geometry.TriangleMesh()
        n_tube = 2 * TUBE_SIDES
        n_bone_vertices = len(BONES) * n_tube
        sphere_triangles = np.asarray(sphere.triangles)[None] + (
            n_bone_vertices + np.arange(NUM_JOINTS) * len(self._unit_sphere))[:, None, None]
        self._skeleton.triangles = o3d.utility.Vector3iVector(
            np.concatenate([tube_triangles(len(BONES)), sphere_triangles.reshape(-1, 3)]).astype(np.int32))
        self._skeleton_colors = np.concatenate(
            [np.repeat([SIDE_COLORS[bone_side(b)] for b in BONES], n_tube, axis=0),
             np.repeat([SIDE_COLORS[joint_side(j)] for j in range(NUM_JOINTS)], len(self._unit_sphere), axis=0)])
        n_vertices = len(self._skeleton_colors)
        self._skeleton.vertices = o3d.utility.Vector3dVector(np.zeros((n_vertices, 3)))
        self._skeleton.vertex_normals = o3d.utility.Vector3dVector(np.zeros((n_vertices, 3)))
        self._skeleton.vertex_colors = o3d.utility.Vector3dVector(np.tile(NO_PERSON_COLOR, (n_vertices, 1)))
        self._joint_normals = np.tile(self._unit_sphere, (NUM_JOINTS, 1))

        self._frustum = o3d.geometry.TriangleMesh()
        self._frustum.triangles = o3d.utility.Vector3iVector(tube_triangles(10).astype(np.int32))
        n_frustum = 10 * n_tube
        self._frustum.vertices = o3d.utility.Vector3dVector(np.zeros((n_frustum, 3)))
        self._frustum.vertex_normals = o3d.utility.Vector3dVector(np.zeros((n_frustum, 3)))
        self._frustum.vertex_colors = o3d.utility.Vector3dVector(np.tile(NO_PERSON_COLOR, (n_frustum, 1)))

        grid_points, grid_segments = grid_lines()
        self._grid = o3d.geometry.LineSet(o3d.utility.Vector3dVector(grid_points),
                                          o3d.utility.Vector2iVector(grid_segments.astype(np.int32)))
        self._grid.paint_uniform_color(GRID_COLOR)

        # Start from a real pose (core.skeleton.REST_POSE, a relaxed standing pose) and camera, grey
        # until the first person is seen: no geometry may start degenerate (Open3D's view can break
        # for good on all-identical points), and the first add_geometry sizes the view from them.
        self._grey = {"skeleton": True, "frustum": True}
        self._write_pose(REST_POSE / 1000.0)
        self._write_camera(np.eye(3))
        for geometry in (self._grid, self._skeleton, self._frustum):
            self._vis.add_geometry(geometry)
        options = self._vis.get_render_option()
        options.background_color = np.asarray(BACKGROUND)
        options.mesh_show_back_face = True
        self.reset_view()

        # Key -> callback(visualizer) -> bool, as Open3D calls them; kept here so tests can call them.
        self.key_callbacks: dict[int, Callable[[object], bool]] = {
            ord("P"): self._on_pause, KEY_SPACE: self._on_pause,
            ord("R"): self._on_reset, ord("Q"): self._on_quit, KEY_ESCAPE: self._on_quit,
        }
        for key, callback in self.key_callbacks.items():
            self._vis.register_key_callback(key, callback)
        if self._panel_name:
            # GUI_NORMAL: no Qt toolbar, which would make the window taller than the tile.
            cv2.namedWindow(self._panel_name, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            if self._panel_rect is not None:
                cv2.moveWindow(self._panel_name, self._panel_rect[0], self._panel_rect[1])
        self._vis.poll_events()
        self._vis.update_renderer()

    @staticmethod
    def _create_window(o3d, title: str, width: int, height: int, visible: bool, left: int = 50, top: int = 50):
        if not visible and os.environ.get("DISPLAY"):
            # An invisible window gains nothing from X, and with software OpenGL every frame's copy
            # to the X server costs ~10 ns per pixel (5 ms at 640x480): hiding DISPLAY while the
            # window is created makes Open3D render with EGL offscreen instead (0.5 ms).
            display = os.environ.pop("DISPLAY")
            try:
                vis = o3d.visualization.VisualizerWithKeyCallback()
                if vis.create_window(window_name=title, width=width, height=height, visible=False):
                    return vis
            finally:
                os.environ["DISPLAY"] = display
        vis = o3d.visualization.VisualizerWithKeyCallback()
        if not vis.create_window(window_name=title, width=width, height=height, left=left, top=top,
                                 visible=visible):
            raise ViewerError("cannot open the Open3D window (no OpenGL?); run with --no-viewer")
        return vis

    # --- public API -------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def has_panel(self) -> bool:
        """Whether the 2D window is shown (visible=True and a display exists)."""
        return self._panel_name is not None

    def update(self, frame_bgr: np.ndarray | None, keypoints_2d: np.ndarray | None,
               visibility: np.ndarray | None, pose_3d: np.ndarray | None,
               camera: np.ndarray | None, fps: float, status: str = "") -> bool:
        """Show one frame's results; returns False once the user asked to quit (or closed the window).
        status: a line written after the FPS on the 2D panel (the camera lock's state).

        pose_3d [17, 3] mm canonical and camera [2, 3] as the lifter returns them; None for either
        means no person this frame. keypoints_2d [17, 2] pixels and visibility [17] for the 2D panel.
        """
        if self._closed:
            return False
        if self._paused:
            time.sleep(PAUSED_WAIT_S)  # a loop waiting for the unpause key must not spin a core
        else:
            self._show_pose(usable_pose(pose_3d))
            self._show_camera(usable_rotation(camera))
            if self._panel_name and frame_bgr is not None:
                panel = draw_panel(frame_bgr, keypoints_2d, visibility, fps, status)
                if self._panel_rect is not None and panel.shape[:2] != self._panel_rect[3:1:-1]:
                    panel = cv2.resize(panel, self._panel_rect[2:], interpolation=cv2.INTER_AREA)
                cv2.imshow(self._panel_name, panel)
        if self._panel_name:
            self._handle_panel_key()
        if not self._vis.poll_events():  # the window was closed
            self._quit = True
        self._vis.update_renderer()
        return not self._quit

    def hold(self) -> bool:
        """Keep the last picture on screen (the view stays interactive) for about PAUSED_WAIT_S;
        returns False once the user asked to quit or closed the window. For the end of a video."""
        if self._closed:
            return False
        time.sleep(PAUSED_WAIT_S)
        if self._panel_name:
            self._handle_panel_key()
        if not self._vis.poll_events():
            self._quit = True
        self._vis.update_renderer()
        return not self._quit

    def render_3d(self) -> np.ndarray:
        """The current 3D view as an RGB uint8 image [height, width, 3]."""
        buffer = np.asarray(self._vis.capture_screen_float_buffer(do_render=True))
        return cv2.convertScaleAbs(buffer, alpha=255.0)  # rounds and saturates; 3x faster than numpy

    def reset_view(self) -> None:
        view = self._vis.get_view_control()
        view.set_lookat(VIEW_LOOKAT)
        view.set_front(VIEW_FRONT)
        view.set_up(VIEW_UP)
        view.set_zoom(VIEW_ZOOM)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._vis.destroy_window()
        if self._panel_name:
            cv2.destroyWindow(self._panel_name)
            cv2.waitKey(1)  # lets the GUI thread actually remove the window

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- keys -------------------------------------------------------------------------------------
    def _on_pause(self, _vis) -> bool:
        self._paused = not self._paused
        return False

    def _on_reset(self, _vis) -> bool:
        self.reset_view()
        return False

    def _on_quit(self, _vis) -> bool:
        self._quit = True
        return False

    def _handle_panel_key(self) -> None:
        key = cv2.pollKey() & 0xFF  # also paints the window; unlike waitKey(1) it never sleeps
        if key == 255:
            return
        glfw_key = {27: KEY_ESCAPE}.get(key, ord(chr(key).upper()))
        if glfw_key in self.key_callbacks:
            self.key_callbacks[glfw_key](self._vis)

    # --- geometry updates -------------------------------------------------------------------------
    def _write_pose(self, joints_m: np.ndarray) -> None:
        parents, children = zip(*BONES)
        bone_vertices, bone_normals = tube_vertices(joints_m[list(parents)], joints_m[list(children)],
                                                     BONE_RADIUS_M)
        joint_vertices = (joints_m[:, None] + JOINT_RADIUS_M * self._unit_sphere[None]).reshape(-1, 3)
        # Writing through the numpy views changes Open3D's buffers in place (no reallocation).
        np.asarray(self._skeleton.vertices)[:] = np.concatenate([bone_vertices, joint_vertices])
        np.asarray(self._skeleton.vertex_normals)[:] = np.concatenate([bone_normals, self._joint_normals])
        floor = joints_m[:, 1].max() + JOINT_RADIUS_M
        np.asarray(self._grid.points)[:, 1] = floor

    def _write_camera(self, R: np.ndarray) -> None:
        vertices, normals = tube_vertices(*frustum_segments(R), FRUSTUM_RADIUS_M)
        np.asarray(self._frustum.vertices)[:] = vertices
        np.asarray(self._frustum.vertex_normals)[:] = normals

    def _set_grey(self, name: str, grey: bool) -> None:
        if self._grey[name] == grey:
            return
        self._grey[name] = grey
        mesh, colors = ((self._skeleton, self._skeleton_colors) if name == "skeleton"
                        else (self._frustum, np.tile(FRUSTUM_COLOR, (len(self._frustum.vertices), 1))))
        np.asarray(mesh.vertex_colors)[:] = NO_PERSON_COLOR if grey else colors
        self._vis.update_geometry(mesh)

    def _show_pose(self, joints_m: np.ndarray | None) -> None:
        if joints_m is None:
            self._set_grey("skeleton", True)
            return
        self._write_pose(joints_m)
        self._set_grey("skeleton", False)
        self._vis.update_geometry(self._skeleton)
        self._vis.update_geometry(self._grid)

    def _show_camera(self, R: np.ndarray | None) -> None:
        if R is None:
            self._set_grey("frustum", True)
            return
        self._write_camera(R)
        self._set_grey("frustum", False)
        self._vis.update_geometry(self._frustum)
