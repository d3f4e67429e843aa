"""The critic's impossible poses (models/negatives.py)."""
import numpy as np

from models.negatives import limb_flipped_in_depth


def test_limb_flipped_negatives_look_the_same_from_their_camera_but_differ_in_depth():
    import torch
    from core.camera import random_camera_rotations
    from core.skeleton import bone_lengths
    from tests.poses import standing_pose
    poses = torch.from_numpy(np.repeat(standing_pose()[None], 64, axis=0).astype(np.float32))
    flipped = limb_flipped_in_depth(poses, np.random.default_rng(3))
    cameras = torch.from_numpy(random_camera_rotations(64, np.random.default_rng(3)).astype(np.float32))
    view = lambda p: p @ cameras[:, :2].transpose(1, 2)                      # noqa: E731
    assert torch.allclose(view(flipped), view(poses), atol=1e-4)              # the same 2D from that camera
    np.testing.assert_allclose(bone_lengths(flipped.numpy()), bone_lengths(poses.numpy()), atol=1e-3)
    moved = (flipped - poses).norm(dim=-1) > 1e-3                             # [64, 17]
    assert 1 <= moved.sum(1).min() and moved.sum(1).max() <= 2               # one limb: 1 or 2 joints
    limbs = {tuple(np.flatnonzero(m)) for m in moved.numpy() if m.any()}
    assert len(limbs) >= 6                                                    # arms and legs alike
