"""The One Euro filter: less jitter at rest, little lag in motion, driven by timestamps."""
from __future__ import annotations

import numpy as np
import pytest

from app.smoothing import OneEuroFilter


def filtered(signal: np.ndarray, times: np.ndarray, **params) -> np.ndarray:
    f = OneEuroFilter(**params)
    return np.array([f(x, t) for x, t in zip(signal, times)])


def test_jitter_on_a_constant_is_strongly_reduced():
    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0
    noisy = 0.5 + rng.normal(0.0, 0.01, (300, 17, 2))  # keypoints in image heights, ~1% jitter
    out = filtered(noisy, times)
    assert out.shape == noisy.shape
    settled = out[30:]
    assert settled.std(axis=0).mean() < 0.5 * noisy[30:].std(axis=0).mean()
    assert np.abs(settled.mean(axis=0) - 0.5).max() < 0.005  # no bias


def test_a_step_is_followed_quickly():
    times = np.arange(60) / 30.0
    signal = np.where(times < 1.0, 0.0, 0.3)[:, None]  # a hand moving 30% of the image at once
    out = filtered(signal, times)[:, 0]
    after = out[times >= 1.0]
    assert after[0] > 0.0  # it starts moving on the very frame of the step
    assert after[5] > 0.9 * 0.3  # and is within 10% after 1/6 s
    assert after[-1] == pytest.approx(0.3, abs=0.003)


def test_higher_beta_means_less_lag_on_a_fast_move():
    times = np.arange(30) / 30.0
    ramp = (times * 1.5)[:, None]  # 1.5 image heights per second
    lag = {beta: np.abs(filtered(ramp, times, beta=beta)[10:, 0] - ramp[10:, 0]).mean() for beta in (0.0, 2.0, 20.0)}
    assert lag[20.0] < lag[2.0] < lag[0.0]


def test_time_not_frame_count_sets_the_smoothing():
    """The same step seen at 10 fps and at 60 fps: after the same time the output has moved about
    as far (after the same number of frames it has not)."""
    def response(fps: float) -> tuple[np.ndarray, np.ndarray]:
        times = np.arange(int(3 * fps)) / fps
        out = filtered(np.where(times < 1.0, 0.0, 1.0)[:, None], times, beta=0.0)[:, 0]
        return times, out
    (t10, slow), (t60, fast) = response(10.0), response(60.0)
    for seconds in (0.3, 0.5, 1.0):
        at = lambda t, out: out[np.searchsorted(t, 1.0 + seconds - 1e-9)]  # noqa: E731
        assert at(t10, slow) == pytest.approx(at(t60, fast), abs=0.1)
    step10, step60 = np.searchsorted(t10, 1.0), np.searchsorted(t60, 1.0)
    assert slow[step10 + 3] - fast[step60 + 3] > 0.3  # three frames are 0.3 s at 10 fps, 0.05 s at 60


def test_non_finite_elements_pass_through_without_poisoning_later_frames():
    f = OneEuroFilter()
    f(np.array([1.0, 2.0]), 0.0)
    out = f(np.array([np.nan, 2.0]), 0.1)
    assert np.isnan(out[0]) and out[1] == pytest.approx(2.0)
    out = f(np.array([1.0, 2.0]), 0.2)
    assert np.isfinite(out).all() and out[0] == pytest.approx(1.0)


def test_a_timestamp_that_does_not_advance_holds_the_output():
    f = OneEuroFilter()
    f(np.array([0.0]), 1.0)
    first = f(np.array([1.0]), 1.1)
    again = f(np.array([5.0]), 1.1)
    np.testing.assert_allclose(again, first)


def test_reset_forgets_the_past():
    f = OneEuroFilter()
    for t in range(10):
        f(np.array([0.0]), t / 30)
    f.reset()
    np.testing.assert_allclose(f(np.array([7.0]), 1.0), [7.0])  # starts from the new value


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1.0)
