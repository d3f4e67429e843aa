"""What one training step draws from: the three streams of weak supervision, and batches of them.

  * real 3D poses (the critic subjects, canonical frame, augmented) for the Wasserstein critic;
  * 2D poses for the generator: projections of *other* subjects through random cameras with
    detector-like noise, mixed with in-the-wild MPII annotations and any given 2D;
  * held-out subjects, projected through fixed random cameras, for evaluation only.

A person is in one stream only (models.data.sources.check_disjoint): nobody's 2D meets their own 3D.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.camera import camera_angles, canonicalize, random_camera_rotations
from core.skeleton import MIRROR_PERMUTATION, MM_PER_METRE, NUM_JOINTS, mirror
from models import augment
from models.data import DataError, cmu, projection, sources
from models.data.mpii import load_mpii_2d
from models.losses import default_joint_weights
from models.repnet import camera_condition, normalize_2d
from models.validation import EvalSet, make_eval_set


@dataclass
class TrainingData:
    real_poses: np.ndarray          # [N, 17, 3] float32 metres, canonical: the critic's real poses
    critic_cdf: np.ndarray          # [N] their group-balanced sampling distribution
    projection_world: np.ndarray    # [M, 17, 3] mm, world frame: projected for the generator's 2D
    projection_cdf: np.ndarray | None
    mpii_2d: np.ndarray             # [K, 17, 2] pixels, with weights [K, 17] (0: not annotated)
    mpii_weights: np.ndarray
    given_2d: np.ndarray            # the user's 2D files (Human3.6M format), likewise
    given_weights: np.ndarray
    shares: tuple[float, float]     # of each generator batch: MPII, given 2D (projections: the rest)
    real_2d: torch.Tensor           # [L, 17, 2] normalized complete MPII poses and mirrors (the 2D prior)
    eval_set: EvalSet


def load_training_data(cfg, rng: np.random.Generator) -> TrainingData:
    """Read and prepare every stream named by a models.train.TrainConfig; DataError if unusable."""
    t0 = time.time()
    root = Path(cfg.data_root)
    cmu_poses = cmu.load_cmu_poses(root)
    cmu_groups = cmu.load_cmu_activities(root, progress=False)
    missing = sorted(set(cfg.critic_subjects + cfg.projection_subjects + cfg.test_subjects) - set(cmu_poses))
    if missing:
        raise DataError(f"CMU subject(s) {', '.join(missing)} not found under {cfg.data_root}; "
                        f"the data has {', '.join(cmu_poses)}")
    critic_sources = [sources.load_3d_source(spec) for spec in cfg.critic_3d]
    projection_sources = [sources.load_3d_source(spec) for spec in cfg.projection_3d]
    given_sources = [sources.load_2d_source(spec) for spec in cfg.given_2d]
    sources.check_disjoint({  # weak supervision: nobody's 2D meets their own 3D, nobody held out is seen
        "critic": {f"CMU {s}" for s in cfg.critic_subjects}.union(*(src.people for src in critic_sources)),
        "generator": {f"CMU {s}" for s in cfg.projection_subjects}.union(
            *(src.people for src in projection_sources + given_sources)),
        "held-out": {f"CMU {s}" for s in cfg.test_subjects}})

    def gathered(subjects: tuple, extra: list, dims: int = 3) -> np.ndarray:
        parts = [cmu_poses[s] for s in subjects] + [src.poses for src in extra]
        return np.concatenate(parts) if parts else np.zeros((0, NUM_JOINTS, dims), np.float32)

    def groups_of(subjects: tuple, extra: list) -> np.ndarray:  # one activity label per pose of gathered()
        parts = [cmu_groups[s] for s in subjects] + [np.full(len(src.poses), "your data") for src in extra]
        return np.concatenate(parts) if parts else np.zeros(0, str)

    critic_world, critic_groups = gathered(cfg.critic_subjects, critic_sources), groups_of(cfg.critic_subjects,
                                                                                          critic_sources)
    projection_world = gathered(cfg.projection_subjects, projection_sources)
    projection_groups = groups_of(cfg.projection_subjects, projection_sources)
    test_world = gathered(cfg.test_subjects, [])
    if not len(critic_world) or not len(test_world):
        raise DataError("the critic needs 3D poses and the evaluation held-out subjects; "
                        "give --critic-subjects or --critic-3d, and --test-subjects")
    if cfg.augment_projections > 0 and len(projection_world):  # new 2D inputs from recombined limbs
        n_extra = int(len(projection_world) * cfg.augment_projections)
        projection_world = np.concatenate([projection_world,
                                           augment.crossover_and_mutate(projection_world, n_extra, rng)])
        projection_groups = np.concatenate([projection_groups, np.full(n_extra, "recombined")])

    real_poses = canonicalize(critic_world)
    if cfg.augment_crossover and cfg.augmented_pool_factor > 0:
        n_extra = int(len(real_poses) * cfg.augmented_pool_factor)
        real_poses = np.concatenate([real_poses, canonicalize(augment.crossover_and_mutate(real_poses, n_extra, rng))])
        critic_groups = np.concatenate([critic_groups, np.full(n_extra, "recombined")])

    mpii_2d, mpii_weights = (load_mpii_2d(root) if cfg.mpii_fraction > 0
                             else (np.zeros((0, NUM_JOINTS, 2), np.float32), np.zeros((0, NUM_JOINTS), np.float32)))
    given_2d = gathered((), given_sources, dims=2)
    given_weights = np.concatenate([src.weights for src in given_sources]) if given_sources else np.zeros((0, NUM_JOINTS))
    if cfg.mirror_2d:
        mpii_2d, mpii_weights = with_mirrored_2d(mpii_2d, mpii_weights)
        given_2d, given_weights = with_mirrored_2d(given_2d, given_weights)
    # the 2D prior's real poses: MPII people with every joint annotated, and their mirror images
    complete = mpii_weights.min(axis=1) > 0 if cfg.weight_2d_prior > 0 else np.zeros(len(mpii_2d), bool)
    if cfg.weight_2d_prior > 0 and not complete.any():
        raise DataError("--weight-2d-prior needs MPII 2D poses: give a positive --mpii-fraction")

    data = TrainingData(
        real_poses=(real_poses / MM_PER_METRE).astype(np.float32),
        # rare activities (sitting, bending, standing still: what people in front of a webcam do) drawn more often
        critic_cdf=balanced_cdf(critic_groups, cfg.group_balance),
        projection_world=projection_world,
        projection_cdf=balanced_cdf(projection_groups, cfg.group_balance) if len(projection_groups) else None,
        mpii_2d=mpii_2d, mpii_weights=mpii_weights, given_2d=given_2d, given_weights=given_weights,
        shares=batch_shares(cfg.mpii_fraction if len(mpii_2d) else 0.0, cfg.given_2d_fraction if len(given_2d) else 0.0,
                            has_projections=len(projection_world) > 0),
        real_2d=normalize_2d(torch.from_numpy(with_mirrored_2d(mpii_2d[complete], mpii_weights[complete])[0]))[0],
        eval_set=make_eval_set(test_world, n_frames=cfg.eval_frames, noise_px=cfg.noise_px, seed=1234))
    print(f"data: {len(data.real_poses)} critic poses, {len(projection_world)} projection poses, {len(mpii_2d)} MPII "
          f"poses, {len(given_2d)} given 2D poses, {len(data.eval_set.keypoints_2d)} eval frames "
          f"({time.time() - t0:.1f} s)")
    return data


class Batches:
    """Draws training batches from TrainingData with one random generator (saved in checkpoints)."""

    def __init__(self, data: TrainingData, cfg, camera_input: bool, rng: np.random.Generator):
        self.data, self.cfg, self.camera_input, self.rng = data, cfg, camera_input, rng
        self.joint_weights = default_joint_weights()

    def real_poses(self, n: int) -> torch.Tensor:
        """[n, 17, 3] metres: real canonical poses, mirrored and with varied bones where configured."""
        batch = self.data.real_poses[np.searchsorted(self.data.critic_cdf, self.rng.random(n))]
        if self.cfg.augment_mirror:
            batch = augment.random_mirror(batch, self.rng)
        if self.cfg.augment_bone_lengths:
            batch = augment.vary_bone_lengths(batch, self.rng)
        return torch.from_numpy(batch.astype(np.float32))

    def told_cameras(self, angles: np.ndarray) -> torch.Tensor:
        """camera_condition for (elevation, roll) [n, 2]: given for a random share, with some error."""
        given = self.rng.random(len(angles)) < self.cfg.camera_given_fraction
        noisy = angles + np.deg2rad(self.cfg.camera_given_noise_deg) * self.rng.normal(size=angles.shape)
        return camera_condition(torch.from_numpy(noisy.astype(np.float32)), torch.from_numpy(given))

    def generator_inputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalized 2D [n,17,2], joint weights [n,17], camera condition [n,3]: none for annotated 2D)."""
        d = self.data
        n_mpii, n_given = int(round(n * d.shares[0])), int(round(n * d.shares[1]))
        n_projected = n - n_mpii - n_given
        parts, condition = [], torch.zeros(n, 3)
        if n_projected:
            idx = np.searchsorted(d.projection_cdf, self.rng.random(n_projected))
            projected = projection.project_random_cameras(d.projection_world[idx], self.rng, noise_px=self.cfg.noise_px)
            parts.append((projected.keypoints_2d, projected.weights))
            if self.camera_input:
                condition[:n_projected] = self.told_cameras(camera_angles(projected.rotations[:, :2]))
        for count, keypoints, present in ((n_mpii, d.mpii_2d, d.mpii_weights), (n_given, d.given_2d, d.given_weights)):
            if count:
                pick = self.rng.integers(0, len(keypoints), count)
                parts.append((keypoints[pick], present[pick]))
        kp = np.concatenate([k for k, _ in parts]).astype(np.float32)
        weights = np.concatenate([w for _, w in parts]).astype(np.float32)
        normalized, _, _ = normalize_2d(torch.from_numpy(kp))
        return normalized, torch.from_numpy(weights) * self.joint_weights, condition

    def real_2d(self, n: int) -> torch.Tensor:
        """[n, 17, 2] normalized in-the-wild 2D poses for the 2D prior's critic."""
        return self.data.real_2d[self.rng.integers(0, len(self.data.real_2d), n)]

    def camera_rotations(self, n: int) -> np.ndarray:
        """[n, 3, 3] float32 random training cameras (core.camera.random_camera_rotations)."""
        return random_camera_rotations(n, self.rng).astype(np.float32)

    def seen_from_random_cameras(self, pose: torch.Tensor) -> torch.Tensor:
        """Canonical poses [B,17,3] seen by random training cameras, orthographic, normalized."""
        rotations = torch.from_numpy(self.camera_rotations(len(pose))).to(pose.device)
        return normalize_2d(pose @ rotations[:, :2].transpose(1, 2))[0]


def balanced_cdf(labels: np.ndarray, power: float) -> np.ndarray:
    """Cumulative sampling distribution over poses [N] in which each pose's weight is its group's
    size ** -power: 0 samples poses uniformly (large groups dominate), 1 gives every group the same
    share. Draw with np.searchsorted(cdf, rng.random(n))."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = counts[inverse].astype(np.float64) ** -power
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def batch_shares(mpii: float, given: float, has_projections: bool) -> tuple[float, float]:
    """Shares of a generator batch from MPII and from given 2D; projections fill the rest, or,
    where there are none, MPII and given 2D share the batch in proportion."""
    if mpii < 0 or given < 0 or mpii + given > 1:
        raise DataError(f"--mpii-fraction {mpii} and --given-2d-fraction {given} must be >= 0 and "
                        f"add up to at most 1")
    if has_projections:
        return mpii, given
    if mpii + given == 0:
        raise DataError("the generator has no 2D poses: give --projection-subjects, --projection-3d, "
                        "--given-2d or a positive --mpii-fraction")
    return mpii / (mpii + given), given / (mpii + given)


def with_mirrored_2d(keypoints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D poses [N,17,2] and their joint weights [N,17], followed by their mirror images (x negated,
    left and right swapped; normalization centres every pose, so no image width is needed)."""
    return (np.concatenate([keypoints, mirror(keypoints)]),
            np.concatenate([weights, weights[:, list(MIRROR_PERMUTATION)]]))


def describe_data(cfg, shares: tuple[float, float]) -> dict:
    """What a run trained on, in words, for the checkpoint and the exported model's metadata."""
    def listed(subjects: tuple, sources: tuple) -> list[str]:
        return ([f"CMU mocap subjects {', '.join(subjects)}"] if subjects else []) + list(sources)

    mpii, given = shares
    projected = listed(cfg.projection_subjects, cfg.projection_3d)
    generator = ([f"projections of {' + '.join(projected)} (random cameras, {cfg.noise_px} px noise, "
                  f"{1 - mpii - given:.0%})"] if projected else []) + ([f"MPII ({mpii:.0%})"] if mpii else []) \
        + ([f"{' + '.join(cfg.given_2d)} ({given:.0%})"] if given else [])
    return {"critic_3d": " + ".join(listed(cfg.critic_subjects, cfg.critic_3d)),
            "generator_2d": " + ".join(generator),
            "held_out": f"CMU subjects {', '.join(cfg.test_subjects)}"}
