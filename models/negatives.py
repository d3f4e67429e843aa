"""Real poses made impossible, for the critic's fakes (models.train.critic_step): a share of
every fake batch shows the critic the errors a single-view lift makes most (a body mirrored in
depth, one limb turned the wrong way in depth), so that it learns to refuse them although their
2D looks right.
"""
from __future__ import annotations

import numpy as np
import torch

from core.camera import random_camera_rotations
from core.skeleton import JOINT_INDEX, PARENTS, subtree
from models.augment import LIMBS


def reflected_in_depth(poses: torch.Tensor) -> torch.Tensor:
    """Canonical poses mirrored in depth without swapping left and right: what a depth-flipped
    lift looks like (the same 2D projection from the front, an impossible body)."""
    return poses * torch.tensor([1.0, 1.0, -1.0])


# Limbs a single-view lift can turn the wrong way in depth: (joint the limb hangs from, joints that
# move), for the upper arms, forearms, thighs and shins (models.augment.LIMBS' bones).
FLIPPABLE_LIMBS: tuple[tuple[int, tuple[int, ...]], ...] = tuple(
    (PARENTS[JOINT_INDEX[bone]], subtree(JOINT_INDEX[bone])) for limb in LIMBS.values() for bone in limb)


def limb_flipped_in_depth(poses: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Canonical poses [B,17,3] with one random limb each mirrored in depth for a random training
    camera: the limb is reflected in the plane through the joint it hangs from, across the camera's
    viewing direction, so the view is unchanged and bone lengths are kept; only its depth is wrong."""
    out = poses.clone()
    depth_axes = torch.from_numpy(random_camera_rotations(len(poses), rng)[:, 2].astype(np.float32))  # [B, 3]
    for i, limb in enumerate(rng.integers(0, len(FLIPPABLE_LIMBS), len(poses))):
        root, moved = FLIPPABLE_LIMBS[limb]
        offset = out[i, list(moved)] - out[i, root]
        out[i, list(moved)] -= 2.0 * (offset @ depth_axes[i]).unsqueeze(-1) * depth_axes[i]
    return out
