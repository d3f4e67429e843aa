"""Anatomically valid 3D pose augmentation, and the bone geometry it is built on (numpy only).

Every function takes poses [N, 17, 3] (world or canonical frame, any length unit, y down) and a
np.random.Generator, and returns new poses; inputs are never modified. All of them keep the
skeleton a skeleton: bone lengths stay exactly what each function says they are.

  random_rotation      yaw all round, small pitch and roll, about each pose's pelvis
  random_mirror        mirror (core.skeleton.mirror) with probability p
  vary_bone_lengths    per-sample scale of each bone, the same for left and right
  crossover_limbs      EvoSkeleton-style: swap whole limbs (as directions relative to the torso)
  mutate_bones         EvoSkeleton-style: small random rotations of limb, neck and head bones,
                       rejecting results that break simple joint-angle limits
  crossover_and_mutate new poses from random pairs of a pool (crossover, then mutation)
"""
from __future__ import annotations

import numpy as np

from core.camera import rotation_about_x, rotation_about_y, rotation_about_z
from core.skeleton import (BONE_INDEX, BONES, JOINT_INDEX, JOINT_NAMES, NUM_BONES, PELVIS, bone_directions,
                             bone_vectors, mirror, poses_from_bones)

# The bone that ends at a bone's parent joint (-1 for bones leaving the pelvis).
_PARENT_BONE = np.array([BONE_INDEX.get(JOINT_NAMES[p], -1) for p, _ in BONES])

# Left/right bones share one length factor; each group is named after its right-side bone.
BONE_GROUPS: dict[str, tuple[str, ...]] = {
    "hip": ("right_hip", "left_hip"), "thigh": ("right_knee", "left_knee"),
    "shin": ("right_ankle", "left_ankle"), "spine": ("spine",), "thorax": ("thorax",),
    "neck": ("neck_nose",), "head": ("head",), "shoulder": ("right_shoulder", "left_shoulder"),
    "upper_arm": ("right_elbow", "left_elbow"), "forearm": ("right_wrist", "left_wrist"),
}

# Limbs for crossover: bones named by child joint. The pelvis->hip and thorax->shoulder bones
# stay with the torso; a limb is what hangs from it.
LIMBS: dict[str, tuple[str, ...]] = {
    "right_leg": ("right_knee", "right_ankle"), "left_leg": ("left_knee", "left_ankle"),
    "right_arm": ("right_elbow", "right_wrist"), "left_arm": ("left_elbow", "left_wrist"),
}
# Bones that mutation may turn (the rigid torso: pelvis, spine, thorax, clavicles, stays).
MUTABLE_BONES: tuple[str, ...] = ("right_knee", "right_ankle", "left_knee", "left_ankle",
                                  "right_elbow", "right_wrist", "left_elbow", "left_wrist",
                                  "neck_nose", "head")


def _normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def _frame(lateral: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Orthonormal frames [N, 3, 3] with columns (lateral, down, lateral x down), Gram-Schmidt."""
    x = _normalize(lateral)
    y = _normalize(down - np.sum(down * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def torso_frames(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pelvis frames, chest frames) [N, 3, 3]: the legs hang from the first, the arms from the
    second. Columns: right-to-left axis, downward axis (along the spine), and their cross product."""
    j = JOINT_INDEX
    pelvis = _frame(poses[:, j["left_hip"]] - poses[:, j["right_hip"]],
                    poses[:, j["pelvis"]] - poses[:, j["spine"]])
    chest = _frame(poses[:, j["left_shoulder"]] - poses[:, j["right_shoulder"]],
                   poses[:, j["spine"]] - poses[:, j["thorax"]])
    return pelvis, chest


def _limb_frame(frames: tuple[np.ndarray, np.ndarray], limb: str) -> np.ndarray:
    return frames[0] if limb.endswith("leg") else frames[1]


def joint_angles_valid(poses: np.ndarray, hyperextension_deg: float = 15.0,
                       max_flexion_deg: float = 165.0) -> np.ndarray:
    """[N] bool: True where every knee bends backwards (within `hyperextension_deg` of straight)
    and no knee or elbow folds beyond `max_flexion_deg`.

    The knee's hinge axis is taken as the pelvis's left-right axis, so "backwards" is the
    direction the shin turns when the knee flexes: lateral x thigh. Three points cannot show
    which way an elbow bends (the upper arm may twist), so elbows get only the flexion limit.
    """
    j = JOINT_INDEX
    pelvis_frame, _ = torso_frames(poses)
    lateral = pelvis_frame[..., 0]
    ok = np.ones(len(poses), dtype=bool)
    cos_max = np.cos(np.deg2rad(max_flexion_deg))
    for side in ("right", "left"):
        thigh = _normalize(poses[:, j[f"{side}_knee"]] - poses[:, j[f"{side}_hip"]])
        shin = _normalize(poses[:, j[f"{side}_ankle"]] - poses[:, j[f"{side}_knee"]])
        backwards = _normalize(np.cross(lateral, thigh))
        ok &= np.sum(shin * backwards, axis=-1) >= -np.sin(np.deg2rad(hyperextension_deg))
        ok &= np.sum(shin * thigh, axis=-1) >= cos_max
        upper = _normalize(poses[:, j[f"{side}_elbow"]] - poses[:, j[f"{side}_shoulder"]])
        fore = _normalize(poses[:, j[f"{side}_wrist"]] - poses[:, j[f"{side}_elbow"]])
        ok &= np.sum(upper * fore, axis=-1) >= cos_max
    return ok


# ---- augmentations ---------------------------------------------------------------------------

def random_rotation(poses: np.ndarray, rng: np.random.Generator, max_pitch_deg: float = 10.0,
                    max_roll_deg: float = 10.0) -> np.ndarray:
    """Rotate each pose about its pelvis: yaw uniform over the full circle, pitch (about x) and
    roll (about z) uniform within +-max (a person leaning a little, or a tilted floor)."""
    n = len(poses)
    yaw = rng.uniform(-np.pi, np.pi, n)
    pitch = np.deg2rad(rng.uniform(-max_pitch_deg, max_pitch_deg, n))
    roll = np.deg2rad(rng.uniform(-max_roll_deg, max_roll_deg, n))
    R = rotation_about_z(roll) @ rotation_about_x(pitch) @ rotation_about_y(yaw)
    pelvis = poses[:, PELVIS:PELVIS + 1, :]
    return np.einsum("nij,nkj->nki", R, poses - pelvis) + pelvis


def random_mirror(poses: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each pose with probability p (core.skeleton.mirror: across x = 0, left and right
    swapped). A canonical pose (hips along +x) stays canonical."""
    flip = rng.random(len(poses)) < p
    return np.where(flip[:, None, None], mirror(poses), poses)


def vary_bone_lengths(poses: np.ndarray, rng: np.random.Generator, body_scale: tuple[float, float] = (0.9, 1.1),
                      bone_scale: float = 0.08) -> np.ndarray:
    """Scale every bone of each pose by body * (1 + u), body ~ U(body_scale) for the whole pose and
    u ~ U(-bone_scale, bone_scale) per bone group (left and right share one factor), then rebuild
    along the kinematic tree from the pelvis. Bone directions are unchanged."""
    n = len(poses)
    body = rng.uniform(*body_scale, size=(n, 1))
    group = 1.0 + rng.uniform(-bone_scale, bone_scale, size=(n, len(BONE_GROUPS)))
    factors = np.empty((n, NUM_BONES))
    for g, names in enumerate(BONE_GROUPS.values()):
        for name in names:
            factors[:, BONE_INDEX[name]] = group[:, g]
    lengths = np.linalg.norm(bone_vectors(poses), axis=-1) * factors * body
    return poses_from_bones(bone_directions(poses), lengths, poses[:, PELVIS]).astype(poses.dtype)


def crossover_limbs(poses_a: np.ndarray, poses_b: np.ndarray, rng: np.random.Generator,
                    p: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Children of pose pairs (a_i, b_i): each limb (LIMBS) comes from b with probability p.

    A swapped limb keeps its orientation relative to the torso it hangs from (pelvis frame for
    legs, chest frame for arms), so joint angles move between bodies, not world directions; bone
    lengths are a's. Returns (children [N, 17, 3], swapped [N, 4] bool in LIMBS order).
    """
    dirs_a, dirs_b = bone_directions(poses_a), bone_directions(poses_b)
    frames_a, frames_b = torso_frames(poses_a), torso_frames(poses_b)
    swapped = rng.random((len(poses_a), len(LIMBS))) < p
    new_dirs = dirs_a.copy()
    for k, (limb, bones) in enumerate(LIMBS.items()):
        fa, fb = _limb_frame(frames_a, limb), _limb_frame(frames_b, limb)
        for name in bones:
            b = BONE_INDEX[name]
            local = np.einsum("nji,nj->ni", fb, dirs_b[:, b])          # b's torso frame
            moved = np.einsum("nij,nj->ni", fa, local)                 # into a's torso frame
            new_dirs[:, b] = np.where(swapped[:, k, None], moved, dirs_a[:, b])
    lengths = np.linalg.norm(bone_vectors(poses_a), axis=-1)
    children = poses_from_bones(new_dirs, lengths, poses_a[:, PELVIS]).astype(poses_a.dtype)
    return children, swapped


def _axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] from unit axes [..., 3] and angles [...] (Rodrigues)."""
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1), np.stack([-y, x, zero], -1)], -2)
    s, c = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
    return np.eye(3) + s * K + (1.0 - c) * (K @ K)


def mutate_bones(poses: np.ndarray, rng: np.random.Generator, angle_std_deg: float = 15.0,
                 bone_prob: float = 0.5, tries: int = 5) -> np.ndarray:
    """Turn each MUTABLE_BONES bone, with probability bone_prob, by a rotation about a random axis
    through its parent joint, angle ~ N(0, angle_std_deg); the bones below it turn along (as if
    the joint moved). Poses breaking joint_angles_valid are drawn again up to `tries` times, then
    left unchanged. Bone lengths are unchanged."""
    dirs = bone_directions(poses)
    lengths = np.linalg.norm(bone_vectors(poses), axis=-1)
    mutable = np.array([JOINT_NAMES[c] in MUTABLE_BONES for _, c in BONES])
    out = poses.astype(np.float64).copy()
    todo = np.arange(len(poses))
    for _ in range(tries):
        if len(todo) == 0:
            break
        n = len(todo)
        axis = _normalize(rng.normal(size=(n, NUM_BONES, 3)))
        angle = np.deg2rad(rng.normal(0.0, angle_std_deg, (n, NUM_BONES)))
        angle *= mutable & (rng.random((n, NUM_BONES)) < bone_prob)
        local = _axis_angle(axis, angle)
        # Compose down the tree: a bone turns with every turned bone above it.
        total = np.empty_like(local)
        for b in range(NUM_BONES):   # parents' bones come first in BONES order
            parent = _PARENT_BONE[b]
            total[:, b] = local[:, b] if parent < 0 else total[:, parent] @ local[:, b]
        new_dirs = np.einsum("nbij,nbj->nbi", total, dirs[todo])
        candidate = poses_from_bones(new_dirs, lengths[todo], poses[todo, PELVIS])
        ok = joint_angles_valid(candidate)
        out[todo[ok]] = candidate[ok]
        todo = todo[~ok]
    return out.astype(poses.dtype)


def crossover_and_mutate(pool: np.ndarray, n: int, rng: np.random.Generator, crossover_p: float = 0.5,
                         angle_std_deg: float = 15.0, bone_prob: float = 0.5) -> np.ndarray:
    """n new poses [n, 17, 3]: crossover of random pairs from `pool` [M, 17, 3], then mutation.
    Children violating the joint-angle limits after crossover are replaced by their first parent
    (before mutation), so every returned pose passes joint_angles_valid if the pool does."""
    a = pool[rng.integers(0, len(pool), n)]
    b = pool[rng.integers(0, len(pool), n)]
    children, _ = crossover_limbs(a, b, rng, p=crossover_p)
    ok = joint_angles_valid(children)
    children = np.where(ok[:, None, None], children, a)
    return mutate_bones(children, rng, angle_std_deg=angle_std_deg, bone_prob=bone_prob)
