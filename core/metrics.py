"""3D pose error metrics as the field reports them (numpy only, vectorized).

Poses are arrays [N, 17, 3] in millimetres, H36M-17 order (core.skeleton). Two kinds of function:

- ``*_errors(pred, gt)`` return per-sample-per-joint errors [N, 17] in mm;
- reducers (``mean_error``, ``per_joint_error``, ``per_frame_error``, ``pck``, ``auc``, ``group_means``)
  turn such errors into numbers. ``mpjpe``, ``pa_mpjpe`` and ``n_mpjpe`` do both in one call.

Protocols:
- MPJPE (Protocol 1): both poses root-relative (pelvis at the origin), Euclidean error per joint.
- PA-MPJPE (Protocol 2): pred aligned to gt by a per-frame similarity transform (rotation, uniform
  scale, translation) fitted by least squares. Reflections are FORBIDDEN: the original RepNet
  evaluation allowed them, which hides depth flips (a mirrored pose scored as correct).
- N-MPJPE: after root-centring, pred scaled by s = sum<p_hat, p> / sum ||p_hat||^2 (no rotation).
- PCK and AUC (MPI-INF-3DHP): percentage of joints with error strictly below 150 mm; AUC is the
  mean PCK over thresholds 0, 5, ..., 150 mm. Both in PERCENT (0-100), as the field reports them.

Missing joints: every function takes an optional ``visibility`` [N, 17] (bool or non-negative
weights). Joints with weight 0 are left out of the alignment fits and of the means, may hold NaN
on input, and get NaN errors on output (pass the same visibility to the reducers). Protocol 1 and
N-MPJPE need the pelvis: a frame whose pelvis is not visible is left out.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from core.skeleton import NUM_JOINTS, PELVIS

PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)  # 0, 5, ..., 150 as in the 3DHP evaluation code


class MetricInputError(ValueError):
    """Poses or masks that cannot be scored (wrong shapes, non-finite visible joints)."""


# --------------------------------------------------------------------------- input checks

def _as_poses(poses: np.ndarray, name: str) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 2:  # a single pose [17, 3]
        poses = poses[None]
    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
        raise MetricInputError(
            f"{name} has shape {poses.shape}; expected [N, {NUM_JOINTS}, 3] poses in mm (H36M-17 order)")
    return poses


def _weights(visibility: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if visibility is None:
        return np.ones(shape)
    weights = np.asarray(visibility, dtype=np.float64)
    if weights.ndim == 1 and shape[0] == 1:
        weights = weights[None]
    if weights.shape != shape:
        raise MetricInputError(f"visibility has shape {weights.shape}; expected {list(shape)} (one weight per joint)")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise MetricInputError("visibility must hold finite, non-negative weights (0 = joint missing)")
    return weights


def _prepare(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked float64 copies of pred and gt with hidden joints zeroed, and the weights [N, 17]."""
    pred, gt = _as_poses(pred, "pred"), _as_poses(gt, "gt")
    if pred.shape != gt.shape:
        raise MetricInputError(f"pred has shape {pred.shape} but gt has {gt.shape}; they must match")
    weights = _weights(visibility, pred.shape[:2])
    shown = weights > 0
    for name, poses in (("pred", pred), ("gt", gt)):
        bad = shown & ~np.all(np.isfinite(poses), axis=-1)
        if bad.any():
            frames = np.unique(np.nonzero(bad)[0])
            raise MetricInputError(
                f"{name} has non-finite visible joints in {len(frames)} frame(s) (first: {frames[0]}); "
                "mark those joints invisible via `visibility` or drop the frames")
    # Hidden joints may hold NaN; zero them so they cannot leak into sums (their weight is 0).
    pred = np.where(shown[..., None], pred, 0.0)
    gt = np.where(shown[..., None], gt, 0.0)
    return pred, gt, weights


def _root_weights(weights: np.ndarray) -> np.ndarray:
    """Protocol 1 is defined relative to the pelvis: frames without a visible pelvis are left out."""
    return weights * (weights[:, PELVIS:PELVIS + 1] > 0)


def root_relative(poses: np.ndarray) -> np.ndarray:
    """Poses [..., 17, D] with the pelvis moved to the origin."""
    poses = np.asarray(poses)
    return poses - poses[..., PELVIS:PELVIS + 1, :]


# --------------------------------------------------------------------------- alignment

def _procrustes(pred: np.ndarray, gt: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted similarity Procrustes (Umeyama 1991) on checked arrays; see procrustes_align."""
    w = weights[..., None]                                   # [N, 17, 1]
    total = np.maximum(w.sum(axis=1, keepdims=True), 1e-12)  # frames with no visible joint: no-op fit
    mu_pred = (w * pred).sum(axis=1, keepdims=True) / total
    mu_gt = (w * gt).sum(axis=1, keepdims=True) / total
    p0, g0 = pred - mu_pred, gt - mu_gt

    H = np.einsum("nj,nja,njb->nab", weights, p0, g0)        # weighted cross-covariance [N, 3, 3]
    U, S, Vt = np.linalg.svd(H)
    V = np.swapaxes(Vt, -1, -2)
    # The sign fix that forbids reflections: flip the weakest axis when V U^T would be improper.
    d = np.sign(np.linalg.det(V @ np.swapaxes(U, -1, -2)))
    D = np.ones_like(S)
    D[:, 2] = np.where(d == 0, 1.0, d)
    R = np.einsum("nab,nb,ncb->nac", V, D, U)                # V diag(D) U^T
    spread = np.einsum("nj,nja,nja->n", weights, p0, p0)
    scale = (S * D).sum(axis=1) / np.maximum(spread, 1e-12)  # collapsed pred: s = 0, pred -> centroid
    return scale[:, None, None] * np.einsum("nab,njb->nja", R, p0) + mu_gt


def _scale_fit(pred: np.ndarray, gt: np.ndarray, weights: np.ndarray) -> np.ndarray:
    # Never negative: a negative scale mirrors the pose through the pelvis, a reflection that
    # PA-MPJPE forbids too; a pose pointing away from the truth scores at scale 0.
    dot = np.maximum(np.einsum("nj,nja,nja->n", weights, pred, gt), 0.0)
    norm = np.einsum("nj,nja,nja->n", weights, pred, pred)
    return (dot / np.maximum(norm, 1e-12))[:, None, None] * pred


def procrustes_align(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """Per-frame similarity transform of pred [N, 17, 3] onto gt [N, 17, 3]: returns the aligned pred.

    Minimises sum_j w_j ||s R p_j + t - g_j||^2 over a proper rotation R (det +1: reflections
    are forbidden), a uniform scale s >= 0 and a translation t. Joints with zero visibility take
    no part in the fit and come back as NaN.
    """
    pred, gt, weights = _prepare(pred, gt, visibility)
    return _hide(_procrustes(pred, gt, weights), weights)


def scale_align(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """The N-MPJPE fit: pred pelvis-centred and scaled by s = max(0, sum<p_hat, p>) / sum ||p_hat||^2.

    Returns the scaled pred [N, 17, 3] (pelvis at the origin; compare with root_relative(gt)).
    """
    pred, gt, weights = _prepare(pred, gt, visibility)
    weights = _root_weights(weights)
    return _hide(_scale_fit(root_relative(pred), root_relative(gt), weights), weights)


def _hide(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """NaN where the weight is 0, so a hidden joint can never pass for a measured one."""
    mask = weights > 0
    return np.where(mask[..., None] if values.ndim == 3 else mask, values, np.nan)


# --------------------------------------------------------------------------- per-joint errors [N, 17]
# With `visibility`, hidden joints (and for Protocol 1 / N-MPJPE every joint of a frame without a
# visible pelvis) get NaN errors: pass the same visibility to the reducers below.

def joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance per sample and joint [N, 17], with no alignment at all."""
    return np.linalg.norm(np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64), axis=-1)


def mpjpe_errors(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """Protocol 1 errors [N, 17] in mm: both poses pelvis-centred, no other alignment."""
    pred, gt, weights = _prepare(pred, gt, visibility)
    return _hide(joint_errors(root_relative(pred), root_relative(gt)), _root_weights(weights))


def pa_mpjpe_errors(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """Protocol 2 errors [N, 17] in mm: pred aligned by a similarity transform (no reflection)."""
    pred, gt, weights = _prepare(pred, gt, visibility)
    return _hide(joint_errors(_procrustes(pred, gt, weights), gt), weights)


def n_mpjpe_errors(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """N-MPJPE errors [N, 17] in mm: pelvis-centred, pred scaled by the least-squares scale."""
    pred, gt, weights = _prepare(pred, gt, visibility)
    weights = _root_weights(weights)
    gt = root_relative(gt)
    return _hide(joint_errors(_scale_fit(root_relative(pred), gt, weights), gt), weights)


# --------------------------------------------------------------------------- reducers

def _checked_errors(errors: np.ndarray, visibility: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Errors [N, J] with hidden entries zeroed, and their weights; NaN at a visible entry is an error."""
    errors = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    weights = _weights(visibility, errors.shape)
    shown = weights > 0
    if np.any(shown & ~np.isfinite(errors)):
        raise MetricInputError(
            "errors are NaN at joints the visibility marks as present; pass the same `visibility` "
            "that computed the errors (Protocol 1 also hides frames without a visible pelvis)")
    return np.where(shown, errors, 0.0), weights


def mean_error(errors: np.ndarray, visibility: np.ndarray | None = None) -> float:
    """Mean over all visible (sample, joint) entries of errors [N, 17] (weighted by visibility)."""
    errors, weights = _checked_errors(errors, visibility)
    if weights.sum() == 0:
        raise MetricInputError("no visible joints to average over")
    # np.float64 is a float that also has .mean(), so callers may treat it like a 0-d array.
    return np.float64((errors * weights).sum() / weights.sum())


def per_joint_error(errors: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """Mean error of each joint over the samples [17]; NaN for a joint never visible."""
    errors, weights = _checked_errors(errors, visibility)
    total = weights.sum(axis=0)
    return np.where(total > 0, (errors * weights).sum(axis=0) / np.where(total > 0, total, 1.0), np.nan)


def per_frame_error(errors: np.ndarray, visibility: np.ndarray | None = None) -> np.ndarray:
    """Mean error of each sample over its visible joints [N]; NaN for a sample with none."""
    errors = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    return per_joint_error(errors.T, None if visibility is None else np.asarray(visibility).T)


def _protocol_weights(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None,
                      needs_root: bool) -> np.ndarray:
    _, _, weights = _prepare(pred, gt, visibility)
    return _root_weights(weights) if needs_root else weights


def mpjpe(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> float:
    """Protocol 1 MPJPE in mm (frames without a visible pelvis are left out)."""
    return mean_error(mpjpe_errors(pred, gt, visibility), _protocol_weights(pred, gt, visibility, True))


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> float:
    """Protocol 2 PA-MPJPE in mm (similarity Procrustes, reflections forbidden)."""
    return mean_error(pa_mpjpe_errors(pred, gt, visibility), _protocol_weights(pred, gt, visibility, False))


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, visibility: np.ndarray | None = None) -> float:
    """N-MPJPE in mm (scale-only alignment after pelvis-centring)."""
    return mean_error(n_mpjpe_errors(pred, gt, visibility), _protocol_weights(pred, gt, visibility, True))


def pck_curve(errors: np.ndarray, thresholds: Sequence[float] | np.ndarray = AUC_THRESHOLDS_MM,
              visibility: np.ndarray | None = None) -> np.ndarray:
    """PCK in percent at each threshold [T]: share of visible joints with error < threshold."""
    errors, weights = _checked_errors(errors, visibility)
    if weights.sum() == 0:
        raise MetricInputError("no visible joints to compute PCK over")
    thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
    # Strict '<' as in the MPI-INF-3DHP evaluation code (mpii_compute_3d_pck.m). One threshold
    # at a time keeps memory at the size of `errors` for whole-dataset arrays.
    hits = np.array([(weights * (errors < t)).sum() for t in thresholds])
    return 100.0 * hits / weights.sum()


def pck(errors: np.ndarray, threshold: float = PCK_THRESHOLD_MM, visibility: np.ndarray | None = None) -> float:
    """3D PCK in percent: share of visible joints with error strictly below `threshold` mm."""
    return np.float64(pck_curve(errors, [threshold], visibility)[0])


def auc(errors: np.ndarray, thresholds: Sequence[float] | np.ndarray = AUC_THRESHOLDS_MM,
        visibility: np.ndarray | None = None) -> float:
    """Area under the PCK curve in percent: mean PCK over thresholds 0, 5, ..., 150 mm."""
    return np.float64(pck_curve(errors, thresholds, visibility).mean())


# --------------------------------------------------------------------------- grouping

def group_indices(labels: Sequence[Hashable] | np.ndarray) -> dict[Hashable, np.ndarray]:
    """Sample indices per label, labels in order of first appearance: {label: int array}."""
    labels = np.asarray(labels)
    unique, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)
    return {unique[k].item(): np.nonzero(inverse.ravel() == k)[0] for k in order}


def group_means(errors: np.ndarray, labels: Sequence[Hashable] | np.ndarray,
                visibility: np.ndarray | None = None) -> dict[Hashable, float]:
    """Mean error per group (e.g. per action): {label: mean over that group's visible joints}.

    `errors` is per frame [N] or per frame and joint [N, 17]; `labels` has one label per frame.
    The Human3.6M convention reports each action's mean and then the mean of those means.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim == 1:
        errors = errors[:, None]
        if visibility is not None:
            visibility = np.asarray(visibility)[:, None]
    if len(labels) != len(errors):
        raise MetricInputError(f"{len(labels)} labels for {len(errors)} frames; give one label per frame")
    errors, weights = _checked_errors(errors, visibility)
    means = {}
    for label, index in group_indices(labels).items():
        if weights[index].sum() > 0:
            means[label] = mean_error(errors[index], weights[index])
    return means
