"""The 3D view follows the person through the room, keeping the camera in the picture too.

    follow = FollowView(vis.get_view_control())
    follow.reset()                                     # key R: the default direction, auto zoom
    follow.update(camera_position, pelvis_world, time_s)

The view looks at a point between the camera and the person from behind and above the camera
(the person faces you, their left on the picture's right, as in the video), from a distance
that grows with the camera's distance from the person, so both stay in view as the person walks
towards or away from it. Both glide (VIEW_SMOOTHING_S) instead of jumping with the lifter's
jitter. A mouse turn is kept (the direction is set only by reset), and so is a scroll: Open3D
cannot be asked for its zoom, but the eye's distance can, and a change the follower did not make
is the user's and scales its distances from then on.

Open3D's legacy view sets the eye's distance through a zoom relative to the scene's extent when
the geometry was added (update_geometry never changes it); the follower finds the zoom that gives
the distance it wants by measuring the distance each zoom gives.
"""
from __future__ import annotations

import math

import numpy as np

VIEW_FRONT = (0.4, 0.45, 1.0)   # from the look-at point towards the eye (world: y up, camera looking along -z)
VIEW_UP = (0.0, 1.0, 0.0)
LOOK_AT_SHARE = 0.6              # the look-at point: this share of the way from the camera to the person,
LOOK_AT_HEIGHT_M = 0.6           # ... at this height
DISTANCE_BASE_M = 1.8            # the eye's distance: this plus DISTANCE_PER_M per metre between camera and person
DISTANCE_PER_M = 0.8
VIEW_SMOOTHING_S = 0.4           # time constant of the glide
ZOOM_LIMITS = (0.02, 2.0)        # Open3D clamps the zoom to these
ZOOM_STEPS = 4                   # corrections of the zoom per update (two reach 1% from any start)
ZOOM_TOLERANCE = 0.01


def view_target(camera_position: np.ndarray, pelvis: np.ndarray) -> tuple[np.ndarray, float]:
    """(look-at point [3], eye distance in m) that keeps the camera and a person at `pelvis` in view."""
    camera = np.asarray(camera_position, dtype=np.float64)
    person = np.asarray(pelvis, dtype=np.float64)
    look_at = camera + LOOK_AT_SHARE * (person - camera)
    look_at[1] = LOOK_AT_HEIGHT_M
    apart = float(np.hypot(*(person - camera)[[0, 2]]))
    return look_at, DISTANCE_BASE_M + DISTANCE_PER_M * apart


class FollowView:
    """Drives an Open3D ViewControl: the look-at point and zoom glide towards view_target()."""

    def __init__(self, view_control):
        self._view = view_control
        self._look_at: np.ndarray | None = None
        self._distance: float | None = None
        self._time: float | None = None
        self._user_scale = 1.0
        self._set_distance: float | None = None   # the eye distance the last update() left
        self._zoom = 1.0                          # the zoom the follower set last

    def _eye_and_axis(self) -> tuple[np.ndarray, np.ndarray]:
        """Where the eye is and the direction it looks in (world), as Open3D has them now."""
        extrinsic = np.asarray(self._view.convert_to_pinhole_camera_parameters().extrinsic)
        return -extrinsic[:3, :3].T @ extrinsic[:3, 3], extrinsic[2, :3]

    def eye_distance(self) -> float:
        """The eye's distance from the look-at point along its line of sight (m); after a pan
        (which moves Open3D's look-at point sideways) still the distance the zoom sets."""
        eye, axis = self._eye_and_axis()
        return float(abs(np.dot(self._look_at - eye, axis)))

    def reset(self) -> None:
        """The default direction, and distances as the follower computes them (key R)."""
        self._view.set_front(VIEW_FRONT)
        self._view.set_up(VIEW_UP)
        self._user_scale = 1.0
        self._set_distance = None
        if self._look_at is not None:
            self._apply()

    def update(self, camera_position: np.ndarray, pelvis: np.ndarray, time_s: float) -> None:
        look_at, distance = view_target(camera_position, pelvis)
        if self._look_at is None or self._time is None or time_s < self._time:
            self._look_at, self._distance = look_at, distance
        else:
            keep = math.exp(-(time_s - self._time) / VIEW_SMOOTHING_S)
            self._look_at = keep * self._look_at + (1.0 - keep) * look_at
            self._distance = keep * self._distance + (1.0 - keep) * distance
        self._time = time_s
        if self._set_distance is not None:  # a scroll since the last update: the user's zoom
            now = self.eye_distance()
            if abs(now - self._set_distance) > 1e-3 * self._set_distance:
                self._user_scale *= now / self._set_distance
        self._apply()

    def _apply(self) -> None:
        """Look at the look-at point from the wanted distance. The eye's distance grows with the
        zoom, but not in proportion (measured: 2.37, 4.48, 6.61 m at zoom 0.5, 1, 1.5), so the
        zoom is corrected by the distance it gave, a few microseconds a step."""
        self._view.set_lookat(self._look_at)
        wanted = self._distance * self._user_scale
        for _ in range(ZOOM_STEPS):
            now = self.eye_distance()
            if abs(now - wanted) <= ZOOM_TOLERANCE * wanted:
                break
            self._zoom = min(max(self._zoom * wanted / max(now, 1e-6), ZOOM_LIMITS[0]), ZOOM_LIMITS[1])
            self._view.set_zoom(self._zoom)
        self._set_distance = self.eye_distance()
