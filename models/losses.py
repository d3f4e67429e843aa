"""RepNet's losses: Wasserstein loss with gradient penalty, reprojection and camera losses."""
from __future__ import annotations

import torch

from models.repnet import normalize_2d
from core.skeleton import JOINT_INDEX, NUM_JOINTS, PELVIS


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


def camera_angles(camera: torch.Tensor) -> torch.Tensor:
    """(elevation, roll) [B, 2] radians of cameras K [B,2,3]: core.camera.camera_angles in torch."""
    # K's rows span the image plane; their cross product is the camera's depth axis, which points
    # towards the camera (depth grows towards it), and y is down: looking down means a negative y.
    towards_camera = torch.linalg.cross(camera[:, 0], camera[:, 1])
    sine = -towards_camera[:, 1] / towards_camera.norm(dim=-1).clamp_min(1e-8)
    elevation = torch.asin(sine.clamp(-1.0 + 1e-6, 1.0 - 1e-6))
    roll = torch.atan2(-camera[:, 0, 1], camera[:, 1, 1])
    return torch.stack([elevation, roll], dim=1)


def camera_elevation_loss(camera: torch.Tensor, low_deg: float, high_deg: float) -> torch.Tensor:
    """Mean angle (radians) by which each camera K [B,2,3] looks down more than `high_deg` or up more
    than `low_deg` at the canonical pose (elevation: positive looking down, as
    core.camera.random_camera_rotations). A pose far from the training data can be explained by
    a steep camera and a tilted body; real cameras are seldom steep."""
    elevation = camera_angles(camera)[:, 0]
    low, high = torch.deg2rad(torch.tensor([low_deg, high_deg], device=camera.device, dtype=camera.dtype))
    return (torch.relu(low - elevation) + torch.relu(elevation - high)).mean()


def given_camera_loss(camera: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Mean angle (radians) between the estimated cameras K [B,2,3] and the cameras the generator
    was told (condition [B,3]: given, elevation, roll), over the rows where one was given: told
    the camera, the lifter must explain the 2D by the pose, not by another camera."""
    given = condition[:, 0]
    difference = camera_angles(camera) - condition[:, 1:]
    difference = torch.atan2(torch.sin(difference), torch.cos(difference))  # wrap the roll
    return (difference.abs().sum(1) * given).sum() / given.sum().clamp_min(1.0)


def view_consistency_loss(generator: torch.nn.Module, pose_3d: torch.Tensor, rotations: torch.Tensor,
                          noise_px: float = 0.0, dropout: float = 0.0,
                          condition: torch.Tensor | None = None) -> torch.Tensor:
    """Mean joint distance (metres) between canonical poses and the generator's lift of the same
    poses seen from other cameras (`rotations` [B, 3, 3], canonical -> camera).

    The canonical frame does not depend on the camera, so every view of a pose must lift to
    that pose: a depth that is wrong in one view shows up sideways in another (the lift, rotate,
    project, lift-again cycle of Chen et al., CVPR 2019). No 3D pose is paired with its 2D: the
    target is the generator's own answer, and both lifts learn from the difference (holding the
    first lift fixed as a target was 2.5 mm worse, docs/model.md).

    The second view can be made as imperfect as a detector's (`noise_px` jitter for a person
    500 px tall; each joint dropped with probability `dropout`, placed on the pelvis as missing
    joints are): the generator must then give back the whole pose from a view with joints
    missing, which nothing else teaches it. `condition` (models.repnet.camera_condition) tells a
    generator with a camera input the other view's camera, which is known here exactly.
    """
    view = pose_3d @ rotations[:, :2].transpose(1, 2)  # orthographic: normalization removes the scale
    if noise_px > 0:
        size = (view.amax(1) - view.amin(1)).amax(-1).view(-1, 1, 1)
        view = view + torch.randn_like(view) * noise_px / 500.0 * size
    if dropout > 0:
        dropped = torch.rand(view.shape[:2], device=view.device) < dropout
        dropped[:, PELVIS] = False
        view = torch.where(dropped.unsqueeze(-1), view[:, PELVIS:PELVIS + 1], view)
    normalized, _, _ = normalize_2d(view)
    again, _ = generator(normalized) if condition is None else generator(normalized, condition)
    return (again - pose_3d).norm(dim=-1).mean()


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
