"""Metrics against hand-computed cases, plus invariants that must hold for any pose."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import metrics
from core.camera import rotation_about_x, rotation_about_y, rotation_about_z
from core.skeleton import JOINT_INDEX, NUM_JOINTS, PELVIS
from tests.poses import reaching_pose

POSE = reaching_pose()
LEFT_WRIST = JOINT_INDEX["left_wrist"]


def similarity(poses: np.ndarray, scale: float, angles: tuple[float, float, float],
               translation: tuple[float, float, float]) -> np.ndarray:
    R = rotation_about_z(angles[2]) @ rotation_about_x(angles[1]) @ rotation_about_y(angles[0])
    return scale * poses @ R.T + np.asarray(translation)


def procrustes_allowing_reflection(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The original RepNet evaluation (reflection='best'): only here to show what ours refuses."""
    p0, g0 = pred - pred.mean(0), gt - gt.mean(0)
    U, S, Vt = np.linalg.svd(p0.T @ g0)
    R = Vt.T @ U.T  # may have det -1
    return S.sum() / (p0 ** 2).sum() * p0 @ R.T + gt.mean(0)


def test_identical_poses_score_zero_error_and_full_pck():
    gt = np.stack([POSE, POSE + 50.0])
    assert metrics.mpjpe(gt, gt) == 0.0
    assert metrics.pa_mpjpe(gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.n_mpjpe(gt, gt) == pytest.approx(0.0, abs=1e-9)
    errors = metrics.mpjpe_errors(gt, gt)
    assert metrics.pck(errors) == 100.0
    # Strict '<' as in the 3DHP code: at the 0 mm threshold nothing counts, so AUC tops out at 30/31.
    assert metrics.auc(errors) == pytest.approx(100.0 * 30 / 31)


def test_similarity_transform_gives_zero_pa_mpjpe_but_not_zero_mpjpe():
    pred = similarity(POSE, 1.3, (0.7, -0.4, 0.2), (250.0, -80.0, 4000.0))[None]
    assert metrics.pa_mpjpe(pred, POSE[None]) == pytest.approx(0.0, abs=1e-6)
    assert metrics.mpjpe(pred, POSE[None]) > 100.0
    aligned = metrics.procrustes_align(pred, POSE[None])
    np.testing.assert_allclose(aligned[0], POSE, atol=1e-6)


def test_translation_alone_is_free_under_protocol_1():
    assert metrics.mpjpe(POSE[None] + [500.0, -20.0, 3000.0], POSE[None]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("axis", [0, 2])  # a left-right mirror and a depth flip
def test_reflection_is_not_forgiven_by_pa_mpjpe(axis):
    mirrored = POSE.copy()
    mirrored[:, axis] *= -1.0
    # A reflection-allowing Procrustes would call the mirrored pose perfect ...
    assert metrics.mpjpe(procrustes_allowing_reflection(mirrored, POSE)[None], POSE[None]) < 1e-6
    # ... ours must not: the best proper rotation leaves tens of millimetres of error.
    assert metrics.pa_mpjpe(mirrored[None], POSE[None]) > 40.0
    aligned = metrics.procrustes_align(mirrored[None], POSE[None])[0]
    centred = aligned - aligned.mean(0)
    assert np.linalg.det(centred.T @ (mirrored - mirrored.mean(0))) > 0  # a rotation, not a mirror


def test_scale_only_case_for_n_mpjpe():
    # Uniform scaling about the pelvis (plus any translation) is exactly what N-MPJPE forgives.
    pred = (0.5 * POSE + [30.0, 40.0, 2500.0])[None]
    assert metrics.n_mpjpe(pred, POSE[None]) == pytest.approx(0.0, abs=1e-9)
    mean_radius = np.linalg.norm(POSE, axis=-1).mean()
    assert metrics.mpjpe(pred, POSE[None]) == pytest.approx(0.5 * mean_radius)

    # Hand-computed: gt joints a=(100,0,0), b=(0,100,0); pred has a right and b at the pelvis.
    gt = np.zeros((1, NUM_JOINTS, 3))
    gt[0, 1] = [100, 0, 0]
    gt[0, 2] = [0, 100, 0]
    pred = np.zeros_like(gt)
    pred[0, 1] = [100, 0, 0]
    # s = <p,g> / |p|^2 = 10000 / 10000 = 1, so only b's 100 mm remain, averaged over 17 joints.
    assert metrics.n_mpjpe(pred, gt) == pytest.approx(100.0 / NUM_JOINTS)
    np.testing.assert_allclose(metrics.scale_align(2.0 * pred, gt)[0, 1], [100, 0, 0])


def test_one_joint_off_by_100_mm():
    pred = POSE.copy()
    pred[LEFT_WRIST] += [60.0, 0.0, -80.0]  # |(60, 0, -80)| = 100
    errors = metrics.mpjpe_errors(pred[None], POSE[None])
    expected = np.zeros(NUM_JOINTS)
    expected[LEFT_WRIST] = 100.0
    np.testing.assert_allclose(errors[0], expected, atol=1e-9)
    assert metrics.mpjpe(pred[None], POSE[None]) == pytest.approx(100.0 / 17)
    assert metrics.pck(errors) == 100.0
    assert metrics.pck(errors, threshold=100.0) == pytest.approx(100.0 * 16 / 17)  # strict '<'
    assert metrics.pck(errors, threshold=100.001) == 100.0


def test_moving_the_pelvis_moves_every_other_joint_under_protocol_1():
    pred = POSE.copy()
    pred[PELVIS] += [0.0, 100.0, 0.0]
    assert metrics.mpjpe(pred[None], POSE[None]) == pytest.approx(100.0 * 16 / 17)


@pytest.mark.parametrize("errors, expected", [
    (np.full((4, 17), 72.5), 100.0 * 16 / 31),   # counted from 75 mm on: 16 of 31 thresholds
    (np.full((4, 17), 200.0), 0.0),
    (np.concatenate([np.zeros((2, 17)), np.full((2, 17), 200.0)]), 50.0 * 30 / 31),
])
def test_auc_of_known_error_distributions(errors, expected):
    assert metrics.auc(errors) == pytest.approx(expected)


def test_pck_curve_matches_thresholds():
    errors = np.tile(np.arange(17, dtype=float) * 10.0, (3, 1))  # 0, 10, ..., 160 mm
    curve = metrics.pck_curve(errors, [0.0, 5.0, 45.0, 200.0])
    np.testing.assert_allclose(curve, 100.0 * np.array([0, 1, 5, 17]) / 17)


def test_shapes_of_per_joint_and_per_frame_results():
    rng = np.random.default_rng(0)
    gt = POSE + rng.normal(0, 20, (5, 17, 3))
    pred = gt + rng.normal(0, 30, (5, 17, 3))
    for fn in (metrics.mpjpe_errors, metrics.pa_mpjpe_errors, metrics.n_mpjpe_errors):
        errors = fn(pred, gt)
        assert errors.shape == (5, 17) and np.all(errors >= 0)
        assert metrics.per_joint_error(errors).shape == (17,)
        assert metrics.per_frame_error(errors).shape == (5,)
        assert metrics.per_frame_error(errors).mean() == pytest.approx(metrics.mean_error(errors))
    assert metrics.mpjpe_errors(pred[0], gt[0]).shape == (1, 17)  # a single pose is one sample
    assert metrics.per_joint_error(metrics.mpjpe_errors(pred, gt))[PELVIS] == 0.0


def test_hidden_joints_are_excluded_from_fit_and_mean():
    pred = similarity(POSE, 0.8, (1.0, 0.1, 0.0), (0.0, 0.0, 3000.0))[None]
    gt = POSE[None].copy()
    visibility = np.ones((1, 17), dtype=bool)
    visibility[0, LEFT_WRIST] = False
    corrupted = pred.copy()
    corrupted[0, LEFT_WRIST] += 1000.0
    # Without the mask, the wild joint drags the fit; with it, the rest aligns exactly.
    assert metrics.pa_mpjpe(corrupted, gt) > 10.0
    assert metrics.pa_mpjpe(corrupted, gt, visibility) == pytest.approx(0.0, abs=1e-6)
    # A hidden gt joint may be NaN (missing annotation) and its error comes back NaN, not a number.
    gt[0, LEFT_WRIST] = np.nan
    errors = metrics.pa_mpjpe_errors(pred, gt, visibility)
    assert np.isnan(errors[0, LEFT_WRIST]) and np.isfinite(np.delete(errors, LEFT_WRIST, axis=1)).all()
    assert metrics.mean_error(errors, visibility) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(metrics.MetricInputError, match="same `visibility`"):
        metrics.mean_error(errors)


def test_frames_without_a_visible_pelvis_are_left_out_of_protocol_1():
    gt = np.stack([POSE, POSE])
    pred = gt.copy()
    pred[1] += np.random.default_rng(1).normal(0, 50, (17, 3))
    visibility = np.ones((2, 17))
    visibility[1, PELVIS] = 0
    assert metrics.mpjpe(pred, gt, visibility) == 0.0
    assert np.isnan(metrics.mpjpe_errors(pred, gt, visibility)[1]).all()
    assert metrics.n_mpjpe(pred, gt, visibility) == pytest.approx(0.0, abs=1e-9)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(metrics.MetricInputError, match=r"expected \[N, 17, 3\]"):
        metrics.mpjpe(np.zeros((2, 16, 3)), np.zeros((2, 16, 3)))
    with pytest.raises(metrics.MetricInputError, match="must match"):
        metrics.mpjpe(np.zeros((2, 17, 3)), np.zeros((3, 17, 3)))
    bad = POSE[None].copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(metrics.MetricInputError, match="non-finite visible joints"):
        metrics.pa_mpjpe(bad, POSE[None])
    with pytest.raises(metrics.MetricInputError, match="visibility"):
        metrics.mpjpe(POSE[None], POSE[None], np.ones((2, 17)))


def test_group_means_per_action():
    errors = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    means = metrics.group_means(errors, ["Walking", "Eating", "Walking", "Eating", "Sitting"])
    assert means == {"Walking": 2.0, "Eating": 3.0, "Sitting": 10.0}
    assert list(means) == ["Walking", "Eating", "Sitting"]  # order of first appearance
    # Per joint errors with a mask: a group's mean is over its visible joints only.
    per_joint = np.array([[1.0, 100.0], [3.0, 5.0]])
    visibility = np.array([[1, 0], [1, 1]])
    assert metrics.group_means(per_joint, [7, 7], visibility) == {7: pytest.approx(3.0)}
    idx = metrics.group_indices(np.array([2, 1, 2]))
    assert list(idx) == [2, 1] and idx[2].tolist() == [0, 2]


# --------------------------------------------------------------------------- properties

poses = arrays(np.float64, (NUM_JOINTS, 3), elements=st.integers(-1000, 1000).map(float))
angles = st.tuples(*[st.floats(-np.pi, np.pi)] * 3)
translations = st.tuples(*[st.floats(-5000, 5000)] * 3)
scales = st.floats(0.05, 20.0)


def sum_sq(errors: np.ndarray) -> float:
    return float((errors ** 2).sum())


@settings(max_examples=40, deadline=None)
@given(pred=poses, gt=poses, scale=scales, angle=angles, shift=translations)
def test_pa_mpjpe_is_invariant_to_similarity_transforms_of_pred(pred, gt, scale, angle, shift):
    moved = similarity(pred, scale, angle, shift)
    before = metrics.pa_mpjpe(pred[None], gt[None])
    after = metrics.pa_mpjpe(moved[None], gt[None])
    assert before >= 0.0
    assert after == pytest.approx(before, rel=1e-6, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(gt=poses, scale=scales, angle=angles, shift=translations)
def test_pa_mpjpe_is_zero_for_any_similarity_image(gt, scale, angle, shift):
    moved = similarity(gt, scale, angle, shift)
    assert metrics.pa_mpjpe(moved[None], gt[None]) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(gt=poses, joint=st.integers(0, NUM_JOINTS - 1),
       delta=arrays(np.float64, 3, elements=st.floats(-200, 200)))
def test_pa_mpjpe_is_positive_when_no_similarity_explains_the_pose(gt, joint, delta):
    # Any proper similarity fixing the other 16 joints is the identity when they are not collinear,
    # so moving one joint cannot be undone.
    others = np.delete(gt, joint, axis=0)
    assume(np.linalg.svd(others - others.mean(0), compute_uv=False)[1] > 50.0)
    assume(np.linalg.norm(delta) > 10.0)
    pred = gt.copy()
    pred[joint] += delta
    assert metrics.pa_mpjpe(pred[None], gt[None]) > 1e-3


@settings(max_examples=40, deadline=None)
@given(pred=poses, gt=poses)
def test_fitted_alignments_never_increase_the_squared_error(pred, gt):
    # Each fit minimises the summed squared error over a family containing the one below it:
    # similarity (PA) includes root-centred scaling (N), which includes the identity (Protocol 1).
    p1 = sum_sq(metrics.mpjpe_errors(pred[None], gt[None]))
    n = sum_sq(metrics.n_mpjpe_errors(pred[None], gt[None]))
    pa = sum_sq(metrics.pa_mpjpe_errors(pred[None], gt[None]))
    tolerance = 1e-9 * (1.0 + p1)
    assert pa <= n + tolerance
    assert n <= p1 + tolerance
