"""The RepNet networks and losses: shapes, invariances and the properties the losses rely on."""
import numpy as np
import pytest
import torch

from core.camera import canonicalize, random_camera_rotations, rotation_from_camera
from models.losses import (camera_elevation_loss, camera_loss, critic_loss, default_joint_weights,
                           reprojection_loss, view_consistency_loss)
from models.repnet import (Critic, ContractLifter, PoseAndCamera, RepNetConfig, kcs, normalize_2d, reproject,
                           to_reference_size)
from core.skeleton import BONES, MIRROR_PERMUTATION, NUM_JOINTS, REFERENCE_LENGTHS, bone_lengths, bone_matrix
from tests.poses import standing_pose

SMALL = RepNetConfig(width=64, critic_width=32, critic_kcs_width=32)


def test_normalize_2d_removes_translation_and_scale():
    kp = torch.from_numpy(standing_pose()[:, :2][None]).float()
    a, _, _ = normalize_2d(kp)
    b, _, _ = normalize_2d(kp * 3.7 + torch.tensor([250.0, -40.0]))
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a[:, 0], torch.zeros(1, 2))
    assert torch.allclose(a.pow(2).sum(-1).mean(-1), torch.ones(1), atol=1e-5)


def test_generator_shapes_and_pelvis_at_origin():
    pose, camera = PoseAndCamera(SMALL)(torch.randn(5, NUM_JOINTS, 2))
    assert pose.shape == (5, NUM_JOINTS, 3) and camera.shape == (5, 2, 3)
    assert torch.allclose(pose[:, 0], torch.zeros(5, 3))


def test_lifter_camera_reprojects_to_the_normalized_input_scale():
    lifter = ContractLifter(PoseAndCamera(SMALL), mirror_average=False, reference_size=False).eval()
    kp = torch.randn(3, NUM_JOINTS, 2) * 80 + 400
    pose_mm, camera = lifter(kp)
    pose_m, camera_m = lifter.generator(normalize_2d(kp)[0])
    # Millimetres out, camera rescaled so that K @ X is unchanged.
    assert torch.allclose(pose_mm, pose_m * 1000, atol=1e-3)
    assert torch.allclose(reproject(pose_mm, camera), reproject(pose_m, camera_m), atol=1e-5)


def test_reference_size_scales_the_pose_to_the_reference_body_and_keeps_the_reprojection():
    pose = torch.from_numpy(np.stack([standing_pose() * 1.07, standing_pose() * 0.9]) / 1000).float()
    camera = torch.randn(2, 2, 3)
    sized, sized_camera = to_reference_size(pose, camera)
    lengths = bone_lengths(sized.numpy() * 1000)
    np.testing.assert_allclose(lengths.sum(-1), [REFERENCE_LENGTHS.sum()] * 2, rtol=1e-5)
    np.testing.assert_allclose(lengths[0], lengths[1], rtol=1e-5)          # only the size changed
    assert torch.allclose(reproject(sized, sized_camera), reproject(pose, camera), atol=1e-5)
    lifter = ContractLifter(PoseAndCamera(SMALL)).eval()                            # and so in the lifter
    with torch.no_grad():
        lifted, _ = lifter(torch.randn(3, NUM_JOINTS, 2) * 80 + 400)
    np.testing.assert_allclose(bone_lengths(lifted.numpy()).sum(-1), [REFERENCE_LENGTHS.sum()] * 3, rtol=1e-4)


def test_mirror_averaged_lift_of_a_mirror_image_is_the_mirror_image_of_the_lift():
    """The average treats a pose and its mirror image alike, for any network: mirroring the 2D
    input mirrors the 3D answer (x negated, sides swapped) and its camera."""
    torch.manual_seed(0)
    lifter = ContractLifter(PoseAndCamera(SMALL)).eval()
    kp = torch.randn(4, NUM_JOINTS, 2) * 80 + 400
    swap = list(MIRROR_PERMUTATION)
    mirrored_kp = kp[:, swap] * torch.tensor([-1.0, 1.0])
    with torch.no_grad():
        pose, camera = lifter(kp)
        pose_m, camera_m = lifter(mirrored_kp)
        plain, _ = ContractLifter(lifter.generator, mirror_average=False)(kp)
    assert torch.allclose(pose_m, pose[:, swap] * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-3)
    assert torch.allclose(camera_m, torch.tensor([[-1.0], [1.0]]) * camera * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-6)
    assert not torch.allclose(pose, plain, atol=1.0)  # an untrained network is far from mirror-symmetric


def test_kcs_diagonal_holds_squared_bone_lengths():
    pose = standing_pose()
    psi = kcs(torch.from_numpy(pose[None]).float(), torch.from_numpy(bone_matrix()))
    assert psi.shape == (1, len(BONES), len(BONES))
    assert np.allclose(psi[0].diagonal().sqrt().numpy(), bone_lengths(pose), rtol=1e-5)


def test_camera_loss_is_zero_for_scaled_rotations_and_positive_otherwise():
    R = random_camera_rotations(4, np.random.default_rng(0))
    orthographic = torch.from_numpy(2.5 * R[:, :2]).float()
    assert camera_loss(orthographic) < 1e-5
    skewed = orthographic.clone()
    skewed[:, 0] *= 2.0
    assert camera_loss(skewed) > 0.1


def test_camera_elevation_loss_is_zero_for_training_cameras_and_the_excess_angle_beyond():
    training = random_camera_rotations(2000, np.random.default_rng(0))             # elevation -15 to 45 degrees
    assert camera_elevation_loss(torch.from_numpy(3.0 * training[:, :2]).float(), -15.0, 45.0) < 1e-6
    for elevation, excess in ((65.0, 20.0), (-40.0, 25.0), (30.0, 0.0)):          # positive: looking down
        camera = torch.from_numpy(0.5 * random_camera_rotations(
            1, np.random.default_rng(1), elevation_deg=(elevation, elevation), roll_deg=0.0)[:, :2]).float()
        assert np.degrees(camera_elevation_loss(camera, -15.0, 45.0).item()) == pytest.approx(excess, abs=0.01)
    # a camera looking down sees the head (up, -y) nearer than the feet: the sign the loss relies on
    down = 0.5 * random_camera_rotations(1, np.random.default_rng(2), elevation_deg=(40.0, 40.0))[0]
    head, feet = np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    depth_towards_camera = np.cross(down[0], down[1])
    assert depth_towards_camera @ head > depth_towards_camera @ feet


def test_reprojection_of_a_known_camera_recovers_the_rotation():
    pose = canonicalize(standing_pose()[None])
    R = random_camera_rotations(1, np.random.default_rng(3))
    camera = 0.002 * R[:, :2]
    projected = reproject(torch.from_numpy(pose), torch.from_numpy(camera))
    expected = 0.002 * pose[0] @ R[0].T
    assert np.allclose(projected[0].numpy(), expected[:, :2])
    R_back, scale = rotation_from_camera(camera)
    assert np.allclose(R_back, R, atol=1e-9) and np.allclose(scale, 0.002)


def test_reprojection_loss_ignores_joints_with_zero_weight():
    target = torch.zeros(2, NUM_JOINTS, 2)
    wrong = target.clone()
    wrong[:, 5] = 10.0
    weights = torch.ones(2, NUM_JOINTS)
    assert reprojection_loss(wrong, target, weights) > 0
    weights[:, 5] = 0.0
    assert reprojection_loss(wrong, target, weights) == 0
    assert default_joint_weights()[0] == 0  # the pelvis carries nothing after centring


def test_critic_loss_gradient_penalty_and_wasserstein_sign():
    torch.manual_seed(0)
    critic = Critic(SMALL)
    real = torch.from_numpy(standing_pose()[None] / 1000).float().repeat(16, 1, 1)
    fake = torch.randn(16, NUM_JOINTS, 3) * 0.5
    opt = torch.optim.Adam(critic.parameters(), 1e-3, betas=(0.5, 0.9))
    for _ in range(60):
        loss, wasserstein = critic_loss(critic, real, fake, penalty_weight=10.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # A trained critic scores real poses above fakes: a positive Wasserstein estimate.
    assert wasserstein > 0.1


def test_critic_without_kcs_path_has_no_kcs_weights():
    cfg = RepNetConfig(width=64, critic_width=32, critic_kcs_width=32, use_kcs=False)
    critic = Critic(cfg)
    assert not any(name.startswith("kcs.") for name in critic.state_dict())
    assert critic(torch.randn(4, NUM_JOINTS, 3)).shape == (4,)


class _FixedPose(torch.nn.Module):
    """A 'generator' that answers one canonical pose whatever it is shown."""

    def __init__(self, pose_m: torch.Tensor):
        super().__init__()
        self.pose = torch.nn.Parameter(pose_m.clone())

    def forward(self, pose_2d):
        return self.pose.expand(len(pose_2d), -1, -1), torch.zeros(len(pose_2d), 2, 3)


class _FlatLift(torch.nn.Module):
    """A 'generator' that keeps the 2D view and guesses zero depth, at the body's size."""

    def forward(self, pose_2d):
        pose = torch.cat([pose_2d, torch.zeros_like(pose_2d[..., :1])], -1) * 0.4
        return pose, torch.zeros(len(pose_2d), 2, 3)


def test_view_consistency_is_zero_for_a_view_independent_lift_and_large_for_a_flat_one():
    pose = torch.from_numpy(standing_pose() / 1000.0).float()
    rotations = torch.from_numpy(random_camera_rotations(16, np.random.default_rng(0))).float()
    poses = pose.expand(16, -1, -1)
    assert view_consistency_loss(_FixedPose(pose), poses, rotations) < 1e-6
    # A lift that ignores depth cannot give back the same canonical pose from views all around.
    assert view_consistency_loss(_FlatLift(), poses, rotations) > 0.1  # metres per joint


def test_view_consistency_trains_both_lifts():
    fixed = _FixedPose(torch.from_numpy(standing_pose() / 1000.0).float())
    first_lift = (torch.randn(4, NUM_JOINTS, 3) * 0.2).requires_grad_(True)
    view_consistency_loss(fixed, first_lift, torch.eye(3).expand(4, 3, 3)).backward()
    assert first_lift.grad.abs().sum() > 0 and fixed.pose.grad.abs().sum() > 0


class _Recorder(torch.nn.Module):
    """A 'generator' that keeps the 2D it is shown."""

    def forward(self, pose_2d):
        self.seen = pose_2d
        return torch.zeros(len(pose_2d), NUM_JOINTS, 3), torch.zeros(len(pose_2d), 2, 3)


def test_view_consistency_can_show_the_second_view_as_a_detector_would():
    pose = torch.from_numpy(standing_pose() / 1000.0).float().expand(200, -1, -1)
    rotations = torch.from_numpy(random_camera_rotations(200, np.random.default_rng(0))).float()
    clean, noisy, dropped = _Recorder(), _Recorder(), _Recorder()
    view_consistency_loss(clean, pose, rotations)
    view_consistency_loss(noisy, pose, rotations, noise_px=4.0)
    view_consistency_loss(dropped, pose, rotations, dropout=0.25)
    # 4 px on a person 500 px tall: the normalized joints move by about a hundredth of the body.
    jitter = (noisy.seen - clean.seen)[:, 1:].norm(dim=-1).mean()
    assert 0.01 < jitter < 0.1
    # Dropped joints sit on the pelvis (the origin after centring), as missing joints do in training.
    at_pelvis = dropped.seen[:, 1:].norm(dim=-1) < 1e-6
    assert 0.2 < at_pelvis.float().mean() < 0.3
    assert clean.seen[:, 1:].norm(dim=-1).min() > 1e-3
