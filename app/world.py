"""World space: the lifted person standing on a floor, placed in a room in front of the camera.

    tracker = WorldTracker(fov_deg=60.0)
    placed = tracker.update(pose_3d, camera, keypoints_2d, image_size=(width, height), time_s=t)
    placed.root_world, placed.root_camera, placed.camera_pose, placed.foot_contact, placed.joints_world

The lifter (README, "The lifter contract") gives a pose X in its canonical frame (mm, pelvis at
the origin, +y = gravity) and a weak-perspective camera K with K @ X = (kp - kp[pelvis]) / rms,
rms the root-mean-square pixel distance of the joints from the pelvis. So rms * K maps mm to
pixels: with a pinhole of focal length f (pixels, from an assumed field of view) the pelvis lies
at depth Z = f / (rms * s), s K's scale, on the ray through the pelvis's pixel. K's rotation
turns the canonical frame, and with it gravity, into the camera frame; the floor is the plane
below the lowest ankle (which stands ANKLE_HEIGHT_M above the sole).

Frames. Camera: x right, y down, z forward, metres. World: y up (the floor is y = 0), x the
camera's right made horizontal, z = x cross y (towards the camera's back), origin on the floor
below the camera; the camera looks along about -z. `camera_pose` is [R | position] (3x4) with
x_world = R @ x_camera + position.

The camera is assumed static (a webcam on a desk, a phone on a tripod): the lifter's gravity is
smoothed over CAMERA_SMOOTHING_S, and the floor is a plane fitted to the places the lowest ankle
stood on in the last FLOOR_WINDOW_S (places_stood_on, fit_floor), which also corrects that gravity
once the person has moved about.
The person's distance is smoothed too (One Euro on its logarithm). A foot is in contact when
its ankle is near the floor and slow; a planted foot stands on the floor (the body is raised or
lowered to put it there) and is held where it was put down (the root is shifted horizontally);
both shifts fade out over RELEASE_S once no foot is planted. `root_camera` is as measured;
`root_world` includes those shifts.

numpy only: the app imports no training code.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from app.smoothing import OneEuroFilter
from core.camera import rotation_from_camera
from core.skeleton import JOINT_INDEX, NUM_JOINTS, PELVIS

DEFAULT_FOV_DEG = 60.0         # field of view across the longer side: a typical laptop webcam's horizontal one
ANKLE_HEIGHT_M = 0.08          # the ankle joint of a standing adult above the sole
CONTACT_HEIGHT_M = 0.15        # a lowest ankle this far above its standing height may still touch the floor
CONTACT_STEP_M = 0.05          # ... and so may the other ankle, up to this much higher than it,
CONTACT_SPEED_M_S = 0.5        # ... when it moves slower than this across the line of sight (a swinging foot
                               # moves at 2-4 m/s; one moving along the line of sight is judged by its height)
CAMERA_SMOOTHING_S = 1.0       # time constant of the camera tilt's smoothing
FLOOR_WINDOW_S = 10.0          # the floor is fitted to the lowest ankles of this window
FLOOR_TILT_PRIOR_RAD = 0.05    # how far the floor may tilt from the lifter's gravity without evidence
FLOOR_POINT_NOISE_M = 0.05     # how far a lowest ankle is off the floor (noise, steps)
FLOOR_SPOT_M = 0.25            # lowest ankles seen within this of each other in the image are one place stood on
DEPTH_MIN_CUTOFF_HZ = 0.5      # One Euro on the log of the person's distance: at rest, jitter above 0.5 Hz goes,
DEPTH_BETA = 5.0               # ... and walking at 1.5 m/s at 4 m (0.4 per second) raises it by 2 Hz: little lag
MAX_SHIFT_M = 0.15             # the most a planted foot may hold the root away from where the camera sees it
RELEASE_S = 0.5                # time constant with which the anti-slide shift fades once no foot is planted
ANKLES = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])   # foot_contact order: (left, right)


def focal_length_px(image_size: tuple[float, float], fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """The focal length in pixels of a pinhole whose field of view across the image's longer side
    is `fov_deg`: the side a camera's "horizontal" field of view is given for, also when a phone
    films upright (portrait)."""
    if not 1.0 <= fov_deg <= 170.0:
        raise ValueError(f"field of view must be between 1 and 170 degrees, got {fov_deg}")
    return 0.5 * float(max(image_size)) / math.tan(math.radians(fov_deg) / 2.0)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a to unit vector b (Rodrigues)."""
    axis = np.cross(a, b)
    sine, cosine = np.linalg.norm(axis), float(np.dot(a, b))
    if sine < 1e-12:
        return np.eye(3)  # the rays used here are never opposite
    k = axis / sine
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sine * skew + (1.0 - cosine) * skew @ skew


def fit_floor(ankles: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, float]:
    """The floor under ankle positions [N, 3] (camera frame, m): (its downward normal, its depth
    below the camera along it), the ankles lying on it.

    The lifter's camera tells gravity only to several degrees (a person is nearly flat, so the
    tilt of the camera towards them is weakly seen, and perspective biases it), which at 5 m
    tilts the floor by tens of cm. Where the person has walked about, the ankles they stood on
    show the floor's tilt: a least-squares plane through them, held to the lifter's gravity
    `down` by a prior (FLOOR_TILT_PRIOR_RAD against FLOOR_POINT_NOISE_M per ankle), so that a
    person standing in one place keeps the lifter's gravity."""
    basis = np.linalg.svd(down[None, :])[2][1:]           # two unit vectors perpendicular to down
    along = ankles @ down
    design = np.concatenate([ankles @ basis.T, -np.ones((len(ankles), 1))], axis=1) / FLOOR_POINT_NOISE_M
    prior = np.concatenate([np.eye(2), np.zeros((2, 1))], axis=1) / FLOOR_TILT_PRIOR_RAD
    solution = np.linalg.lstsq(np.concatenate([design, prior]),
                               np.concatenate([-along / FLOOR_POINT_NOISE_M, np.zeros(2)]), rcond=None)[0]
    normal = down + solution[:2] @ basis
    length = np.linalg.norm(normal)
    return normal / length, float(solution[2]) / length


def places_stood_on(lowest: "deque[tuple[float, np.ndarray, np.ndarray, float]] | list") -> np.ndarray:
    """The lowest ankles (time, camera-frame position, pixel, pixels per metre) merged into one
    point [N, 3] per place stood on: those whose pixels lie within FLOOR_SPOT_M of each other.

    Standing in one place, the ankle's pixel stays put while its measured distance follows the
    lifter's scale, which changes with the pose (a squat looks farther away): fitted frame by
    frame, those points along one ray tilt the floor and carry the camera up or down by a metre.
    A place stood on counts once, so only walking about, which the image shows, tilts the floor."""
    spots: list[list] = []                                  # [pixel sum, camera-frame sum, count]
    for _, position, pixel, px_per_m in lowest:
        for spot in spots:
            if np.linalg.norm(spot[0] / spot[2] - pixel) <= FLOOR_SPOT_M * px_per_m:
                spot[0], spot[1], spot[2] = spot[0] + pixel, spot[1] + position, spot[2] + 1
                break
        else:
            spots.append([np.array(pixel, dtype=np.float64), np.array(position, dtype=np.float64), 1])
    return np.array([total / count for _, total, count in spots])


@dataclass
class WorldPose:
    """One frame in the room (metres)."""
    root_camera: np.ndarray    # [3] the pelvis in the camera frame, as measured
    root_world: np.ndarray     # [3] the pelvis in the world frame (y up, floor y = 0), planted feet held
    camera_pose: np.ndarray    # [3, 4] [R | position]: x_world = R @ x_camera + position
    foot_contact: np.ndarray   # [2] bool: (left, right) ankle on the floor and still
    joints_world: np.ndarray   # [17, 3] every joint in the world frame (what the viewer and BVH draw)


class WorldTracker:
    """Per frame, in order: the lifter's pose and camera to a person in the room. Keeps the camera
    estimate across frames; forget_person() when the person is lost (contacts start afresh)."""

    def __init__(self, fov_deg: float = DEFAULT_FOV_DEG):
        focal_length_px((1.0, 1.0), fov_deg)  # checks the range now, not at the first frame
        self.fov_deg = float(fov_deg)
        self._down: np.ndarray | None = None              # gravity in the camera frame, smoothed
        # (time, lowest ankle in the camera frame in m, its pixel, pixels per metre at the person)
        self._lowest: deque[tuple[float, np.ndarray, np.ndarray, float]] = deque()
        self._last_time: float | None = None
        self._previous_feet: np.ndarray | None = None     # [2, 2] the ankles' pixels in the last frame
        self._anchors: list[np.ndarray | None] = [None, None]  # where each planted foot was put down (x, z)
        self._shift = np.zeros(2)                         # anti-slide shift of the root (x, z)
        self._lift = 0.0                                  # vertical shift that puts a planted foot on the floor
        self._depth_filter = OneEuroFilter(DEPTH_MIN_CUTOFF_HZ, DEPTH_BETA)  # on log depth

    def forget_person(self) -> None:
        self._depth_filter.reset()
        self._previous_feet = None
        self._anchors = [None, None]
        self._shift = np.zeros(2)
        self._lift = 0.0

    def update(self, pose_3d: np.ndarray, camera: np.ndarray, keypoints_2d: np.ndarray,
               image_size: tuple[int, int], time_s: float) -> WorldPose:
        """Place one lifted frame. pose_3d [17, 3] mm canonical, camera [2, 3] K, keypoints_2d
        [17, 2] the pixels the lifter was given, image_size (width, height)."""
        pose = np.asarray(pose_3d, dtype=np.float64).reshape(NUM_JOINTS, 3) / 1000.0
        keypoints = np.asarray(keypoints_2d, dtype=np.float64).reshape(NUM_JOINTS, 2)
        width, height = image_size
        focal = focal_length_px(image_size, self.fov_deg)
        dt = 0.0 if self._last_time is None else max(0.0, time_s - self._last_time)
        self._last_time = time_s

        # Distance. rms * K maps metres to pixels; off the optical axis a pinhole also magnifies
        # along the ray's tilt t (its local map is f/Z [I | -t], singular values 1 and
        # sqrt(1 + |t|^2)), which K's mean singular value s averages.
        rotation_k, scale = rotation_from_camera(np.asarray(camera, dtype=np.float64).reshape(2, 3))
        pelvis_px = keypoints[PELVIS]
        rms = math.sqrt(float(np.mean(np.sum((keypoints - pelvis_px) ** 2, axis=1))))
        tilt = (pelvis_px - np.array([width / 2.0, height / 2.0])) / focal
        magnification = 0.5 * (1.0 + math.sqrt(1.0 + float(tilt @ tilt)))
        depth = focal * magnification / max(rms * float(scale) * 1000.0, 1e-9)  # K is per mm
        # The lifter's scale jitters by several per cent from frame to frame (metres at a few
        # metres' distance); a person's distance changes smoothly.
        depth = math.exp(float(self._depth_filter(np.array([math.log(depth)]), time_s)[0]))
        ray = np.array([tilt[0], tilt[1], 1.0])
        root_camera = depth * ray

        # K's rotation is that of a camera looking straight at the person: turn it by the ray's
        # direction to get the real camera's (a person at the image's edge is seen obliquely).
        rotation = rotation_between(np.array([0.0, 0.0, 1.0]), ray / np.linalg.norm(ray)) @ rotation_k
        joints_camera = root_camera + pose @ rotation.T

        down = rotation[:, 1]  # the canonical frame's +y (gravity) in camera coordinates
        if self._down is None:
            self._down = down
        else:
            keep = math.exp(-dt / CAMERA_SMOOTHING_S)
            self._down = keep * self._down + (1.0 - keep) * down
            self._down = self._down / np.linalg.norm(self._down)
        lower = int(np.argmax(joints_camera[list(ANKLES)] @ self._down))
        px_per_m = rms * float(scale) * 1000.0
        self._lowest.append((time_s, joints_camera[ANKLES[lower]], keypoints[ANKLES[lower]], px_per_m))
        while self._lowest and self._lowest[0][0] < time_s - FLOOR_WINDOW_S:
            self._lowest.popleft()
        down, floor_depth = fit_floor(places_stood_on(self._lowest), self._down)
        up = -down
        right = np.array([1.0, 0.0, 0.0]) - up[0] * up
        right /= np.linalg.norm(right)
        world_from_camera = np.stack([right, up, np.cross(right, up)])   # rows: world axes in camera coordinates
        position = np.array([0.0, floor_depth + ANKLE_HEIGHT_M, 0.0])

        joints_world = joints_camera @ world_from_camera.T + position
        # The feet's speed from the image (metres across the line of sight at the person's
        # distance): the measured distance jitters too much between frames to difference positions.
        contact = self._contacts(joints_world[list(ANKLES)], keypoints[list(ANKLES)], px_per_m, dt)
        joints_world[:, [0, 2]] += self._shift
        joints_world[:, 1] += self._lift
        return WorldPose(root_camera=root_camera, root_world=joints_world[PELVIS].copy(),
                         camera_pose=np.concatenate([world_from_camera, position[:, None]], axis=1),
                         foot_contact=contact, joints_world=joints_world)

    def _contacts(self, feet: np.ndarray, feet_px: np.ndarray, px_per_m: float, dt: float) -> np.ndarray:
        """Which ankles touch the floor, and the horizontal shift that holds the planted ones still."""
        if self._previous_feet is None or dt <= 0.0:
            speed = np.zeros(2)
        else:
            speed = np.linalg.norm(feet_px - self._previous_feet, axis=1) / max(px_per_m, 1e-9) / dt
        self._previous_feet = feet_px.copy()
        # Heights measured through the camera scatter by several cm (the lifter's scale and
        # tilt); the two ankles' heights relative to each other come from the pose and are sharper.
        lowest = float(feet[:, 1].min())
        near = (feet[:, 1] <= lowest + CONTACT_STEP_M) & (lowest <= ANKLE_HEIGHT_M + CONTACT_HEIGHT_M)
        contact = near & (speed <= CONTACT_SPEED_M_S)
        # A planted foot stands on the floor: lift or lower the body so that it does (the
        # measured height would float or sink it by the scatter above); in the air, as measured.
        keep = math.exp(-dt / RELEASE_S)
        self._lift = (ANKLE_HEIGHT_M - float(feet[contact, 1].min())) if contact.any() else self._lift * keep
        wanted = []
        for foot in range(2):
            if not contact[foot]:
                self._anchors[foot] = None
                continue
            if self._anchors[foot] is None:  # put down now: held where it is drawn this frame
                self._anchors[foot] = feet[foot, [0, 2]] + self._shift
            wanted.append(self._anchors[foot] - feet[foot, [0, 2]])
        if wanted:
            # The camera's measurement is absolute, walking on planted feet is odometry that
            # drifts with every error of the pose: the shift stays within MAX_SHIFT_M of the
            # measurement (beyond it the planted feet slide, and are put down there again).
            shift = np.mean(wanted, axis=0)
            length = float(np.linalg.norm(shift))
            if length > MAX_SHIFT_M:
                shift *= MAX_SHIFT_M / length
                for foot in range(2):
                    if self._anchors[foot] is not None:
                        self._anchors[foot] = feet[foot, [0, 2]] + shift
            self._shift = shift
        else:
            self._shift = self._shift * keep
        return contact
