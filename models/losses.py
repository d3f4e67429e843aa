"""RepNet's losses: Wasserstein loss with gradient penalty, reprojection and camera losses."""
from __future__ import annotations

import torch

from models.skeleton import JOINT_INDEX, NUM_JOINTS


def default_joint_weights() -> torch.Tensor:
    """Per-joint reprojection weights as in the original code: the pelvis carries no
    information after centring; neck/nose and head top are the least reliable annotations."""
    weights = torch.ones(NUM_JOINTS)
    weights[JOINT_INDEX["pelvis"]] = 0.0
    weights[JOINT_INDEX["neck_nose"]] = 0.1
    weights[JOINT_INDEX["head"]] = 0.1
    return weights


def reprojection_loss(reprojected: torch.Tensor, target: torch.Tensor,
                      weights: torch.Tensor) -> torch.Tensor:
    """Weighted L1 distance between K X and the normalized 2D input.

    `weights` [B, 17] combines the fixed per-joint weights with each joint's confidence, so
    missing or low-visibility joints count less or not at all.
    """
    per_joint = (reprojected - target).abs().sum(-1)
    return (per_joint * weights).sum() / weights.sum().clamp_min(1.0)


def camera_loss(camera: torch.Tensor) -> torch.Tensor:
    """|| 2 / tr(K K^T) K K^T - I ||_F: pushes K towards a scaled orthographic projection
    (orthogonal rows of equal length) without fixing its scale."""
    kkt = camera @ camera.transpose(1, 2)
    trace = kkt.diagonal(dim1=1, dim2=2).sum(-1).clamp_min(1e-8)
    eye = torch.eye(2, device=camera.device, dtype=camera.dtype)
    return (2.0 / trace.view(-1, 1, 1) * kkt - eye).pow(2).sum((1, 2)).sqrt().mean()


def gradient_penalty(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates."""
    alpha = torch.rand(real.shape[0], 1, 1, device=real.device)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(interpolates)
    grads, = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return (grads.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def critic_loss(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor,
                penalty_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (loss to minimise, Wasserstein distance estimate E[D(real)] - E[D(fake)])."""
    wasserstein = critic(real).mean() - critic(fake).mean()
    return -wasserstein + penalty_weight * gradient_penalty(critic, real, fake), wasserstein.detach()
