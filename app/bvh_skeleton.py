"""The BVH file's skeleton and its motion: the joints, their rest pose, and each frame's rotations
solved from a measured pose (app/bvh_export.py writes them as a file).

The file's skeleton is the reference body (core/skeleton.py REFERENCE_BONE_LENGTHS_MM) in a
T-pose (arms out along x, legs and spine along y), in centimetres, y up, the person facing +z
(towards the camera): the world frame of app/world.py. Every frame, each bone's rotation turns
its rest direction into the direction measured between its two joints, so forward kinematics of
the file puts every joint where the lifted pose points it, at the reference body's bone lengths
(a single camera cannot see a person's own: the lifter only fixes the total size). The root
(pelvis) moves along `root_world`.

BVH gives a joint one rotation for all its children, so a joint with several bones (the pelvis:
both hips and the spine; the thorax: neck and both shoulders) could not point each of them where
it was measured. Each such bone hangs from a zero-length joint of its own (`pelvis_to_right_hip`,
`thorax_to_left_shoulder`, ...) placed at the branching joint, which makes any set of directions
reproducible exactly. The pelvis and thorax joints themselves carry the body's and the chest's
orientation (hips and shoulders across, spine up), for tools that retarget by them.

A direction leaves the bone's twist about itself open. Upper and lower limbs share one hinge axis,
the normal of the plane of the knee's or elbow's bend, so the knee and elbow turn about one axis
and the limbs do not spin; a straight limb, whose bend plane is not defined, blends over to the
axis a bend would have given (a knee bends backwards, an elbow forwards). Other bones take the
smallest rotation from their parent (no twist of their own).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.world import rotation_between
from core.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, PARENTS, REFERENCE_BONE_LENGTHS_MM

HINGE_BLEND = 0.25        # weight of the straight-limb axis: bends of more than ~15 degrees set the hinge
EPS = 1e-9

_J = JOINT_INDEX
X_AXIS, Y_AXIS, Z_AXIS = np.eye(3)

# The T-pose: each bone's direction (keyed by its child joint) in the world frame.
REST_DIRECTIONS: dict[str, np.ndarray] = {
    "right_hip": -X_AXIS, "left_hip": X_AXIS,
    "right_knee": -Y_AXIS, "left_knee": -Y_AXIS, "right_ankle": -Y_AXIS, "left_ankle": -Y_AXIS,
    "spine": Y_AXIS, "thorax": Y_AXIS, "neck_nose": Y_AXIS, "head": Y_AXIS,
    "left_shoulder": X_AXIS, "left_elbow": X_AXIS, "left_wrist": X_AXIS,
    "right_shoulder": -X_AXIS, "right_elbow": -X_AXIS, "right_wrist": -X_AXIS,
}


@dataclass(frozen=True)
class BvhJoint:
    """One joint of the file. `start` is the H36M joint it sits at; its bone points to `end`."""
    name: str
    parent: int                  # index into SKELETON, -1 for the root
    start: int                   # H36M joint at this joint's position
    end: int | None              # H36M joint its bone points to; None: the pelvis and thorax frames
    rule: str                    # how its rotation is solved: "pelvis", "chest", "swing", "leg", "arm"
    order: str                   # its rotation channels, outermost first
    end_site: int | None = None  # H36M joint of an End Site child (the limbs' and head's tips)


def _skeleton() -> tuple[BvhJoint, ...]:
    # Channel orders keep the middle (gimbal-locking) axis on the one that rarely reaches 90
    # degrees: the bone's own axis (its twist) for limbs and spine, the roll for the root.
    joints: list[BvhJoint] = [BvhJoint("pelvis", -1, _J["pelvis"], None, "pelvis", "YZX")]

    def add(name: str, parent: int, start: str, end: str | None, rule: str, order: str,
            end_site: str | None = None) -> int:
        joints.append(BvhJoint(name, parent, _J[start], None if end is None else _J[end], rule, order,
                               None if end_site is None else _J[end_site]))
        return len(joints) - 1

    for side in ("right", "left"):
        branch = add(f"pelvis_to_{side}_hip", 0, "pelvis", f"{side}_hip", "swing", "ZXY")
        hip = add(f"{side}_hip", branch, f"{side}_hip", f"{side}_knee", "leg", "ZYX")
        add(f"{side}_knee", hip, f"{side}_knee", f"{side}_ankle", "leg", "ZYX", end_site=f"{side}_ankle")
    branch = add("pelvis_to_spine", 0, "pelvis", "spine", "swing", "ZYX")
    spine = add("spine", branch, "spine", "thorax", "swing", "ZYX")
    thorax = add("thorax", spine, "thorax", None, "chest", "ZXY")
    branch = add("thorax_to_neck_nose", thorax, "thorax", "neck_nose", "swing", "ZYX")
    add("neck_nose", branch, "neck_nose", "head", "swing", "ZYX", end_site="head")
    for side in ("left", "right"):
        branch = add(f"thorax_to_{side}_shoulder", thorax, "thorax", f"{side}_shoulder", "swing", "ZXY")
        shoulder = add(f"{side}_shoulder", branch, f"{side}_shoulder", f"{side}_elbow", "arm", "ZXY")
        add(f"{side}_elbow", shoulder, f"{side}_elbow", f"{side}_wrist", "arm", "ZXY", end_site=f"{side}_wrist")
    return tuple(joints)


SKELETON = _skeleton()
THORAX_BVH = next(i for i, joint in enumerate(SKELETON) if joint.name == "thorax")


def rest_positions_m() -> np.ndarray:
    """The T-pose's 17 joints [17, 3] in metres, pelvis at the origin."""
    rest = np.zeros((NUM_JOINTS, 3))
    for child, parent in enumerate(PARENTS):  # parents come before their children
        if parent >= 0:
            name = JOINT_NAMES[child]
            rest[child] = rest[parent] + REST_DIRECTIONS[name] * REFERENCE_BONE_LENGTHS_MM[name] / 1000.0
    return rest


REST_M = rest_positions_m()


def reference_body(joints: np.ndarray) -> np.ndarray:
    """What the file reproduces of poses [..., 17, 3] (m): the pelvis where it is, every bone in
    its measured direction at the reference body's length."""
    joints = np.asarray(joints, dtype=np.float64)
    out = np.empty_like(joints)
    out[..., 0, :] = joints[..., 0, :]
    for child, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        bone = joints[..., child, :] - joints[..., parent, :]
        length = np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), EPS)
        out[..., child, :] = out[..., parent, :] + bone / length * REFERENCE_BONE_LENGTHS_MM[JOINT_NAMES[child]] / 1000.0
    return out


# --- rotations ------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > EPS else v), norm


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit a to unit b, also when they are opposite."""
    if float(np.dot(a, b)) < -1.0 + 1e-9:
        axis = np.cross(a, X_AXIS if abs(a[0]) < 0.9 else Y_AXIS)
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)  # a half turn about an axis perpendicular to a
    return rotation_between(a, b)


def _frame(across: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """The rotation taking the rest frame (x across, y up) to one with y along `up` and x the part
    of `across` perpendicular to it; None where they are (nearly) parallel."""
    y, length = _unit(up)
    if length < EPS:
        return None
    x, length = _unit(across - np.dot(across, y) * y)
    if length < 1e-6:
        return None
    return np.stack([x, y, np.cross(x, y)], axis=1)


def _rest_hinge(joint: BvhJoint) -> np.ndarray:
    """The rest hinge axis: a knee bends backwards (forward x bone), an elbow forwards (bone x forward)."""
    d0 = REST_DIRECTIONS[JOINT_NAMES[joint.end]]
    return np.cross(Z_AXIS, d0) if joint.rule == "leg" else np.cross(d0, Z_AXIS)


def solve_rotations(joints: np.ndarray, previous: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Every BVH joint's global rotation (3x3, rest to now) for one pose [17, 3] in the world frame.
    `previous`, the last frame's answer, decides what is undefined in this one (a straight limb
    pointing along the body's forward axis, a bone of zero length)."""
    joints = np.asarray(joints, dtype=np.float64)
    rotations: list[np.ndarray] = []
    for index, joint in enumerate(SKELETON):
        parent = rotations[joint.parent] if joint.parent >= 0 else np.eye(3)
        last = previous[index] if previous is not None else parent
        if joint.rule in ("pelvis", "chest"):
            if joint.rule == "pelvis":
                across = joints[_J["left_hip"]] - joints[_J["right_hip"]]
                up = joints[_J["spine"]] - joints[_J["pelvis"]]
            else:
                across = joints[_J["left_shoulder"]] - joints[_J["right_shoulder"]]
                up = joints[_J["thorax"]] - joints[_J["spine"]]
            frame = _frame(across, up)
            rotations.append(last if frame is None else frame)
            continue
        d0 = REST_DIRECTIONS[JOINT_NAMES[joint.end]]
        d, length = _unit(joints[joint.end] - joints[joint.start])
        if length < EPS:  # two joints in one place: keep the bone as it was
            rotations.append(last)
            continue
        rotation = None
        if joint.rule in ("leg", "arm"):
            # The limb's three joints: (hip, knee, ankle) or (shoulder, elbow, wrist).
            if PARENTS[joint.end] == joint.start and any(PARENTS[c] == joint.end for c in range(NUM_JOINTS)):
                top, mid = joint.start, joint.end
                bottom = next(c for c in range(NUM_JOINTS) if PARENTS[c] == joint.end)
            else:
                top, mid, bottom = PARENTS[joint.start], joint.start, joint.end
            upper, _ = _unit(joints[mid] - joints[top])
            lower, _ = _unit(joints[bottom] - joints[mid])
            forward = rotations[0 if joint.rule == "leg" else THORAX_BVH][:, 2]
            straight = np.cross(forward, upper) if joint.rule == "leg" else np.cross(upper, forward)
            straight, _ = _unit(straight)
            hinge = np.cross(upper, lower) + HINGE_BLEND * straight
            hinge = hinge - np.dot(hinge, d) * d
            if np.linalg.norm(hinge) < 1e-3:  # straight and along the forward axis: as last frame
                hinge = last @ _rest_hinge(joint)
                hinge = hinge - np.dot(hinge, d) * d
            hinge, length = _unit(hinge)
            if length > 1e-3:
                h0 = _rest_hinge(joint)
                rotation = np.stack([d, hinge, np.cross(d, hinge)], axis=1) @ \
                    np.stack([d0, h0, np.cross(d0, h0)], axis=1).T
        if rotation is None:
            rotation = _swing(parent @ d0, d) @ parent
        rotations.append(rotation)
    return rotations


_AXIS = {"X": 0, "Y": 1, "Z": 2}


def euler_degrees(rotation: np.ndarray, order: str) -> np.ndarray:
    """Angles (a, b, c) in degrees with rotation = R_order[0](a) @ R_order[1](b) @ R_order[2](c):
    BVH's reading of a joint's channels, the first listed outermost."""
    i, j, k = (_AXIS[a] for a in order)
    sign = 1.0 if (j - i) % 3 == 1 else -1.0  # an even (cyclic) order or an odd one
    R = rotation
    b = math.asin(max(-1.0, min(1.0, sign * R[i, k])))
    if math.cos(b) > 1e-7:
        a = math.atan2(-sign * R[j, k], R[k, k])
        c = math.atan2(-sign * R[i, j], R[i, i])
    else:  # gimbal lock: a and c turn about one axis; put it all in a
        a = math.atan2(sign * R[k, j], R[j, j])
        c = 0.0
    return np.degrees([a, b, c])


def _axis_rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(3)
    p, q = [(1, 2), (2, 0), (0, 1)][axis]
    m[p, p], m[p, q], m[q, p], m[q, q] = c, -s, s, c
    return m


def euler_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """The inverse of euler_degrees."""
    out = np.eye(3)
    for axis, angle in zip(order, angles):
        out = out @ _axis_rotation(_AXIS[axis], float(angle))
    return out
