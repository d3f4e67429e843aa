"""Joints MediaPipe marks as not visible: held relative to the pelvis for a moment, then MediaPipe's guess."""
from __future__ import annotations

import numpy as np

from app.occlusion import OcclusionFilter
from core.skeleton import JOINT_INDEX, NUM_JOINTS, PELVIS

WRIST = JOINT_INDEX["left_wrist"]


def pose(shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(100, 400, (NUM_JOINTS, 2)) + shift


def test_visible_joints_pass_unchanged():
    f = OcclusionFilter()
    kp = pose()
    out, held = f(kp, np.ones(NUM_JOINTS), 0.0)
    np.testing.assert_array_equal(out, kp)
    assert not held.any()


def test_a_briefly_hidden_joint_rides_along_with_the_pelvis():
    f = OcclusionFilter(threshold=0.5, hold_seconds=0.5)
    seen = pose()
    f(seen, np.ones(NUM_JOINTS), 0.0)
    moved = pose(shift=30.0)                 # the whole body moved 30 px ...
    moved[WRIST] = [0.0, 0.0]                # ... and MediaPipe's guess for the hidden wrist is wild
    vis = np.ones(NUM_JOINTS)
    vis[WRIST] = 0.1
    out, held = f(moved, vis, 0.2)
    assert held[WRIST] and held.sum() == 1
    np.testing.assert_allclose(out[WRIST], seen[WRIST] + 30.0)  # last confident place, moved with the pelvis
    np.testing.assert_array_equal(np.delete(out, WRIST, 0), np.delete(moved, WRIST, 0))


def test_after_the_hold_time_mediapipes_guess_is_used():
    f = OcclusionFilter(threshold=0.5, hold_seconds=0.5)
    f(pose(), np.ones(NUM_JOINTS), 0.0)
    vis = np.ones(NUM_JOINTS)
    vis[WRIST] = 0.1
    guess = pose()
    guess[WRIST] = [5.0, 6.0]
    out, held = f(guess, vis, 0.8)
    assert not held[WRIST]
    np.testing.assert_array_equal(out[WRIST], [5.0, 6.0])


def test_a_joint_never_seen_is_not_invented():
    f = OcclusionFilter()
    vis = np.ones(NUM_JOINTS)
    vis[WRIST] = 0.0
    kp = pose()
    out, held = f(kp, vis, 0.0)
    assert not held.any()
    np.testing.assert_array_equal(out, kp)


def test_the_pelvis_is_the_anchor_and_never_held():
    f = OcclusionFilter()
    f(pose(), np.ones(NUM_JOINTS), 0.0)
    vis = np.ones(NUM_JOINTS)
    vis[PELVIS] = 0.0
    kp = pose(10.0)
    out, held = f(kp, vis, 0.1)
    assert not held[PELVIS]
    np.testing.assert_array_equal(out[PELVIS], kp[PELVIS])


def test_reset_forgets_the_remembered_positions():
    f = OcclusionFilter()
    f(pose(), np.ones(NUM_JOINTS), 0.0)
    f.reset()
    vis = np.ones(NUM_JOINTS)
    vis[WRIST] = 0.0
    out, held = f(pose(5.0), vis, 0.1)
    assert not held.any()
