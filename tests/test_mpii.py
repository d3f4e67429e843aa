"""MPII Human Pose (models/data/mpii.py): the 16 -> 17 joint mapping and the split loaders."""
from __future__ import annotations

import numpy as np
import pytest

from core.skeleton import JOINT_INDEX
from models.data import DataError
from models.data.mpii import load_mpii_2d, mpii_to_h36m


def test_mpii_mapping_on_known_values():
    parts = np.arange(32, dtype=float).reshape(1, 16, 2) * 10 + 100    # joint k at (100+20k, 110+20k)
    parts = np.concatenate([parts, parts, parts, np.full((1, 16, 2), -1.0)])
    parts[1, 0] = -1            # r ankle missing (CSV style)
    parts[2, 6] = 0             # pelvis missing (HDF5 style)
    keypoints, weights = mpii_to_h36m(parts)
    assert keypoints.shape == (3, 17, 2) and weights.shape == (3, 17)   # the all-missing row is dropped
    mpii = lambda k: parts[0, k]
    j = JOINT_INDEX
    expected = {"pelvis": mpii(6), "right_ankle": mpii(0), "left_hip": mpii(3), "thorax": mpii(7),
                "spine": (mpii(6) + mpii(7)) / 2, "neck_nose": (mpii(8) + mpii(9)) / 2, "head": mpii(9),
                "right_wrist": mpii(10), "left_shoulder": mpii(13), "left_wrist": mpii(15)}
    for name, xy in expected.items():
        np.testing.assert_allclose(keypoints[0, j[name]], xy)
    assert (weights[0] == 1).all()
    # a missing joint: weight 0, placed on the pelvis
    assert weights[1, j["right_ankle"]] == 0 and weights[1].sum() == 16
    np.testing.assert_allclose(keypoints[1, j["right_ankle"]], mpii(6))
    # a missing pelvis: it and spine (derived from it) get weight 0, placeholders are finite
    assert weights[2, j["pelvis"]] == 0 and weights[2, j["spine"]] == 0 and weights[2].sum() == 15
    assert np.isfinite(keypoints).all()


def test_mpii_loaders(data_root):
    train, train_w = load_mpii_2d(data_root, split="train")
    everything, _ = load_mpii_2d(data_root, split="all")
    valid, valid_w = load_mpii_2d(data_root / "mpii", split="valid")
    assert len(everything) == 17372 and len(valid) == 2958
    valid_names = set((data_root / "mpii/pose_hg_train_annot/valid_images.txt").read_text().split())
    assert 0 < len(everything) - len(train) <= len(valid_names)
    for kp, w in ((train, train_w), (valid, valid_w)):
        assert kp.shape[1:] == (17, 2) and w.shape == kp.shape[:2] and np.isfinite(kp).all()
        assert set(np.unique(w)) <= {0.0, 1.0} and w.mean() > 0.85
    with pytest.raises(DataError, match="unknown MPII split"):
        load_mpii_2d(data_root, split="test")
