"""What training draws from (models/training_data.py): group-balanced sampling, the shares of a
generator batch, mirrored 2D poses."""
from __future__ import annotations

import numpy as np
import pytest

from models import training_data
from models.data import DataError
from models.training_data import balanced_cdf


def test_balanced_sampling_evens_out_the_activity_groups():
    labels = np.array(["walk"] * 900 + ["sit"] * 100)
    rng = np.random.default_rng(0)
    for power, sit_share in ((0.0, 0.1), (0.5, 0.25), (1.0, 0.5)):
        draws = labels[np.searchsorted(balanced_cdf(labels, power), rng.random(20000))]
        assert np.mean(draws == "sit") == pytest.approx(sit_share, abs=0.015)


def test_batch_shares():
    assert training_data.batch_shares(0.3, 0.0, has_projections=True) == (0.3, 0.0)
    assert training_data.batch_shares(0.3, 0.1, has_projections=False) == pytest.approx((0.75, 0.25))
    with pytest.raises(DataError, match="add up to at most 1"):
        training_data.batch_shares(0.8, 0.3, has_projections=True)
    with pytest.raises(DataError, match="the generator has no 2D poses"):
        training_data.batch_shares(0.0, 0.0, has_projections=False)


def test_mirrored_2d_poses_swap_sides_and_carry_their_missing_joints_along():
    from core.skeleton import JOINT_INDEX
    keypoints = np.random.default_rng(0).uniform(100, 500, (2, 17, 2))
    weights = np.ones((2, 17))
    weights[0, JOINT_INDEX["left_wrist"]] = 0.0                         # missing in the first pose
    both, both_weights = training_data.with_mirrored_2d(keypoints, weights)
    assert both.shape == (4, 17, 2) and np.array_equal(both[:2], keypoints)
    left, right = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
    assert both[2, right, 0] == -keypoints[0, left, 0] and both[2, right, 1] == keypoints[0, left, 1]
    assert both_weights[2, right] == 0.0 and both_weights[2, left] == 1.0
