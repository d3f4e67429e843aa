"""The 17-joint Human3.6M skeleton: the one definition every part of the project uses.

Joint order follows the public Human3.6M lifting code (Martinez et al. 2017, VideoPose3D).
Coordinates everywhere in the project are right-handed with y pointing down (the camera
convention: x right, y down, z forward), in millimetres for 3D.
"""
from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",          # 0
    "right_hip",       # 1
    "right_knee",      # 2
    "right_ankle",     # 3
    "left_hip",        # 4
    "left_knee",       # 5
    "left_ankle",      # 6
    "spine",           # 7
    "thorax",          # 8
    "neck_nose",       # 9
    "head",            # 10  head top
    "left_shoulder",   # 11
    "left_elbow",      # 12
    "left_wrist",      # 13
    "right_shoulder",  # 14
    "right_elbow",     # 15
    "right_wrist",     # 16
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PELVIS = 0
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)

# Bones as (parent, child), one per non-root joint, in joint order.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)
NUM_BONES = len(BONES)

# 3D is in millimetres everywhere in the project; the networks compute in metres (models.repnet)
# and some datasets store metres (Human3.6M): this converts.
MM_PER_METRE = 1000.0

# The reference body, in mm per bone (keyed by the bone's child joint): a typical adult, close to
# the mean Human3.6M subject (rounded), standing about 1.67 m. Every 3D training pose is rebuilt
# with these lengths (models/data/cmu.py), and the lifter reports poses at this size
# (models.repnet.to_reference_size): a single camera cannot see how tall someone is.
REFERENCE_BONE_LENGTHS_MM: dict[str, float] = {
    "right_hip": 130.0, "left_hip": 130.0,              # pelvis -> hip
    "right_knee": 450.0, "left_knee": 450.0,            # thigh
    "right_ankle": 440.0, "left_ankle": 440.0,          # shin
    "spine": 230.0,                                     # pelvis -> spine
    "thorax": 250.0,                                    # spine -> thorax
    "neck_nose": 115.0,                                 # thorax -> neck/nose
    "head": 115.0,                                      # neck/nose -> head top
    "right_shoulder": 150.0, "left_shoulder": 150.0,    # thorax -> shoulder
    "right_elbow": 285.0, "left_elbow": 285.0,          # upper arm
    "right_wrist": 250.0, "left_wrist": 250.0,          # forearm
}
# The same as an array in BONES order.
REFERENCE_LENGTHS = np.array([REFERENCE_BONE_LENGTHS_MM[JOINT_NAMES[c]] for _, c in BONES])

# A relaxed standing person in the canonical frame (core/camera.py), mm: used where a pose is
# needed before any is measured (the viewer's first frame, tests).
REST_POSE = np.array([
    [0, 0, 0],          # pelvis
    [-130, 0, 0],       # right hip
    [-130, 440, -30],   # right knee (slightly bent: forward is -z)
    [-130, 880, 0],     # right ankle
    [130, 0, 0],        # left hip
    [130, 440, -30],    # left knee
    [130, 880, 0],      # left ankle
    [0, -230, -10],     # spine
    [0, -480, 0],       # thorax
    [0, -560, -60],     # neck/nose (the person faces -z)
    [0, -700, 0],       # head top
    [170, -470, 0],     # left shoulder
    [200, -190, 0],     # left elbow
    [210, 60, -40],     # left wrist
    [-170, -470, 0],    # right shoulder
    [-200, -190, 0],    # right elbow
    [-210, 60, -40],    # right wrist
], dtype=np.float32)

# Index permutation that swaps left and right joints (for mirroring a pose).
MIRROR_PERMUTATION: tuple[int, ...] = tuple(
    {**{l: r for l, r in zip(LEFT_JOINTS, RIGHT_JOINTS)},
     **{r: l for l, r in zip(LEFT_JOINTS, RIGHT_JOINTS)}}.get(j, j)
    for j in range(NUM_JOINTS)
)


def joint_side(joint: int) -> str:
    """'left', 'right' or 'center': used to colour bones so the sides can be told apart."""
    if joint in LEFT_JOINTS:
        return "left"
    if joint in RIGHT_JOINTS:
        return "right"
    return "center"


def bone_side(bone: tuple[int, int]) -> str:
    """A bone takes the side of its child joint (the pelvis-to-hip bones belong to their leg)."""
    return joint_side(bone[1])


def subtree(joint: int) -> tuple[int, ...]:
    """The joint and every joint below it in the kinematic tree (a knee: knee and ankle)."""
    below = [joint]
    for j, parent in enumerate(PARENTS):
        if parent in below:
            below.append(j)
    return tuple(below)


def bone_matrix() -> np.ndarray:
    """C (17 x 16) with X @ C = B, the bone vectors (child minus parent) of a 3 x 17 pose X.

    This is the Kinematic Chain Space matrix of RepNet; Psi = B.T @ B holds bone lengths on its
    diagonal and the angles between bones off it.
    """
    C = np.zeros((NUM_JOINTS, NUM_BONES), dtype=np.float32)
    for b, (parent, child) in enumerate(BONES):
        C[child, b] = 1.0
        C[parent, b] = -1.0
    return C


# Bone index by child joint name ("right_knee" is the thigh: right_hip -> right_knee).
BONE_INDEX: dict[str, int] = {JOINT_NAMES[c]: b for b, (_, c) in enumerate(BONES)}
_PARENT_OF_BONE = np.array([p for p, _ in BONES])
_CHILD_OF_BONE = np.array([c for _, c in BONES])


def bone_vectors(poses: np.ndarray) -> np.ndarray:
    """Bone vectors (child minus parent) [..., 16, 3], in BONES order."""
    return poses[..., _CHILD_OF_BONE, :] - poses[..., _PARENT_OF_BONE, :]


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    """Bone lengths of poses [..., 17, 3] as [..., 16]."""
    return np.linalg.norm(bone_vectors(poses), axis=-1)


def bone_directions(poses: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Unit bone vectors [..., 16, 3]; a zero-length bone gets a zero vector."""
    vectors = bone_vectors(poses)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), eps)


def poses_from_bones(directions: np.ndarray, lengths: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
    """Rebuild poses [N, 17, 3] along the kinematic tree from unit bone directions [N, 16, 3],
    bone lengths [16] or [N, 16] (BONES order) and pelvis positions [N, 3] (default: origin)."""
    directions = np.asarray(directions, dtype=np.float64)
    vectors = directions * np.asarray(lengths, dtype=np.float64)[..., None]
    poses = np.zeros(directions.shape[:-2] + (NUM_JOINTS, 3))
    if root is not None:
        poses[..., PELVIS, :] = root
    for b, (parent, child) in enumerate(BONES):   # BONES lists parents before children
        poses[..., child, :] = poses[..., parent, :] + vectors[..., b, :]
    return poses


def mirror(poses: np.ndarray) -> np.ndarray:
    """Mirror poses [..., 17, D] across the x = 0 plane and swap left and right labels.

    The result is again an anatomically valid pose (a person doing the mirrored motion).
    """
    mirrored = poses[..., list(MIRROR_PERMUTATION), :].copy()
    mirrored[..., 0] *= -1.0
    return mirrored
