"""Joints MediaPipe marks as not visible: hold their last confident place for a moment.

MediaPipe always returns all 33 landmarks; for a hidden hand or a leg out of frame it guesses,
and its visibility score says so. Fed blindly, a guess that jumps about makes the 3D pose jump.
The rule, per H36M joint, with the pelvis as the anchor:

- visibility >= threshold: use MediaPipe's position and remember it relative to the pelvis;
- below the threshold, for up to `hold_seconds` after the joint was last seen confidently: put it
  at pelvis + that remembered offset (the joint rides along with the body, which keeps a hand
  briefly hidden behind the back from jumping);
- below the threshold for longer, or never seen: use MediaPipe's guess, which is then the best
  estimate there is. Such joints keep their low visibility, which the viewer draws as a guess.

The pelvis itself is never held (it is the anchor). A hold is short because the remembered offset
grows wrong as the person moves; half a second covers a hand passing behind the body.
"""
from __future__ import annotations

import numpy as np

from core.skeleton import PELVIS

VISIBILITY_THRESHOLD = 0.5   # MediaPipe's own default for drawing a landmark
HOLD_SECONDS = 0.5


class OcclusionFilter:
    """`keypoints, held = f(keypoints [17, 2], visibility [17], t)`; `held` marks the joints that were
    replaced by their remembered position. `reset()` forgets (call it when the person is lost)."""

    def __init__(self, threshold: float = VISIBILITY_THRESHOLD, hold_seconds: float = HOLD_SECONDS):
        self.threshold = threshold
        self.hold_seconds = hold_seconds
        self.reset()

    def reset(self) -> None:
        self._offset: np.ndarray | None = None   # [17, 2] last confident position minus pelvis
        self._seen_at: np.ndarray | None = None  # [17] time of that position (-inf: never)

    def __call__(self, keypoints: np.ndarray, visibility: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visibility = np.asarray(visibility, dtype=np.float64)
        if self._offset is None or self._offset.shape != keypoints.shape:
            self._offset = np.zeros_like(keypoints)
            self._seen_at = np.full(keypoints.shape[0], -np.inf)
        pelvis = keypoints[PELVIS]
        offset = keypoints - pelvis
        confident = (visibility >= self.threshold) & np.isfinite(offset).all(axis=1)
        self._offset[confident] = offset[confident]
        self._seen_at[confident] = t
        age = t - self._seen_at
        held = ~confident & (age <= self.hold_seconds) & np.isfinite(pelvis).all()
        held[PELVIS] = False
        out = keypoints.copy()
        out[held] = pelvis + self._offset[held]
        return out, held
