"""The 3D view follows the person through the room, keeping the camera in the picture too.

    follow = FollowView(vis.get_view_control())
    follow.reset()                                     # key R: the default direction, auto zoom
    follow.update(camera_position, pelvis_world, time_s)

The view looks at a point between the camera and the person, by default from behind and above
the camera (the person faces you, their left on the picture's right, as in the video), from the
shortest distance at which the camera (with its post down to the floor) and the person (feet to
head) all fit in the picture with a margin (fit_distance), so both stay in view as the person
walks towards, away from or across the camera, whatever direction the user turned the view to.
The look-at point and the distance glide (VIEW_SMOOTHING_S) instead of jumping with the
lifter's jitter. A mouse turn is kept (the direction is set only by reset), and so is a scroll:
Open3D cannot be asked for its zoom, but the eye's distance can, and a change the follower did
not make is the user's and scales its distances from then on.

Open3D's legacy view sets the eye's distance through a zoom relative to the scene's extent when
the geometry was added (update_geometry never changes it); the follower finds the zoom that gives
the distance it wants by measuring the distance each zoom gives.
"""
from __future__ import annotations

import math

import numpy as np

VIEW_FRONT = (0.4, 0.45, 1.0)    # from the look-at point towards the eye (world: y up, camera looking along -z)
VIEW_UP = (0.0, 1.0, 0.0)        # the world's up, made perpendicular to VIEW_FRONT
LOOK_AT_SHARE = 0.6              # the look-at point: this share of the way from the camera to the person,
LOOK_AT_HEIGHT_M = 0.6           # ... at this height
PERSON_HEIGHT_M = 1.9            # what must fit above the person's floor point (a raised hand)
PERSON_HALF_WIDTH_M = 0.5        # ... and to either side
FILL = 0.85                      # the points fill at most this share of the picture's half-width and half-height
MIN_DISTANCE_M = 2.0
VIEW_SMOOTHING_S = 0.4           # time constant of the glide
ZOOM_LIMITS = (0.02, 2.0)        # Open3D clamps the zoom to these
ZOOM_STEPS = 4                   # corrections of the zoom per update (two reach 1% from any start)
ZOOM_TOLERANCE = 0.01


def key_points(camera_position: np.ndarray, pelvis: np.ndarray) -> np.ndarray:
    """[10, 3] points that must be in view: the camera and its floor point, and a box around the
    person from the floor to above the head."""
    camera = np.asarray(camera_position, dtype=np.float64)
    person = np.asarray(pelvis, dtype=np.float64) * [1.0, 0.0, 1.0]
    box = [person + [dx, dy, dz] for dx in (-PERSON_HALF_WIDTH_M, PERSON_HALF_WIDTH_M)
           for dy in (0.0, PERSON_HEIGHT_M) for dz in (-PERSON_HALF_WIDTH_M, PERSON_HALF_WIDTH_M)]
    return np.array([camera, camera * [1.0, 0.0, 1.0], *box])


def look_at_point(camera_position: np.ndarray, pelvis: np.ndarray) -> np.ndarray:
    camera = np.asarray(camera_position, dtype=np.float64)
    look_at = camera + LOOK_AT_SHARE * (np.asarray(pelvis, dtype=np.float64) - camera)
    look_at[1] = LOOK_AT_HEIGHT_M
    return look_at


def fit_distance(points: np.ndarray, look_at: np.ndarray, axes: np.ndarray, tangents: tuple[float, float]) -> float:
    """The shortest eye distance from `look_at` at which every point [n, 3] projects inside FILL
    of the picture. axes [3, 3]: the view's right, down and forward directions (rows, world);
    tangents: the half field of view's tangent across and up. A point r from the look-at point
    lies at depth D + r.forward from the eye, and is in view where |r.right| <= FILL * tan_x *
    depth, and the same up: linear in D, so each point gives a bound and the largest one holds."""
    relative = points - look_at
    across, down, forward = relative @ axes[0], relative @ axes[1], relative @ axes[2]
    needed = np.maximum(np.abs(across) / (FILL * tangents[0]), np.abs(down) / (FILL * tangents[1])) - forward
    return max(MIN_DISTANCE_M, float(needed.max()))


class FollowView:
    """Drives an Open3D ViewControl: the look-at point and zoom glide after the person."""

    def __init__(self, view_control):
        self._view = view_control
        self._look_at: np.ndarray | None = None
        self._distance: float | None = None
        self._time: float | None = None
        self._user_scale = 1.0
        self._set_distance: float | None = None   # the eye distance the last update() left
        self._zoom = 1.0                          # the zoom the follower set last

    def _camera(self) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """The eye, its axes (rows: right, down, forward; world) and the half field of view's
        tangents (across, up), as Open3D has them now."""
        pinhole = self._view.convert_to_pinhole_camera_parameters()
        extrinsic = np.asarray(pinhole.extrinsic)
        intrinsic = pinhole.intrinsic
        (fx, fy), (cx, cy) = intrinsic.get_focal_length(), intrinsic.get_principal_point()
        # Open3D builds the extrinsic from its stored up vector as given: not always at right
        # angles to the line of sight, which the picture's own axes are.
        forward = extrinsic[2, :3] / np.linalg.norm(extrinsic[2, :3])
        right = extrinsic[0, :3] - (extrinsic[0, :3] @ forward) * forward
        right /= np.linalg.norm(right)
        return -extrinsic[:3, :3].T @ extrinsic[:3, 3], np.stack([right, np.cross(forward, right), forward]), \
            (cx / fx, cy / fy)

    def eye_distance(self) -> float:
        """The eye's distance from the look-at point along its line of sight (m); after a pan
        (which moves Open3D's look-at point sideways) still the distance the zoom sets."""
        eye, axes, _ = self._camera()
        return float(abs(np.dot(self._look_at - eye, axes[2])))

    def reset(self) -> None:
        """The default direction, and distances as the follower computes them (key R)."""
        front = np.asarray(VIEW_FRONT) / np.linalg.norm(VIEW_FRONT)
        up = np.asarray(VIEW_UP) - (np.asarray(VIEW_UP) @ front) * front  # at right angles to the line of sight
        self._view.set_front(front)
        self._view.set_up(up / np.linalg.norm(up))
        self._user_scale = 1.0
        self._set_distance = None
        if self._look_at is not None:
            self._apply()

    def target(self, camera_position: np.ndarray, pelvis: np.ndarray) -> tuple[np.ndarray, float]:
        """(look-at point [3], eye distance in m) that keeps the camera and the person in view
        from the direction the view has now."""
        look_at = look_at_point(camera_position, pelvis)
        _, axes, tangents = self._camera()
        return look_at, fit_distance(key_points(camera_position, pelvis), look_at, axes, tangents)

    def update(self, camera_position: np.ndarray, pelvis: np.ndarray, time_s: float, jump: bool = False) -> None:
        """Glide towards the target for this frame; jump there at once for the first person (the
        view starts on a stand-in pose) and when time goes back (another video)."""
        # A scroll since the last update is the user's zoom; measured from the look-at point the
        # view still has (the new one lies elsewhere along the line of sight).
        if self._set_distance is not None:
            now = self.eye_distance()
            if abs(now - self._set_distance) > 1e-3 * self._set_distance:
                self._user_scale *= now / self._set_distance
        look_at, distance = self.target(camera_position, pelvis)
        if jump or self._look_at is None or self._time is None or time_s < self._time:
            self._look_at, self._distance = look_at, distance
        else:
            keep = math.exp(-(time_s - self._time) / VIEW_SMOOTHING_S)
            self._look_at = keep * self._look_at + (1.0 - keep) * look_at
            self._distance = keep * self._distance + (1.0 - keep) * distance
        self._time = time_s
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
