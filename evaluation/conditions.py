"""The 2D input conditions a test set is scored under, all on the same frames: the protocol's 2D
as given, any further inputs the protocol brings (CMU: the detector-like mix), Gaussian jitter
of NOISE_LEVELS_PX (the training data's noise model, models.data.projection.jitter_2d) and
DROPPED_JOINTS joints per frame removed (placed on the pelvis, as training marks missing joints).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.skeleton import NUM_JOINTS, PELVIS
from evaluation.protocols import TestData
from models.data.projection import DETECTOR_LIKE, jitter_2d

NOISE_LEVELS_PX: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)  # std in px for a person 500 px tall
DROPPED_JOINTS: tuple[int, ...] = (1, 2, 4)


def drop_joints(keypoints_2d: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Remove n random joints per frame (never the pelvis, the normalization's origin): each is
    placed on the pelvis, as training marks a joint the detector missed."""
    out = np.array(keypoints_2d, copy=True)
    others = rng.random((len(out), NUM_JOINTS - 1)).argsort(axis=1)[:, :n] + 1  # joint indices 1..16
    frames = np.arange(len(out))[:, None]
    out[frames, others] = out[:, PELVIS:PELVIS + 1]
    return out


def count_conditions(data: TestData) -> int:
    """How many conditions input_conditions yields for `data`."""
    return 1 + len(data.extra_conditions) + len(NOISE_LEVELS_PX) + len(DROPPED_JOINTS)


def input_conditions(data: TestData, seed: int = 0) -> Iterator[dict]:
    """The 2D inputs to evaluate on, one at a time (a whole Human3.6M test set is large):
    {"name", "kind", "noise_px", "dropped_joints", "keypoints_2d"}. Kinds: "given" (first),
    "realistic" (CMU's detector-like mix), "noise" (NOISE_LEVELS_PX), "dropped" (DROPPED_JOINTS)."""
    rng = np.random.default_rng(seed)
    given = data.keypoints_2d.astype(np.float64)
    yield {"name": "as given", "kind": "given", "noise_px": 0.0, "dropped_joints": 0, "keypoints_2d": given}
    for name, keypoints in data.extra_conditions.items():
        yield {"name": name, "kind": "realistic", "noise_px": DETECTOR_LIKE["noise_px"], "dropped_joints": None,
               "keypoints_2d": keypoints}
    for level in NOISE_LEVELS_PX:
        yield {"name": f"noise {level:g} px", "kind": "noise", "noise_px": level, "dropped_joints": 0,
               "keypoints_2d": jitter_2d(given, level, rng)}
    for n in DROPPED_JOINTS:
        yield {"name": f"{n} joint{'s' if n > 1 else ''} dropped", "kind": "dropped", "noise_px": 0.0,
               "dropped_joints": n, "keypoints_2d": drop_joints(given, n, rng)}
