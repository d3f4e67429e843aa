"""MediaPipe Pose's 33 landmarks -> the 17-joint Human3.6M skeleton (core.skeleton), with visibility.

Every H36M joint is a fixed weighted sum of a few MediaPipe landmarks (weights summing to 1, so
the mapping commutes with translation, scaling and mirroring):

| H36M joint                    | MediaPipe landmarks                          | why |
| pelvis                        | mid(left_hip 23, right_hip 24)               | H36M's root sits between the hip joints |
| hips, knees, ankles           | 23-28 directly                               | same anatomical points |
| thorax                        | mid(left_shoulder 11, right_shoulder 12)     | H36M's thorax is at the base of the neck, level with the shoulders |
| spine                         | mid(pelvis, thorax)                          | H36M's spine joint lies about half-way up the trunk (pelvis->spine ~ spine->thorax in H36M's bone lengths) |
| neck_nose                     | nose 0                                       | H36M's "neck/nose" joint is at the face |
| head (top of the skull)       | mid(ears 7, 8) + 1.5 * (mid(eyes 2, 5) - mid(mouth 9, 10)) | see below |
| shoulders, elbows, wrists     | 11-16 directly                               | same anatomical points |

Head. H36M's "head" is the top of the skull, which MediaPipe does not give. The crown sits
above the ear canals whichever way the head turns (in a frontal view the ear midpoint lies
between the eyes horizontally; in profile it moves back with the skull, where the eyes would not).
We move up from there along the face's own up direction, mouth -> eyes, by 1.5 eye-to-mouth
distances: the eye line is about 10-11 cm below the vertex and about 7 cm above the mouth (adult
anthropometry). In the shared photo pose.jpg (a profile) the top of the skull lies 26 px above
the eyes with an eye-to-mouth distance of 17.5 px, i.e. 1.5. The face axis tilts and
foreshortens with the head, so the point follows nods and tilts.

Visibility. Direct joints carry their landmark's visibility; derived joints take the minimum of
their sources (a midpoint is only as trustworthy as its least visible input).

NaN or inf in a landmark reaches only the joints built from it; nothing is clipped or repaired
here (the lifter flags non-finite input).
"""
from __future__ import annotations

import numpy as np

from core.skeleton import JOINT_NAMES, NUM_JOINTS

# MediaPipe Pose landmark indices (odd = the person's left).
NOSE = 0
LEFT_EYE, RIGHT_EYE = 2, 5
LEFT_EAR, RIGHT_EAR = 7, 8
MOUTH_LEFT, MOUTH_RIGHT = 9, 10
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
LEFT_KNEE, RIGHT_KNEE = 25, 26
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
NUM_LANDMARKS = 33

HEAD_ABOVE_EYES = 1.5  # head top = ear midpoint + this many eye-to-mouth distances up the face

# joint -> ((landmark, weight), ...); the weights of each joint sum to 1.
JOINT_SOURCES: dict[str, tuple[tuple[int, float], ...]] = {
    "pelvis": ((LEFT_HIP, 0.5), (RIGHT_HIP, 0.5)),
    "right_hip": ((RIGHT_HIP, 1.0),),
    "right_knee": ((RIGHT_KNEE, 1.0),),
    "right_ankle": ((RIGHT_ANKLE, 1.0),),
    "left_hip": ((LEFT_HIP, 1.0),),
    "left_knee": ((LEFT_KNEE, 1.0),),
    "left_ankle": ((LEFT_ANKLE, 1.0),),
    "spine": ((LEFT_HIP, 0.25), (RIGHT_HIP, 0.25), (LEFT_SHOULDER, 0.25), (RIGHT_SHOULDER, 0.25)),
    "thorax": ((LEFT_SHOULDER, 0.5), (RIGHT_SHOULDER, 0.5)),
    "neck_nose": ((NOSE, 1.0),),
    "head": ((LEFT_EAR, 0.5), (RIGHT_EAR, 0.5),
             (LEFT_EYE, HEAD_ABOVE_EYES / 2), (RIGHT_EYE, HEAD_ABOVE_EYES / 2),
             (MOUTH_LEFT, -HEAD_ABOVE_EYES / 2), (MOUTH_RIGHT, -HEAD_ABOVE_EYES / 2)),
    "left_shoulder": ((LEFT_SHOULDER, 1.0),),
    "left_elbow": ((LEFT_ELBOW, 1.0),),
    "left_wrist": ((LEFT_WRIST, 1.0),),
    "right_shoulder": ((RIGHT_SHOULDER, 1.0),),
    "right_elbow": ((RIGHT_ELBOW, 1.0),),
    "right_wrist": ((RIGHT_WRIST, 1.0),),
}
assert tuple(JOINT_SOURCES) == JOINT_NAMES


def _gather_tables() -> tuple[np.ndarray, np.ndarray]:
    """[17, S] landmark indices and weights, padded with a source the joint already uses at
    weight 0 (so padding never brings in another landmark's NaN, nor lowers the visibility min)."""
    width = max(len(sources) for sources in JOINT_SOURCES.values())
    index = np.zeros((NUM_JOINTS, width), dtype=np.intp)
    weight = np.zeros((NUM_JOINTS, width), dtype=np.float64)
    for j, sources in enumerate(JOINT_SOURCES.values()):
        for s in range(width):
            landmark, w = sources[s] if s < len(sources) else (sources[0][0], 0.0)
            index[j, s], weight[j, s] = landmark, w
    return index, weight


SOURCE_INDEX, SOURCE_WEIGHT = _gather_tables()


def mediapipe_to_h36m(landmarks: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks [..., 33, D] (any units, D = 2 or 3) and visibility [..., 33] -> H36M-17 joints
    [..., 17, D] and visibility [..., 17]. Floating dtypes are kept (float32 stays float32)."""
    landmarks = np.asarray(landmarks)
    visibility = np.asarray(visibility)
    if landmarks.ndim < 2 or landmarks.shape[-2] != NUM_LANDMARKS:
        raise ValueError(f"landmarks must be [..., {NUM_LANDMARKS}, D], got {list(landmarks.shape)}")
    if visibility.shape != landmarks.shape[:-1]:
        raise ValueError(f"visibility must be {list(landmarks.shape[:-1])}, got {list(visibility.shape)}")
    dtype = np.result_type(landmarks.dtype, np.float32)
    gathered = landmarks[..., SOURCE_INDEX, :].astype(dtype, copy=False)  # [..., 17, S, D]
    # Weighted sum over the few real sources only; 0 * (a padded copy) adds nothing new.
    with np.errstate(over="ignore", invalid="ignore"):
        joints = np.einsum("...jsd,js->...jd", gathered, SOURCE_WEIGHT.astype(dtype))
    joint_visibility = visibility[..., SOURCE_INDEX].min(axis=-1).astype(np.result_type(visibility.dtype, np.float32))
    return joints, joint_visibility
