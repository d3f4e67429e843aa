"""The camera lock: a camera that does not move is estimated once and then held.

A single frame cannot tell a squat from a camera tilting down at a standing person: both give the
same 2D. Webcams and most videos do not move, so the lock takes the camera's elevation and roll as the
median of the lifter's own estimates so far, which settles within a second or two, and every
frame is lifted under that camera (core.lifter.Lifter.lift(..., camera_angles)), so that the pose, not the
camera, explains what the person does.

    lock = CameraLock()
    angles = lock.update(free_camera, time_s)   # the camera to lift this frame under
    state = lock.state                           # for the viewer's status line: locked yet?

It lets go when the camera moves (a phone in the hand): the free lifts, which it keeps watching,
disagree with the locked camera by more than `release_deg` over the last `release_s` seconds.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from core.lifter import Lifter, LiftResult
from core.camera import camera_angles

MODES = ("auto", "off")


@dataclass
class CameraLockSettings:
    warmup_s: float = 2.0        # seconds of free lifts before the camera is locked
    min_frames: int = 8          # and at least this many of them
    release_deg: float = 30.0    # the free lifts' median this far from the lock (elevation or roll) ...
    release_s: float = 3.0       # ... over this long means the camera moved: estimate it again
    refine_deg_per_s: float = 1.0  # how fast a lock may follow the median of the estimates since
    memory: int = 600            # free estimates the locked camera is the median of (the lock refines)


@dataclass
class CameraLockState:
    locked: bool
    elevation_deg: float | None = None   # of the locked camera; positive looking down
    roll_deg: float | None = None

    def describe(self) -> str:
        if not self.locked:
            return "camera: estimating"
        return f"camera locked: {self.elevation_deg:+.0f} deg elevation, {self.roll_deg:+.0f} deg roll"


class CameraLock:
    """Robust running estimate of a static camera's (elevation, roll), radians."""

    def __init__(self, settings: CameraLockSettings | None = None):
        self.settings = settings or CameraLockSettings()
        self.reset()

    def reset(self) -> None:
        self._recent: deque[tuple[float, np.ndarray]] = deque()   # (time, angles) of the last seconds
        self._since_lock: deque[np.ndarray] = deque(maxlen=self.settings.memory)
        self._started: float | None = None   # when the camera was last (re)learnt
        self._last = 0.0                      # the previous frame's time
        self.locked: np.ndarray | None = None

    @property
    def state(self) -> CameraLockState:
        if self.locked is None:
            return CameraLockState(False)
        elevation, roll = np.rad2deg(self.locked)
        return CameraLockState(True, float(elevation), float(roll))

    def update(self, free_camera: np.ndarray, time_s: float) -> np.ndarray:
        """Feed one frame's camera K [2,3] from the free lift; returns the (elevation, roll) [2]
        radians to lift this frame under: the median of the free estimates since the camera was
        last (re)learnt. Until `warmup_s` have passed that median is provisional (state.locked is
        False) but already far steadier than any one frame's estimate."""
        s = self.settings
        angles = camera_angles(free_camera)
        if self._started is None:
            self._started = time_s
        if not np.isfinite(angles).all():
            return self.locked if self.locked is not None else self._provisional()
        self._recent.append((time_s, angles))
        while self._recent and self._recent[0][0] < time_s - max(s.warmup_s, s.release_s) - 1e-9:
            self._recent.popleft()
        if self.locked is not None:
            recent = np.stack([a for t, a in self._recent if t >= time_s - s.release_s - 1e-9])
            watched = time_s - self._recent[0][0] >= s.release_s - 1e-9 and len(recent) >= s.min_frames
            if watched and np.abs(np.median(recent, axis=0) - self.locked).max() > np.deg2rad(s.release_deg):
                # the camera moved: learn it again from the last frames, which saw where it went
                self._since_lock = deque(recent[-s.min_frames:], maxlen=s.memory)
                self._recent = deque([(time_s, angles)])
                self._started = time_s
                self.locked = None
                return self._provisional()
        self._since_lock.append(angles)
        if self.locked is not None:
            # the median of all estimates since the lock converges on the camera, but the person's
            # motion swings it: follow it no faster than refine_deg_per_s
            step = np.deg2rad(s.refine_deg_per_s) * max(time_s - self._last, 0.0)
            self.locked = self.locked + np.clip(self._provisional() - self.locked, -step, step)
        elif len(self._since_lock) >= s.min_frames and time_s - self._started >= s.warmup_s - 1e-9:
            self.locked = self._provisional()
        self._last = time_s
        return self.locked if self.locked is not None else self._provisional()

    def _provisional(self) -> np.ndarray | None:
        return np.median(np.stack(self._since_lock), axis=0) if self._since_lock else None


def lift_under_lock(lifter: Lifter, lock: CameraLock | None, keypoints_2d: np.ndarray, time_s: float) -> LiftResult:
    """One frame [17, 2] as the app lifts it: the free lift, whose camera feeds the lock, then, where
    the lock gives a camera, the lift under that camera (the free one if that fails)."""
    lifted = lifter.lift(keypoints_2d)
    if lock is None or not lifted.valid[0]:
        return lifted
    under_camera = lifter.lift(keypoints_2d, lock.update(lifted.camera[0], time_s))
    return under_camera if under_camera.valid[0] else lifted
