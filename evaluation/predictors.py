"""The lifters an evaluation scores, each as a Predictor: pixels [N,17,2] -> camera-frame poses
[N,17,3] (mm, pelvis at the origin).

  onnx_predictor        an exported lifter as the app runs it (core.lifter.Lifter)
  checkpoint_predictor  a checkpoint of models.train (RepNet) or models.baseline, lifted with the
                        exported lifter's test-time steps (models.validation.predict_camera_frame)
  mean_pose_predictor   the trivial reference: the mean training pose, turned to fit each frame's 2D
  load_predictor        one of them from a command-line --model value
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.camera import canonicalize, rotation_from_camera
from core.skeleton import PELVIS
from models.checkpoint import generator_from_checkpoint, load_checkpoint
from models.data import DataError, cmu, default_data_root
from models.validation import predict_camera_frame


class EvaluationError(ValueError):
    """A model or option that cannot be evaluated; the message says what to do."""


@dataclass
class Predictor:
    """A lifter under evaluation: pixels [N,17,2] -> camera-frame poses [N,17,3] (mm, pelvis at 0)."""
    name: str
    kind: str                                   # "repnet", "supervised_baseline" or "mean_pose"
    lift: Callable[[np.ndarray], np.ndarray]


def onnx_predictor(path: Path | str, threads: int = 1, batch_size: int = 1) -> Predictor:
    """The ONNX lifter as the app runs it (core.lifter.Lifter), its camera rotating the pose.

    One frame per call by default, as the live app lifts: an int8 model quantizes its activations
    with one scale per call, so a batch of thousands gives slightly different answers (for the
    shipped model 0.8 mm better PA-MPJPE than it really delivers live).
    """
    from core.lifter import Lifter  # onnxruntime only where an ONNX model is evaluated
    lifter = Lifter(path, threads=threads)

    def lift(keypoints_2d: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(keypoints_2d), batch_size):
            result = lifter.lift(keypoints_2d[start:start + batch_size])
            R, _ = rotation_from_camera(result.camera)  # frames the lifter refused: zero poses
            out.append(np.einsum("nij,nkj->nki", R, result.pose_3d.astype(np.float64)))
        return np.concatenate(out)

    return Predictor(Path(path).name, "repnet", lift)


def checkpoint_predictor(path: Path | str, mirror_average: bool = True, reference_size: bool = True) -> Predictor:
    """A checkpoint of models.train (RepNet) or models.baseline (camera-frame output), lifted with
    the exported lifter's test-time steps (predict_camera_frame) unless they are turned off."""
    state = load_checkpoint(Path(path))
    generator, _ = generator_from_checkpoint(state, path)
    kind = state.get("model_kind", "repnet")
    rotate = kind == "repnet"
    return Predictor(Path(path).name, kind, lambda kp: predict_camera_frame(generator, kp, rotate_by_camera=rotate,
                                                                          mirror_average=mirror_average,
                                                                          reference_size=reference_size))


def training_poses(poses: dict[str, np.ndarray]) -> np.ndarray:
    """Canonical 3D poses [N,17,3] mm of every CMU training subject (critic and projection) in
    `poses` (models.data.cmu.load_cmu_poses: subject -> world poses)."""
    subjects = [s for s in cmu.CRITIC_SUBJECTS + cmu.PROJECTION_SUBJECTS if s in poses]
    if not subjects:
        raise DataError(f"no CMU training subjects among {', '.join(poses) or 'no subjects'}; expected "
                        f"{', '.join(cmu.CRITIC_SUBJECTS + cmu.PROJECTION_SUBJECTS)}")
    return canonicalize(np.concatenate([poses[s] for s in subjects]).astype(np.float64))


def fit_rotation_to_2d(pose: np.ndarray, keypoints_2d: np.ndarray) -> np.ndarray:
    """Rotations [N,3,3] under which the fixed 3D pose [17,3] reprojects onto each frame's 2D
    [N,17,2]: the least-squares affine camera K (2x3, pelvis-centred), made a rotation by
    core.camera.rotation_from_camera (closest orthonormal rows, third row their cross product)."""
    centred_3d = pose - pose[PELVIS]
    centred_2d = keypoints_2d - keypoints_2d[:, PELVIS:PELVIS + 1]
    K = np.einsum("njl,jk->nlk", centred_2d, np.linalg.pinv(centred_3d).T)  # W^T X (X^T X)^-1
    R, _ = rotation_from_camera(K)
    return R


def mean_pose_predictor(data_root: Path | str | None = None, poses: dict[str, np.ndarray] | None = None) -> Predictor:
    """The trivial reference: the mean training pose, turned by the rotation that best fits it
    to each frame's 2D input. It sees only the 2D, like any lifter (no ground-truth camera).
    `poses` (models.data.cmu.load_cmu_poses' result) saves reading the data again."""
    if poses is None:
        poses = cmu.load_cmu_poses(Path(data_root or default_data_root()), progress=False)
    mean_pose = training_poses(poses).mean(axis=0)

    def lift(keypoints_2d: np.ndarray) -> np.ndarray:
        R = fit_rotation_to_2d(mean_pose, np.asarray(keypoints_2d, dtype=np.float64))
        return np.einsum("nij,kj->nki", R, mean_pose - mean_pose[PELVIS])

    return Predictor("mean training pose", "mean_pose", lift)


def load_predictor(model: str, data_root: Path | str | None = None, mirror_average: bool = True,
                   reference_size: bool = True) -> Predictor:
    """`mean-pose`, an ONNX lifter (.onnx) or a checkpoint (.pt). The test-time steps
    (mirror_average, reference_size) apply to checkpoints; an ONNX lifter has them in its graph or
    not (its metadata says which)."""
    if model == "mean-pose":
        return mean_pose_predictor(data_root)
    path = Path(model)
    if not path.is_file():
        raise EvaluationError(f"model not found: {path} (pass an .onnx lifter, a .pt checkpoint or `mean-pose`)")
    if path.suffix == ".onnx":
        if not (mirror_average and reference_size):
            raise EvaluationError(f"{path}: mirror averaging and reference size are part of an ONNX lifter's graph; "
                                  "evaluate the checkpoint instead, or export one with `python -m export "
                                  "--no-mirror-average` or `--no-reference-size`")
        return onnx_predictor(path)
    if path.suffix == ".pt":
        return checkpoint_predictor(path, mirror_average, reference_size)
    raise EvaluationError(f"{path}: unknown model type {path.suffix!r}; pass an .onnx lifter, a .pt checkpoint "
                          "or `mean-pose`")
