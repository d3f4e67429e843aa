"""The lifter runtime: an onnxruntime session on a model that follows the project's contract.

    lifter = Lifter()                       # models/repnet.onnx
    result = lifter.process(keypoints_2d)   # [17, 2] or [N, 17, 2] pixels
    result.pose_3d, result.camera, result.valid

Contract: input `keypoints_2d` float32 [N,17,2] pixels; outputs `pose_3d` [N,17,3] mm (pelvis at
the origin, canonical frame) and `camera` [N,2,3] (weak perspective). Frames whose input is
non-finite, absurdly large or degenerate (all joints on one spot) are never sent to the model:
they come back with valid=False and zeros, so callers never see NaN.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.skeleton import NUM_JOINTS, PELVIS

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "repnet.onnx"
INPUT_NAME = "keypoints_2d"
CAMERA_INPUT_NAME = "camera_angles"  # the second graph's extra input: (elevation, roll) [N,2] radians
OUTPUT_SHAPES = {"pose_3d": (NUM_JOINTS, 3), "camera": (2, 3)}

MAX_ABS_PIXELS = 1e6    # beyond any real image: such input is corrupt, not a pose
MIN_POSE_SIZE_PX = 2.0  # RMS joint distance from the pelvis below which a pose is degenerate


def camera_graph_path(model_path: Path | str) -> Path:
    """Where a lifter's lift-under-a-known-camera graph lives: beside it, `<name>_camera.onnx`
    (export/camera_graph.py). Optional: a lifter without one runs with the camera unlocked."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_camera{path.suffix}")


class ModelContractError(ValueError):
    """The model file is missing, not ONNX, or does not follow the lifter contract."""


@dataclass
class LiftResult:
    pose_3d: np.ndarray  # [N, 17, 3] float32, mm
    camera: np.ndarray   # [N, 2, 3] float32
    valid: np.ndarray    # [N] bool: False where the input could not be lifted (outputs are zeros)


def _static_dims(shape: list) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in shape)


def check_contract(session: ort.InferenceSession, path: Path) -> None:
    """Raise ModelContractError naming the first way the model breaks the contract."""
    inputs = session.get_inputs()
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ModelContractError(f"{path}: inputs are {[i.name for i in inputs]}, the lifter contract needs "
                                 f"one input '{INPUT_NAME}' [N,17,2] (export it with `python -m export`)")
    dims = _static_dims(inputs[0].shape)
    if len(dims) != 3 or dims[1:] != (NUM_JOINTS, 2) or inputs[0].type != "tensor(float)":
        raise ModelContractError(f"{path}: input '{INPUT_NAME}' is {inputs[0].type} {inputs[0].shape}, "
                                 f"the contract needs float32 [N,{NUM_JOINTS},2]")
    # The app lifts one frame at a time and evaluation thousands: N must be free, not fixed.
    if dims[0] is not None:
        raise ModelContractError(f"{path}: input '{INPUT_NAME}' has a fixed batch of {dims[0]}, the contract needs "
                                 f"a free batch dimension [N,{NUM_JOINTS},2] (export it with `python -m export`)")
    outputs = {o.name: o for o in session.get_outputs()}
    for name, shape in OUTPUT_SHAPES.items():
        if name not in outputs:
            raise ModelContractError(f"{path}: output '{name}' is missing (outputs: {sorted(outputs)}); "
                                     "the contract needs 'pose_3d' [N,17,3] and 'camera' [N,2,3]")
        out_dims = _static_dims(outputs[name].shape)
        if len(out_dims) != 3 or any(d is not None and d != s for d, s in zip(out_dims[1:], shape)):
            raise ModelContractError(f"{path}: output '{name}' has shape {outputs[name].shape}, "
                                     f"the contract needs [N,{shape[0]},{shape[1]}]")
        if out_dims[0] is not None:
            raise ModelContractError(f"{path}: output '{name}' has a fixed batch of {out_dims[0]}, the contract "
                                     f"needs [N,{shape[0]},{shape[1]}] with N the input's batch")
        if outputs[name].type != "tensor(float)":
            raise ModelContractError(f"{path}: output '{name}' is {outputs[name].type}, the contract needs float32 "
                                     "(tensor(float))")


def _liftable(keypoints: np.ndarray) -> np.ndarray:
    """[N] bool: finite, within any plausible image, and not collapsed onto one point."""
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(keypoints).all(axis=(1, 2)) & (np.abs(keypoints) < MAX_ABS_PIXELS).all(axis=(1, 2))
        centred = np.where(finite[:, None, None], keypoints - keypoints[:, PELVIS:PELVIS + 1], 0.0)
        size = np.sqrt((centred ** 2).sum(-1).mean(-1))
    return finite & (size >= MIN_POSE_SIZE_PX)


def open_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session on `path`; ModelContractError in one line if it cannot be loaded."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # one thread: MediaPipe needs the other cores
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for unreadable models
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ModelContractError(f"{path} is not a loadable ONNX model ({reason})") from None


class Lifter:
    """Lifts 2D keypoints (H36M-17, pixels) to 3D poses and weak-perspective cameras.

    Where the model has a lift-under-a-known-camera graph beside it (camera_graph_path), that is
    loaded too, and process() takes the camera to lift under (the app's camera lock)."""

    def __init__(self, model_path: Path | str = DEFAULT_MODEL_PATH, threads: int = 1):
        path = Path(model_path)
        if not path.is_file():
            raise ModelContractError(f"model not found: {path} (pass --model PATH to an ONNX lifter)")
        self.session = open_session(path, threads)
        check_contract(self.session, path)
        self.path = path
        self.metadata = self._read_metadata()
        self.non_finite_streak = 0  # frames in a row the model answered with NaN or inf (a broken model)
        camera_path = camera_graph_path(path)
        self.under_camera = open_session(camera_path, threads) if camera_path.is_file() else None
        if self.under_camera is not None and [i.name for i in self.under_camera.get_inputs()] != [INPUT_NAME,
                                                                                                   CAMERA_INPUT_NAME]:
            raise ModelContractError(f"{camera_path}: inputs are {[i.name for i in self.under_camera.get_inputs()]}, "
                                     f"a lift-under-camera graph needs '{INPUT_NAME}' and '{CAMERA_INPUT_NAME}' "
                                     "(export it with `python -m models.release`, or remove it)")

    @property
    def can_lift_under_camera(self) -> bool:
        return self.under_camera is not None

    def _read_metadata(self) -> dict:
        props = self.session.get_modelmeta().custom_metadata_map
        metadata = {}
        for key, value in props.items():
            try:
                metadata[key] = json.loads(value)
            except json.JSONDecodeError:
                metadata[key] = value
        return metadata

    def process(self, keypoints_2d: np.ndarray, camera_angles: np.ndarray | None = None) -> LiftResult:
        """Lift one pose [17, 2] or a batch [N, 17, 2] (pixels). Never raises on bad values.
        camera_angles: (elevation, roll) radians, [2] or [N, 2], of a known camera to lift under
        (needs can_lift_under_camera); None lifts with the camera unknown."""
        keypoints = np.asarray(keypoints_2d, dtype=np.float64)
        if keypoints.shape == (NUM_JOINTS, 2):
            keypoints = keypoints[None]
        if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, 2):
            raise ValueError(f"keypoints_2d must be [17, 2] or [N, 17, 2], got {list(keypoints.shape)}")
        n = keypoints.shape[0]
        pose_3d = np.zeros((n, NUM_JOINTS, 3), np.float32)
        camera = np.zeros((n, 2, 3), np.float32)
        valid = _liftable(keypoints)
        if valid.any():
            batch = keypoints[valid].astype(np.float32)
            if camera_angles is None:
                poses, cams = self.session.run(["pose_3d", "camera"], {INPUT_NAME: batch})
            else:
                if self.under_camera is None:
                    raise ValueError(f"{self.path} has no lift-under-camera graph ({camera_graph_path(self.path).name})")
                angles = np.broadcast_to(np.asarray(camera_angles, np.float32).reshape(-1, 2), (n, 2))[valid]
                poses, cams = self.under_camera.run(["pose_3d", "camera"], {INPUT_NAME: batch,
                                                                            CAMERA_INPUT_NAME: np.ascontiguousarray(angles)})
            ok = np.isfinite(poses).all(axis=(1, 2)) & np.isfinite(cams).all(axis=(1, 2))
            idx = np.flatnonzero(valid)
            pose_3d[idx[ok]], camera[idx[ok]] = poses[ok], cams[ok]
            valid[idx[~ok]] = False
            finite = np.flatnonzero(ok)
            self.non_finite_streak = int(len(ok) - 1 - finite[-1]) if len(finite) else self.non_finite_streak + len(ok)
        return LiftResult(pose_3d=pose_3d, camera=camera, valid=valid)
