"""3D augmentation keeps skeletons valid: bone lengths, joint limits, where limbs come from."""
from __future__ import annotations

import numpy as np
import pytest

from models import augment
from models.augment import LIMBS, joint_angles_valid, torso_frames
from core.camera import canonicalize
from models.data.bvh import read_bvh
from models.data.cmu import bvh_to_h36m
from core.skeleton import BONE_INDEX, JOINT_INDEX, PELVIS, bone_directions, bone_lengths, mirror, poses_from_bones

TORSO_BONES = [BONE_INDEX[n] for n in ("right_hip", "left_hip", "spine", "thorax", "right_shoulder", "left_shoulder")]


@pytest.fixture(scope="module")
def poses(data_root) -> np.ndarray:
    """Real poses: a runner (DAZ release) and a jumper (ASF release), world frame, mm."""
    run = bvh_to_h36m(read_bvh(data_root / "cmu_mocap/daz_friendly/02/02_03.bvh"), fps=30)
    jump = bvh_to_h36m(read_bvh(data_root / "cmu_mocap/asf_skeleton_30fps/16/16_01.bvh"), fps=10)
    return np.concatenate([run, jump]).astype(np.float64)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def test_bones_round_trip(poses):
    rebuilt = poses_from_bones(bone_directions(poses), bone_lengths(poses), poses[:, PELVIS])
    np.testing.assert_allclose(rebuilt, poses, atol=1e-6)


def test_real_poses_pass_the_joint_limits_and_a_backwards_knee_does_not(poses):
    assert joint_angles_valid(poses).all()
    bent = canonicalize(poses[:5])
    hip, knee, ankle = (JOINT_INDEX[n] for n in ("right_hip", "right_knee", "right_ankle"))
    # bend the right knee 60 degrees forwards: the shin swings to the front (-z) of the thigh
    thigh = bent[:, knee] - bent[:, hip]
    thigh /= np.linalg.norm(thigh, axis=-1, keepdims=True)
    forward = np.cross(thigh, [1.0, 0.0, 0.0])              # for a hanging thigh: -z, the facing side
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    shin_length = np.linalg.norm(bent[:, ankle] - bent[:, knee], axis=-1, keepdims=True)
    bent[:, ankle] = bent[:, knee] + shin_length * (np.cos(np.pi / 3) * thigh + np.sin(np.pi / 3) * forward)
    assert not joint_angles_valid(bent).any()
    backwards = bent.copy()
    backwards[:, ankle] = bent[:, knee] + shin_length * (np.cos(np.pi / 3) * thigh - np.sin(np.pi / 3) * forward)
    assert joint_angles_valid(backwards).all()


def test_random_rotation(poses):
    rotated = augment.random_rotation(poses, np.random.default_rng(0), max_pitch_deg=10, max_roll_deg=10)
    np.testing.assert_allclose(bone_lengths(rotated), bone_lengths(poses), rtol=1e-9)
    np.testing.assert_allclose(rotated[:, PELVIS], poses[:, PELVIS])
    # the body's lean from the vertical changes by at most the pitch/roll bounds combined ...
    up = lambda p: p[:, JOINT_INDEX["thorax"]] - p[:, PELVIS]
    lean = lambda p: angle_deg(up(p) / np.linalg.norm(up(p), axis=-1, keepdims=True), np.array([0.0, -1.0, 0.0]))
    change = np.abs(lean(rotated) - lean(poses))
    assert change.max() <= np.hypot(10, 10) + 1e-6 and change.mean() > 2.0
    # ... while the heading goes all round
    hips = lambda p: p[:, JOINT_INDEX["left_hip"]] - p[:, JOINT_INDEX["right_hip"]]
    turn = np.degrees(np.arctan2(hips(rotated)[:, 2], hips(rotated)[:, 0]) - np.arctan2(hips(poses)[:, 2], hips(poses)[:, 0]))
    turn = (turn + 180) % 360 - 180
    assert turn.min() < -120 and turn.max() > 120


def test_mirror(poses):
    np.testing.assert_allclose(mirror(mirror(poses)), poses)
    np.testing.assert_allclose(bone_lengths(mirror(poses)), bone_lengths(poses), rtol=1e-5)
    canonical = canonicalize(poses)
    np.testing.assert_allclose(canonicalize(mirror(canonical)), mirror(canonical),
                               atol=1e-6)   # a mirrored canonical pose is still canonical
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(augment.random_mirror(poses, rng, p=1.0), mirror(poses))
    np.testing.assert_allclose(augment.random_mirror(poses, rng, p=0.0), poses)
    some = augment.random_mirror(poses, rng, p=0.5)
    flipped = ~np.isclose(some, poses).all(axis=(1, 2))
    assert 0.2 < flipped.mean() < 0.8


def test_vary_bone_lengths(poses):
    varied = augment.vary_bone_lengths(poses.astype(np.float32), np.random.default_rng(0),
                                       body_scale=(0.9, 1.1), bone_scale=0.08)
    assert varied.dtype == np.float32
    ratio = bone_lengths(varied) / bone_lengths(poses)
    assert ratio.min() >= 0.9 * 0.92 - 1e-4 and ratio.max() <= 1.1 * 1.08 + 1e-4
    assert ratio.std() > 0.03                                        # they really vary
    for names in augment.BONE_GROUPS.values():                       # left and right stay equal
        np.testing.assert_allclose(ratio[:, BONE_INDEX[names[0]]], ratio[:, BONE_INDEX[names[-1]]], rtol=1e-5)
    np.testing.assert_allclose(bone_directions(varied), bone_directions(poses), atol=1e-5)
    np.testing.assert_allclose(varied[:, PELVIS], poses[:, PELVIS], atol=1e-3)


def test_crossover_limbs_come_from_the_right_parent(poses):
    rng = np.random.default_rng(0)
    a, b = poses, poses[::-1].copy()
    children, swapped = augment.crossover_limbs(a, b, rng, p=0.5)
    assert 0.3 < swapped.mean() < 0.7
    np.testing.assert_allclose(bone_lengths(children), bone_lengths(a), rtol=1e-9)    # a's body
    dirs_a, dirs_b, dirs_c = bone_directions(a), bone_directions(b), bone_directions(children)
    np.testing.assert_allclose(dirs_c[:, TORSO_BONES], dirs_a[:, TORSO_BONES], atol=1e-9)
    frames_a, frames_b, frames_c = torso_frames(a), torso_frames(b), torso_frames(children)
    for k, (limb, bones) in enumerate(LIMBS.items()):
        f = 0 if limb.endswith("leg") else 1
        for name in bones:
            bone = BONE_INDEX[name]
            local_c = np.einsum("nji,nj->ni", frames_c[f], dirs_c[:, bone])
            local_b = np.einsum("nji,nj->ni", frames_b[f], dirs_b[:, bone])
            local_a = np.einsum("nji,nj->ni", frames_a[f], dirs_a[:, bone])
            take_b = swapped[:, k]
            np.testing.assert_allclose(local_c[take_b], local_b[take_b], atol=1e-9)    # b's joint angles
            np.testing.assert_allclose(dirs_c[~take_b, bone], dirs_a[~take_b, bone], atol=1e-9)
            assert not np.allclose(local_c[take_b], local_a[take_b], atol=1e-3)
    assert joint_angles_valid(children).all()
    same, _ = augment.crossover_limbs(a, b, rng, p=0.0)
    np.testing.assert_allclose(same, a, atol=1e-9)


def test_mutation_keeps_lengths_and_limits(poses):
    mutated = augment.mutate_bones(poses, np.random.default_rng(0), angle_std_deg=20, bone_prob=0.5)
    np.testing.assert_allclose(bone_lengths(mutated), bone_lengths(poses), rtol=1e-9)
    change = angle_deg(bone_directions(mutated), bone_directions(poses))
    np.testing.assert_allclose(change[:, TORSO_BONES], 0.0, atol=1e-5)            # the torso stays rigid
    assert change.mean() > 5.0 and (change.max(axis=1) > 1.0).mean() > 0.9
    assert joint_angles_valid(mutated).all()
    unchanged = augment.mutate_bones(poses, np.random.default_rng(0), angle_std_deg=0.0)
    np.testing.assert_allclose(unchanged, poses, atol=1e-9)


def test_crossover_and_mutate_pool(poses):
    pool = canonicalize(poses).astype(np.float32)
    new = augment.crossover_and_mutate(pool, 300, np.random.default_rng(0))
    assert new.shape == (300, 17, 3) and new.dtype == np.float32
    np.testing.assert_allclose(bone_lengths(new), np.broadcast_to(bone_lengths(pool[:1]), (300, 16)), rtol=1e-4)
    assert joint_angles_valid(new).all()
    # new poses, not copies of the pool
    nearest = np.min(np.linalg.norm(new[:, None] - pool[None], axis=-1).mean(-1), axis=1)
    assert np.median(nearest) > 30.0
