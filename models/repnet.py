"""RepNet (Wandt & Rosenhahn, CVPR 2019) in PyTorch: pose generator, camera branch, reprojection
layer and the Wasserstein critic with its Kinematic Chain Space path.

Shapes: 2D poses [B, 17, 2], 3D poses [B, 17, 3], cameras [B, 2, 3]. Inside the networks 3D poses
are in metres (as in the paper); `ContractLifter` wraps the trained generator and camera branch behind
the project's ONNX contract (pixels in, millimetres out, normalization inside the graph).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.skeleton import MIRROR_PERMUTATION, MM_PER_METRE, NUM_JOINTS, PELVIS, REFERENCE_LENGTHS, bone_matrix

REFERENCE_SIZE_M = float(REFERENCE_LENGTHS.sum()) / MM_PER_METRE  # total bone length of the reference body


@dataclass
class RepNetConfig:
    width: int = 1000              # paper: fully connected layers of 1000 units
    shared_blocks: int = 1         # residual blocks shared by the pose and camera branches
    pose_blocks: int = 2           # residual blocks of the pose branch after the shared one
    camera_blocks: int = 2         # residual blocks of the camera branch
    leaky_slope: float = 0.01      # LeakyReLU slope (Keras default 0.3 in the original code)
    critic_width: int = 100        # plain path of the critic
    critic_kcs_width: int = 1000   # KCS path of the critic
    use_kcs: bool = True           # False drops the critic's KCS path (an ablation)
    camera_input: bool = False     # the generator also takes the camera's (given, elevation, roll), so a
                                   # lift can be asked for under a known camera (the app's camera lock)
    critic_2d_width: int = 256     # the 2D critic (models.train --weight-2d-prior)

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    """Two fully connected layers with LeakyReLU and an identity shortcut."""

    def __init__(self, width: int, slope: float):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.fc2(self.act(self.fc1(x))))


def normalize_2d(keypoints: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pelvis-centre 2D poses and divide by their RMS joint distance from the pelvis.

    Returns (normalized [B, 17, 2], pelvis [B, 1, 2], scale [B, 1, 1]). Centring on the pelvis
    (not the mean) matches the 3D output, whose pelvis is at the origin, so that K @ X reproduces
    the normalized input exactly under weak perspective.
    """
    pelvis = keypoints[:, PELVIS:PELVIS + 1, :]
    centred = keypoints - pelvis
    scale = centred.pow(2).sum(-1).mean(-1).sqrt().clamp_min(eps).view(-1, 1, 1)
    return centred / scale, pelvis, scale


CAMERA_CONDITION_SIZE = 3  # (given: 1 or 0, elevation, roll), radians; all zero when not given


def camera_condition(angles: torch.Tensor, given: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's camera input [B, 3] from (elevation, roll) [B, 2] radians
    (core.camera.camera_angles) and a mask [B] of the rows where they are given (default: all)."""
    given = torch.ones(angles.shape[0], dtype=angles.dtype, device=angles.device) if given is None else given
    given = given.to(angles.dtype).view(-1, 1)
    return torch.cat([given, angles * given], dim=1)


class PoseAndCamera(nn.Module):
    """The generator: normalized 2D pose -> (3D pose in metres [B,17,3], camera K [B,2,3]).

    With cfg.camera_input it also takes camera_condition(...) [B, 3]; left out, the camera is
    unknown (all zeros), which is how the lifter of the ONNX contract runs."""

    def __init__(self, cfg: RepNetConfig):
        super().__init__()
        w, a = cfg.width, cfg.leaky_slope
        self.camera_input = cfg.camera_input
        inputs = 2 * NUM_JOINTS + (CAMERA_CONDITION_SIZE if cfg.camera_input else 0)
        self.stem = nn.Sequential(nn.Linear(inputs, w), nn.LeakyReLU(a))
        self.shared = nn.Sequential(*[ResidualBlock(w, a) for _ in range(cfg.shared_blocks)])
        self.pose = nn.Sequential(*[ResidualBlock(w, a) for _ in range(cfg.pose_blocks)],
                                  nn.Linear(w, w), nn.LeakyReLU(a), nn.Linear(w, 3 * NUM_JOINTS))
        self.camera = nn.Sequential(*[ResidualBlock(w, a) for _ in range(cfg.camera_blocks)],
                                    nn.Linear(w, 6))

    def forward(self, pose_2d: torch.Tensor,
                condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = pose_2d.flatten(1)
        if self.camera_input:
            if condition is None:
                condition = x.new_zeros(x.shape[0], CAMERA_CONDITION_SIZE)
            x = torch.cat([x, condition], dim=1)
        h = self.shared(self.stem(x))
        pose_3d = self.pose(h).view(-1, NUM_JOINTS, 3)
        pose_3d = pose_3d - pose_3d[:, PELVIS:PELVIS + 1]  # the pelvis is the origin by definition
        return pose_3d, self.camera(h).view(-1, 2, 3)


def lift_mirror_averaged(generator: nn.Module, pose_2d: torch.Tensor,
                         condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Test-time augmentation: lift the 2D pose and its mirror image (x negated, left and right
    swapped) in one batch, mirror the second answer back and average the two.

    A mirrored canonical pose (x negated, sides swapped) is canonical again, and
    diag(-1, 1) K' diag(-1, 1, 1) is its camera for the original 2D, so both answers average
    in the canonical frame. For a model that predicts in the camera frame (the supervised
    baseline) mirroring back is the same operation. The network's errors on a pose and on its
    mirror image are partly independent, so the average is closer to the truth (docs/model.md).
    A camera condition mirrors too: the elevation stays, the roll changes sign.
    """
    swap = list(MIRROR_PERMUTATION)
    flip_2d = pose_2d.new_tensor([-1.0, 1.0])
    flip_3d = pose_2d.new_tensor([-1.0, 1.0, 1.0])
    n = pose_2d.shape[0]
    both = torch.cat([pose_2d, pose_2d[:, swap] * flip_2d])
    if condition is None:
        poses, cameras = generator(both)
    else:
        mirrored = condition * condition.new_tensor([1.0, 1.0, -1.0])
        poses, cameras = generator(both, torch.cat([condition, mirrored]))
    pose = (poses[:n] + poses[n:][:, swap] * flip_3d) / 2
    camera = (cameras[:n] + flip_2d.view(2, 1) * cameras[n:] * flip_3d) / 2
    return pose, camera


def to_reference_size(pose_3d: torch.Tensor, camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each pose (metres) to the reference body's total bone length, and its camera by the
    inverse, so that K X, the reprojection, is unchanged.

    A weak-perspective view cannot tell a tall person far away from a short one nearby: the
    lifter's millimetres are those of the reference body the critic was shown. The generator
    learns that size only roughly (the shipped one's bones came out 3-4% long on average, and the
    size wanders from frame to frame); this makes it exact. docs/model.md has the figures.
    """
    bones = pose_3d.transpose(1, 2) @ pose_3d.new_tensor(bone_matrix())      # [B, 3, 16]
    size = bones.norm(dim=1).sum(dim=1).clamp_min(1e-6).view(-1, 1, 1)
    factor = REFERENCE_SIZE_M / size
    return pose_3d * factor, camera / factor


def lift(generator: nn.Module, pose_2d: torch.Tensor, mirror_average: bool = True,
         reference_size: bool = True, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized 2D -> (3D pose in metres, camera) as the shipped lifter computes them: the
    generator, by default averaged with its lift of the mirror image (lift_mirror_averaged) and
    scaled to the reference body (to_reference_size). condition: a known camera (camera_condition)."""
    if mirror_average:
        pose, camera = lift_mirror_averaged(generator, pose_2d, condition)
    else:
        pose, camera = generator(pose_2d) if condition is None else generator(pose_2d, condition)
    return to_reference_size(pose, camera) if reference_size else (pose, camera)


def reproject(pose_3d: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """The reprojection layer: W' = K X, as [B, 17, 2]."""
    return pose_3d @ camera.transpose(1, 2)


def kcs(pose_3d: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Kinematic Chain Space Psi = B^T B with B = X C: bone lengths and angles, [B, 16, 16]."""
    bones = pose_3d.transpose(1, 2) @ C  # [B, 3, 16]
    return bones.transpose(1, 2) @ bones


class Critic(nn.Module):
    """Wasserstein critic with a plain path on the 3D pose and a path on its KCS matrix."""

    def __init__(self, cfg: RepNetConfig):
        super().__init__()
        a, w, wk = cfg.leaky_slope, cfg.critic_width, cfg.critic_kcs_width
        self.register_buffer("C", torch.from_numpy(bone_matrix()))
        n_bones = self.C.shape[1]
        self.plain = nn.Sequential(nn.Linear(3 * NUM_JOINTS, w), nn.LeakyReLU(a),
                                   ResidualBlock(w, a), nn.Linear(w, w), nn.LeakyReLU(a))
        self.kcs = (nn.Sequential(nn.Linear(n_bones * n_bones, wk), nn.LeakyReLU(a),
                                  ResidualBlock(wk, a), nn.Linear(wk, w), nn.LeakyReLU(a))
                    if cfg.use_kcs else None)
        paths = 2 if cfg.use_kcs else 1
        self.head = nn.Sequential(nn.Linear(paths * w, w), nn.LeakyReLU(a), nn.Linear(w, 1))

    def forward(self, pose_3d: torch.Tensor) -> torch.Tensor:
        features = self.plain(pose_3d.flatten(1))
        if self.kcs is not None:
            psi = self.kcs(kcs(pose_3d, self.C).flatten(1))
            features = torch.cat([features, psi], dim=1)
        return self.head(features).squeeze(1)


class Critic2D(nn.Module):
    """Wasserstein critic on normalized 2D poses [B,17,2]: does this view of a person look like
    the people in in-the-wild photos (MPII)? A prior that 2D annotations can teach (Chen et al.,
    CVPR 2019; Wandt et al., ElePose, CVPR 2022)."""

    def __init__(self, cfg: RepNetConfig):
        super().__init__()
        a, w = cfg.leaky_slope, cfg.critic_2d_width
        self.net = nn.Sequential(nn.Linear(2 * NUM_JOINTS, w), nn.LeakyReLU(a), ResidualBlock(w, a),
                                 nn.Linear(w, 1))

    def forward(self, pose_2d: torch.Tensor) -> torch.Tensor:
        return self.net(pose_2d.flatten(1)).squeeze(1)


class ContractLifter(nn.Module):
    """The deployable lifter behind the ONNX contract: pixels in, millimetres and camera out.

    keypoints_2d [N,17,2] pixels -> pose_3d [N,17,3] mm (pelvis at the origin, canonical frame),
    camera [N,2,3] with camera @ pose_3d.T equal to the normalized 2D input.
    mirror_average, reference_size: the test-time steps of `lift`.
    """

    def __init__(self, generator: PoseAndCamera, mirror_average: bool = True, reference_size: bool = True):
        super().__init__()
        self.generator = generator
        self.mirror_average = mirror_average
        self.reference_size = reference_size

    def forward(self, keypoints_2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normalized, _, _ = normalize_2d(keypoints_2d)
        pose_m, camera = lift(self.generator, normalized, self.mirror_average, self.reference_size)
        return pose_m * MM_PER_METRE, camera / MM_PER_METRE


class LifterUnderCamera(ContractLifter):
    """The same lifter, told the camera: keypoints_2d [N,17,2] pixels and camera_angles [N,2]
    (elevation, roll, radians; core.camera.camera_angles) -> pose_3d, camera as ContractLifter.
    Needs a generator trained with RepNetConfig.camera_input."""

    def forward(self, keypoints_2d: torch.Tensor, camera_angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normalized, _, _ = normalize_2d(keypoints_2d)
        pose_m, camera = lift(self.generator, normalized, self.mirror_average, self.reference_size,
                              camera_condition(camera_angles))
        return pose_m * MM_PER_METRE, camera / MM_PER_METRE
