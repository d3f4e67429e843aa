"""One frame in, one FrameResult out: MediaPipe, the H36M-17 mapping, the occlusion rule, the
One Euro filter, the lifter (under the camera lock) and world space.

    estimator = PoseEstimator(Lifter(model_path), PoseDetector(), EstimatorSettings(fov_deg=70))
    result = estimator.estimate(frame_bgr, index, time_s)

The two halves, detect() (MediaPipe) and lift() (the rest), can run on two threads, as
app.pipeline.run does; lift() keeps state across frames, so frames must reach it in order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from app.camera_lock import CameraLock, lift_under_lock
from app.keypoints import Keypoints2D, PoseDetector
from app.mapping import mediapipe_to_h36m
from app.occlusion import HOLD_SECONDS, VISIBILITY_THRESHOLD, OcclusionFilter
from app.results import FrameResult
from app.smoothing import BETA, MIN_CUTOFF_HZ, OneEuroFilter
from app.stage_times import StageTimes, clocks
from app.world import DEFAULT_FOV_DEG, WorldTracker
from core.lifter import Lifter
from core.skeleton import NUM_JOINTS


@dataclass
class EstimatorSettings:
    smoothing: bool = True
    min_cutoff: float = MIN_CUTOFF_HZ              # One Euro, Hz
    beta: float = BETA                             # One Euro, per image height per second
    visibility_threshold: float = VISIBILITY_THRESHOLD
    hold_seconds: float = HOLD_SECONDS
    camera_lock: str = "auto"                      # "auto": lift under the camera once it is known (app/camera_lock.py)
    fov_deg: float = DEFAULT_FOV_DEG               # the camera's horizontal field of view (app/world.py)


class PoseEstimator:
    """One frame in, one FrameResult out: MediaPipe, H36M mapping, occlusion rule, smoothing, lifting.

    The occlusion rule and the filter keep state across frames; both start afresh whenever the
    person is lost, so a new person never inherits the last one's positions.
    """

    def __init__(self, lifter: Lifter, detector: PoseDetector, settings: EstimatorSettings | None = None,
                 times: StageTimes | None = None):
        self.lifter = lifter
        self.detector = detector
        self.settings = settings or EstimatorSettings()
        self.times = times if times is not None else StageTimes()
        self.occlusion = OcclusionFilter(self.settings.visibility_threshold, self.settings.hold_seconds)
        self.smoother = OneEuroFilter(self.settings.min_cutoff, self.settings.beta)
        # the camera stays locked across frames without a person: they do not move the camera
        self.camera_lock = (CameraLock() if self.settings.camera_lock == "auto" and lifter.can_lift_under_camera
                            else None)
        self.world = WorldTracker(self.settings.fov_deg)  # keeps its camera across frames without a person
        # onnxruntime's first run allocates its buffers: do it now, not in the first frame.
        warm_up = np.stack([np.arange(NUM_JOINTS) * 10.0, np.arange(NUM_JOINTS) * 5.0], axis=1)
        self.lifter.lift(warm_up)
        if self.camera_lock is not None:
            self.lifter.lift(warm_up, np.zeros(2))

    def reset(self) -> None:
        self.occlusion.reset()
        self.smoother.reset()
        self.world.forget_person()

    def estimate(self, image_bgr: np.ndarray, index: int, time_s: float) -> FrameResult:
        """Both halves on one frame (the pipeline runs them on two threads)."""
        return self.lift(self.detect(image_bgr), index, time_s, image_bgr.shape[0], image_bgr.shape[1])

    def detect(self, image_bgr: np.ndarray, image_rgb: np.ndarray | None = None) -> Keypoints2D | None:
        """MediaPipe on one frame: the 33 landmarks in pixels, or None when nobody is found."""
        start = time.perf_counter()
        found = self.detector.detect(image_bgr, image_rgb)
        self.times.add("mediapipe", time.perf_counter() - start)
        return found

    def lift(self, found: Keypoints2D | None, index: int, time_s: float, image_height: int,
             image_width: int | None = None) -> FrameResult:
        """Mapping, occlusion rule, smoothing and lifting. Frames must come in order (filter state)."""
        if found is None:
            self.reset()
            return FrameResult(index, time_s, detected=False)
        mark = clocks()
        keypoints, visibility = mediapipe_to_h36m(found.landmarks, found.visibility)
        mark = self.times.lap("mapping", mark)

        keypoints, held = self.occlusion(keypoints, visibility, time_s)
        mark = self.times.lap("occlusion", mark)

        if self.settings.smoothing:
            # Filter in image heights so that the One Euro parameters do not depend on resolution.
            height = float(image_height)
            keypoints = self.smoother(keypoints / height, time_s) * height
        mark = self.times.lap("smoothing", mark)

        lifted = lift_under_lock(self.lifter, self.camera_lock, keypoints, time_s)
        valid = bool(lifted.valid[0])
        result = FrameResult(index, time_s, detected=True,
                             keypoints_2d=keypoints.astype(np.float32), visibility=visibility.astype(np.float32),
                             pose_3d=lifted.pose_3d[0] if valid else None, camera=lifted.camera[0] if valid else None,
                             held=held)
        if valid and image_width is not None:  # world space needs the image's centre and width (~0.1 ms)
            placed = self.world.update(result.pose_3d, result.camera, keypoints, (image_width, image_height), time_s)
            result.root_world, result.root_camera = placed.root_world, placed.root_camera
            result.camera_pose, result.foot_contact = placed.camera_pose, placed.foot_contact
            result.joints_world = placed.joints_world
        self.times.lap("lifter", mark)
        return result

    def status(self) -> str:
        """One line for the screen: whether the camera is locked (and where), or nothing."""
        return self.camera_lock.state.describe() if self.camera_lock is not None else ""

    def close(self) -> None:
        self.detector.close()
