"""The live viewer: the person in the room in an Open3D window (the skeleton at its place in the
world, standing on a floor grid that follows it, the camera at its estimated position and height,
a fading trail of the pelvis), plus a second window (OpenCV) with the video frame, the 2D
keypoints and a status line (frame rate, latency, the camera lock, the keys).

The scene is app/world.py's world frame in metres (app/scene.py): y up, the floor at y = 0, the
camera above the origin looking along about -z. The geometry's arrays are computed in
app/scene.py, the Open3D objects live in app/scene_meshes.py, the view follows the person
(app/follow_view.py); this module owns the windows and the keys.

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
from app.draw import draw_panel
from app.follow_view import FollowView
from app.scene import stand_in_world, usable_pose, usable_rotation, usable_world
from app.scene_meshes import BACKGROUND, SceneMeshes
from core.skeleton import PELVIS, REST_POSE

KEYS_HELP = "P pause   R reset view   Q quit   mouse: drag turns, scroll zooms"
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
    """Open3D window with the person in the room, plus an OpenCV window with the frame, the 2D
    keypoints and the status line (only where a display exists and visible=True).

    Keys (in either window): P or space pauses, R resets the 3D view, Q or Esc quits. While paused,
    update() keeps the picture (and the view stays interactive) but ignores the new data, and
    takes PAUSED_WAIT_S longer so that a caller looping until the unpause does not spin a core.
    With no person the last pose and camera stay on screen in grey and the trail fades.
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
        self._start = time.monotonic()
        self._vis = self._create_window(o3d, title, width, height, visible, left, top)
        # The 2D window needs a display: OpenCV's GUI (Qt) aborts the process without one.
        self._panel_name = (f"{title} - 2D" if visible and os.environ.get("DISPLAY") and x_display_reachable()
                            else None)
        # Start from a real pose (core.skeleton.REST_POSE, a relaxed standing pose) in front of a
        # level camera, grey until the first person is seen: the first add_geometry sizes the view.
        joints, camera_pose = stand_in_world(REST_POSE / 1000.0, np.eye(3))
        self.meshes = SceneMeshes(o3d, self._vis, joints, camera_pose)
        options = self._vis.get_render_option()
        options.background_color = np.asarray(BACKGROUND)
        options.mesh_show_back_face = True
        self.follow = FollowView(self._vis.get_view_control())
        self.follow.update(camera_pose[:, 3], joints[PELVIS], 0.0)
        self.reset_view()
        self._seen_person = False  # the view jumps to the first person, then glides after them

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

    @property
    def panel_rect(self) -> tuple[int, int, int, int] | None:
        """(x, y, width, height) of the 2D window where it was tiled on the screen, else None."""
        return self._panel_rect

    def update(self, frame_bgr: np.ndarray | None, keypoints_2d: np.ndarray | None,
               visibility: np.ndarray | None, pose_3d: np.ndarray | None,
               camera: np.ndarray | None, fps: float, status: str = "", *,
               joints_world: np.ndarray | None = None, camera_pose: np.ndarray | None = None,
               latency_ms: float | None = None, time_s: float | None = None) -> bool:
        """Show one frame's results; returns False once the user asked to quit (or closed the window).

        joints_world [17, 3] m and camera_pose [3, 4] (app/world.py) place the person in the room;
        without them the lifter's pose_3d [17, 3] mm and camera [2, 3] are stood on the floor in
        front of their camera (app.scene.stand_in_world). None for all means no person this frame.
        keypoints_2d [17, 2] pixels and visibility [17] for the 2D panel; fps (0: not measured
        yet), latency_ms (capture to display, None: unknown) and status (the camera lock's state)
        make its status line. time_s: the frame's time (trail and view glide; default: the clock).
        """
        if self._closed:
            return False
        if self._paused:
            time.sleep(PAUSED_WAIT_S)  # a loop waiting for the unpause key must not spin a core
        else:
            now = time.monotonic() - self._start if time_s is None else float(time_s)
            placed = usable_world(joints_world, camera_pose)
            pose, rotation = usable_pose(pose_3d), usable_rotation(camera)  # checked (shapes) either way
            if placed is None and pose is not None and rotation is not None:
                placed = stand_in_world(pose, rotation)
            if placed is None:
                self.meshes.set_grey(True)
                self.meshes.fade_trail(now)
            else:
                self.meshes.show_person(*placed, now)
                self.follow.update(placed[1][:, 3], placed[0][PELVIS], now, jump=not self._seen_person)
                self._seen_person = True
            if self._panel_name and frame_bgr is not None:
                panel = draw_panel(frame_bgr, keypoints_2d, visibility, fps, status, latency_ms, KEYS_HELP)
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
        """The default direction (from behind and above the camera) and the follower's zoom."""
        self.follow.reset()

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
