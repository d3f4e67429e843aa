"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) over arrays, driven by timestamps.

A low-pass filter whose cutoff rises with speed: at rest a low cutoff removes jitter, in fast
motion a higher cutoff removes lag. Per element of the array:

    alpha(fc, dt) = 1 / (1 + tau / dt),  tau = 1 / (2 pi fc)
    dx_hat = lowpass(dx / dt, alpha(d_cutoff, dt))          # smoothed speed
    fc     = min_cutoff + beta * |dx_hat|
    x_hat  = lowpass(x, alpha(fc, dt))

Time comes from the frames' timestamps, not from a frame counter, so a 5 fps video, a 60 fps one
and a camera that drops frames are all smoothed alike. min_cutoff is in Hz, beta in 1/(value
unit): the pipeline filters keypoints in image heights, so its defaults do not depend on the
resolution.
"""
from __future__ import annotations

import math

import numpy as np

MIN_CUTOFF_HZ = 1.0   # jitter at rest is cut above ~1 Hz
BETA = 5.0            # per image height per second of speed, the cutoff rises by 5 Hz (see docs/pipeline.md)
D_CUTOFF_HZ = 1.0     # the speed estimate itself is smoothed at 1 Hz (the paper's value)


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Smooths a stream of same-shaped arrays: `filtered = f(x, t)`; `reset()` forgets the past.

    Elements that are not finite pass through unchanged and leave that element's state as it was,
    so one NaN never poisons later frames. A timestamp that does not advance holds the last output.
    """

    def __init__(self, min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ):
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError(f"need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {min_cutoff}, {d_cutoff}, {beta}")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None    # last filtered value
        self._dx: np.ndarray | None = None   # last filtered speed
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if not dt > 0:  # same frame twice, or time went backwards: nothing new to learn
            return np.where(np.isfinite(x), self._x, x)
        self._t = t
        known = np.isfinite(self._x)
        fresh = np.isfinite(x)
        update = fresh & known
        with np.errstate(invalid="ignore", over="ignore"):
            dx = np.where(update, (x - self._x) / dt, 0.0)
            dx_hat = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
            cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
            x_hat = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._dx = np.where(update, dx_hat, np.where(fresh, 0.0, self._dx))
        # An element seen for the first time (or again after being non-finite) starts from its value.
        self._x = np.where(update, x_hat, np.where(fresh, x, self._x))
        return np.where(fresh, self._x, x)
