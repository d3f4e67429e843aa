"""The MediaPipe-33 -> H36M-17 mapping, joint by joint on known landmark sets, plus properties
over arbitrary inputs (Hypothesis)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.mapping import HEAD_ABOVE_EYES, JOINT_SOURCES, mediapipe_to_h36m
from core.skeleton import JOINT_INDEX, JOINT_NAMES, MIRROR_PERMUTATION, NUM_JOINTS, mirror

J = JOINT_INDEX
# MediaPipe's left/right landmark pairs (odd = left), for mirroring a landmark set.
MP_PAIRS = [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
            (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)]
MP_MIRROR = list(range(33))
for a, b in MP_PAIRS:
    MP_MIRROR[a], MP_MIRROR[b] = b, a

# Landmarks MediaPipe 0.10.21 gave for the shared photo pose.jpg (pixels, x, y, visibility),
# a man in a warrior II pose seen from his right; the top of his skull is at about (488, 251).
POSE_JPG = np.array([
    (463, 287, 1.0), (469, 277, 1.0), (472, 276, 1.0), (475, 275, 1.0), (465, 277, 1.0), (465, 277, 1.0),
    (464, 276, 1.0), (492, 278, 1.0), (474, 278, 1.0), (470, 294, 1.0), (464, 295, 1.0), (545, 321, 1.0),
    (450, 325, 1.0), (623, 323, 1.0), (373, 315, 1.0), (695, 315, 1.0), (302, 308, 0.99), (717, 313, 0.99),
    (280, 307, 0.98), (719, 311, 0.99), (278, 305, 0.98), (709, 312, 0.99), (286, 306, 0.99), (522, 472, 1.0),
    (464, 466, 1.0), (612, 550, 0.99), (357, 492, 0.99), (701, 616, 0.99), (351, 607, 0.99), (710, 626, 0.96),
    (364, 627, 0.98), (733, 634, 0.98), (310, 633, 0.96)], dtype=np.float64)


def distinct_landmarks() -> tuple[np.ndarray, np.ndarray]:
    """Every landmark at its own spot and with its own visibility, so any mix-up shows."""
    i = np.arange(33, dtype=np.float64)
    return np.stack([10.0 * i + 3.0, 1000.0 - 7.0 * i], axis=1), 0.5 + i / 100.0


def test_direct_joints_are_their_landmarks():
    lm, vis = distinct_landmarks()
    joints, joint_vis = mediapipe_to_h36m(lm, vis)
    direct = {"right_hip": 24, "right_knee": 26, "right_ankle": 28, "left_hip": 23, "left_knee": 25,
              "left_ankle": 27, "neck_nose": 0, "left_shoulder": 11, "left_elbow": 13, "left_wrist": 15,
              "right_shoulder": 12, "right_elbow": 14, "right_wrist": 16}
    for name, landmark in direct.items():
        np.testing.assert_allclose(joints[J[name]], lm[landmark], err_msg=name)
        assert joint_vis[J[name]] == pytest.approx(vis[landmark]), name


def test_derived_joints_follow_their_formulas():
    lm, vis = distinct_landmarks()
    joints, joint_vis = mediapipe_to_h36m(lm, vis)
    mid = lambda a, b: (lm[a] + lm[b]) / 2  # noqa: E731
    np.testing.assert_allclose(joints[J["pelvis"]], mid(23, 24))
    np.testing.assert_allclose(joints[J["thorax"]], mid(11, 12))
    np.testing.assert_allclose(joints[J["spine"]], (mid(23, 24) + mid(11, 12)) / 2)
    head = mid(7, 8) + HEAD_ABOVE_EYES * (mid(2, 5) - mid(9, 10))
    np.testing.assert_allclose(joints[J["head"]], head)
    # A derived joint is as visible as its least visible source.
    assert joint_vis[J["pelvis"]] == pytest.approx(min(vis[23], vis[24]))
    assert joint_vis[J["thorax"]] == pytest.approx(min(vis[11], vis[12]))
    assert joint_vis[J["spine"]] == pytest.approx(min(vis[[11, 12, 23, 24]]))
    assert joint_vis[J["head"]] == pytest.approx(min(vis[[2, 5, 7, 8, 9, 10]]))


def test_real_photo_gives_an_upright_chain_and_the_head_at_the_skull_top():
    joints, joint_vis = mediapipe_to_h36m(POSE_JPG[:, :2], POSE_JPG[:, 2])
    y = joints[:, 1]
    # y down: head top above nose above thorax above spine above pelvis above the knees and ankles.
    assert y[J["head"]] < y[J["neck_nose"]] < y[J["thorax"]] < y[J["spine"]] < y[J["pelvis"]]
    assert y[J["pelvis"]] < y[J["left_knee"]] < y[J["left_ankle"]]
    # The top of the skull in the photo is at about (488, 251); hair reaches y = 238.
    np.testing.assert_allclose(joints[J["head"]], [488, 251], atol=6)
    assert joint_vis.min() > 0.9


def test_visibility_of_a_hidden_landmark_reaches_every_joint_built_from_it():
    lm, vis = distinct_landmarks()
    vis = np.ones(33)
    vis[11] = 0.1  # left shoulder hidden
    _, joint_vis = mediapipe_to_h36m(lm, vis)
    low = {name for name in JOINT_NAMES if joint_vis[J[name]] < 0.5}
    assert low == {"left_shoulder", "thorax", "spine"}


def test_every_joint_has_weights_summing_to_one():
    for name, sources in JOINT_SOURCES.items():
        assert sum(w for _, w in sources) == pytest.approx(1.0), name


def test_batches_and_dtypes():
    lm, vis = distinct_landmarks()
    batch = np.stack([lm, lm + 5.0, lm * 2.0]).astype(np.float32)
    joints, joint_vis = mediapipe_to_h36m(batch, np.stack([vis] * 3).astype(np.float32))
    assert joints.shape == (3, NUM_JOINTS, 2) and joint_vis.shape == (3, NUM_JOINTS)
    assert joints.dtype == np.float32
    single, _ = mediapipe_to_h36m(lm + 5.0, vis)
    np.testing.assert_allclose(joints[1], single, rtol=1e-6)
    world = np.concatenate([lm, np.arange(33.0)[:, None]], axis=1)  # [33, 3] (world landmarks)
    assert mediapipe_to_h36m(world, vis)[0].shape == (NUM_JOINTS, 3)


@pytest.mark.parametrize("shape,vis_shape", [((17, 2), (17,)), ((33,), (33,)), ((33, 2), (17,))])
def test_wrong_shapes_are_refused(shape, vis_shape):
    with pytest.raises(ValueError):
        mediapipe_to_h36m(np.zeros(shape), np.zeros(vis_shape))


# --- properties over arbitrary inputs -------------------------------------------------------------
coordinates = arrays(np.float64, (33, 2), elements=st.floats(-1e6, 1e6))
visibilities = arrays(np.float64, (33,), elements=st.floats(0.0, 1.0))
any_floats = arrays(np.float64, (33, 2), elements=st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=60, deadline=None)
@given(coordinates, visibilities, st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.floats(0.01, 100.0))
def test_mapping_commutes_with_translation_and_scale(lm, vis, dx, dy, scale):
    joints, joint_vis = mediapipe_to_h36m(lm, vis)
    moved, moved_vis = mediapipe_to_h36m(lm * scale + [dx, dy], vis)
    np.testing.assert_allclose(moved, joints * scale + [dx, dy], rtol=1e-9, atol=1e-6 * (1 + scale * 1e6))
    np.testing.assert_array_equal(moved_vis, joint_vis)
    assert ((joint_vis >= 0) & (joint_vis <= 1)).all()


@settings(max_examples=60, deadline=None)
@given(coordinates, visibilities)
def test_mapping_commutes_with_mirroring(lm, vis):
    """Mirroring the image (x -> -x, MediaPipe's left and right swapped) mirrors the H36M pose."""
    joints, joint_vis = mediapipe_to_h36m(lm, vis)
    flipped = lm[MP_MIRROR] * [-1.0, 1.0]
    mirrored, mirrored_vis = mediapipe_to_h36m(flipped, vis[MP_MIRROR])
    np.testing.assert_allclose(mirrored, mirror(joints), atol=1e-6)
    np.testing.assert_array_equal(mirrored_vis, joint_vis[list(MIRROR_PERMUTATION)])


@settings(max_examples=100, deadline=None)
@given(any_floats, visibilities)
def test_non_finite_landmarks_reach_only_the_joints_built_from_them(lm, vis):
    joints, _ = mediapipe_to_h36m(lm, vis)  # never raises, whatever the values
    bad_landmarks = set(np.flatnonzero(~np.isfinite(lm).all(axis=1)))
    overflow_free = np.abs(lm[np.isfinite(lm)]).max(initial=0.0) < 1e300  # sums of huge values may overflow
    for j, sources in enumerate(JOINT_SOURCES.values()):
        if overflow_free and not bad_landmarks & {landmark for landmark, _ in sources}:
            assert np.isfinite(joints[j]).all(), JOINT_NAMES[j]
