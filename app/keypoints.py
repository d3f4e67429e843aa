"""2D keypoints: MediaPipe Pose (BlazePose GHUM, 33 landmarks) in video mode.

    with PoseDetector() as detector:
        keypoints = detector.detect(frame_bgr)   # Keypoints2D, or None when nobody is found
        keypoints.landmarks, keypoints.visibility  # [33, 2] pixels, [33] in [0, 1]

Video mode (static_image_mode=False) detects the person once and then tracks them from the
previous frame's landmarks: faster than detecting in every frame, and with several people in view
it keeps following the most prominent one it locked onto instead of jumping between them.

MediaPipe's own landmark smoothing is off by default: its legacy API feeds the graph simulated
30 fps timestamps, so it would smooth a 5 fps video or a camera dropping frames with the wrong
clock. The pipeline smooths with a One Euro filter on real timestamps instead (app/smoothing.py),
which --no-smoothing can switch off.

Only model_complexity=1 ships inside the mediapipe 0.10.21 wheel; 0 (lite) and 2 (heavy) would be
downloaded at run time, which fails offline, so they are refused unless already installed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

_MODEL_FILES = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


class DetectorError(Exception):
    """MediaPipe cannot run with the requested settings or input; the message says why."""


@dataclass
class Keypoints2D:
    landmarks: np.ndarray          # [33, 2] float32 pixels (x right, y down); may lie outside the image
    visibility: np.ndarray         # [33] float32 in [0, 1]: MediaPipe's confidence the landmark is visible
    _world: object = field(default=None, repr=False)  # MediaPipe's pose_world_landmarks message, or None

    @property
    def world_landmarks(self) -> np.ndarray | None:
        """[33, 3] float32 metres, hip-centred, y down: MediaPipe's own 3D estimate, or None. Converted
        when read, not in every frame: the app never reads it (evaluation.real_video compares with it)."""
        if self._world is None:
            return None
        return np.array([(lm.x, lm.y, lm.z) for lm in self._world.landmark], dtype=np.float32)


def _landmark_model_path(model_complexity: int) -> Path:
    import mediapipe
    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / _MODEL_FILES[model_complexity]


class PoseDetector:
    """MediaPipe Pose on BGR frames, one person, landmarks in pixels."""

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = False):
        if model_complexity not in _MODEL_FILES:
            raise DetectorError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        import mediapipe as mp  # imported here: loading it takes a second, and the CLI checks inputs first
        if not _landmark_model_path(model_complexity).is_file():
            raise DetectorError(
                f"MediaPipe's model for model_complexity={model_complexity} is not installed and would be "
                "downloaded at run time (this tool works offline); use model_complexity=1, which ships in the wheel")
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False, model_complexity=model_complexity, smooth_landmarks=smooth_landmarks,
            enable_segmentation=False, min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)
        self._closed = False

    def detect(self, frame_bgr: np.ndarray, frame_rgb: np.ndarray | None = None) -> Keypoints2D | None:
        """Landmarks of the tracked person in this frame, or None when nobody is found.

        `frame_rgb`: the same frame already converted to RGB (app.capture does it on its reader
        thread), which saves the conversion here.
        """
        if self._closed:
            raise DetectorError("PoseDetector.detect called after close()")
        if not (isinstance(frame_bgr, np.ndarray) and frame_bgr.ndim == 3 and frame_bgr.shape[2] == 3
                and frame_bgr.dtype == np.uint8 and frame_bgr.shape[0] > 0 and frame_bgr.shape[1] > 0):
            shape = getattr(frame_bgr, "shape", None)
            raise DetectorError(f"frames must be H x W x 3 uint8 BGR images, got {type(frame_bgr).__name__} {shape}")
        if frame_rgb is None:
            frame_rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            frame_rgb.flags.writeable = False  # lets MediaPipe wrap the buffer without copying
        elif frame_rgb.shape != frame_bgr.shape:
            raise DetectorError(f"frame_rgb has shape {frame_rgb.shape} but frame_bgr {frame_bgr.shape}: "
                                "pass the same frame in both orders")
        result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            return None
        height, width = frame_bgr.shape[:2]
        values = np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark], dtype=np.float32)
        landmarks = values[:, :2] * np.array([width, height], dtype=np.float32)
        return Keypoints2D(landmarks, np.clip(values[:, 2], 0.0, 1.0), result.pose_world_landmarks)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pose.close()

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
