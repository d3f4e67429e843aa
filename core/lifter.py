"""The lifter runtime: an onnxruntime session on a model that follows the lifter contract (core.contract).

    lifter = Lifter()                       # models/repnet.onnx
    result = lifter.lift(keypoints_2d)   # [17, 2] or [N, 17, 2] pixels
    result.pose_3d, result.camera, result.valid

Frames whose input is
non-finite, absurdly large or degenerate (all joints on one spot) are never sent to the model:
they come back with valid=False and zeros, so callers never see NaN.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.contract import (CAMERA_INPUT_NAME, INPUT_NAME, OUTPUT_NAMES, ModelContractError, camera_graph_path,
                           check_contract, open_session)
from core.skeleton import NUM_JOINTS, PELVIS

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "repnet.onnx"
MAX_ABS_PIXELS = 1e6    # beyond any real image: such input is corrupt, not a pose
MIN_POSE_SIZE_PX = 2.0  # RMS joint distance from the pelvis below which a pose is degenerate


@dataclass
class LiftResult:
    pose_3d: np.ndarray  # [N, 17, 3] float32, mm
    camera: np.ndarray   # [N, 2, 3] float32
    valid: np.ndarray    # [N] bool: False where the input could not be lifted (outputs are zeros)


def _liftable(keypoints: np.ndarray) -> np.ndarray:
    """[N] bool: finite, within any plausible image, and not collapsed onto one point."""
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(keypoints).all(axis=(1, 2)) & (np.abs(keypoints) < MAX_ABS_PIXELS).all(axis=(1, 2))
        centred = np.where(finite[:, None, None], keypoints - keypoints[:, PELVIS:PELVIS + 1], 0.0)
        size = np.sqrt((centred ** 2).sum(-1).mean(-1))
    return finite & (size >= MIN_POSE_SIZE_PX)


class Lifter:
    """Lifts 2D keypoints (H36M-17, pixels) to 3D poses and weak-perspective cameras.

    Where the model has a lift-under-a-known-camera graph beside it (camera_graph_path), that is
    loaded too, and lift() takes the camera to lift under (the app's camera lock)."""

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
                                     "(export it with `python -m export.release`, or remove it)")

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

    def lift(self, keypoints_2d: np.ndarray, camera_angles: np.ndarray | None = None) -> LiftResult:
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
                poses, cams = self.session.run(OUTPUT_NAMES, {INPUT_NAME: batch})
            else:
                if self.under_camera is None:
                    raise ValueError(f"{self.path} has no lift-under-camera graph ({camera_graph_path(self.path).name})")
                angles = np.broadcast_to(np.asarray(camera_angles, np.float32).reshape(-1, 2), (n, 2))[valid]
                poses, cams = self.under_camera.run(OUTPUT_NAMES, {INPUT_NAME: batch,
                                                                            CAMERA_INPUT_NAME: np.ascontiguousarray(angles)})
            ok = np.isfinite(poses).all(axis=(1, 2)) & np.isfinite(cams).all(axis=(1, 2))
            idx = np.flatnonzero(valid)
            pose_3d[idx[ok]], camera[idx[ok]] = poses[ok], cams[ok]
            valid[idx[~ok]] = False
            finite = np.flatnonzero(ok)
            self.non_finite_streak = int(len(ok) - 1 - finite[-1]) if len(finite) else self.non_finite_streak + len(ok)
        return LiftResult(pose_3d=pose_3d, camera=camera, valid=valid)
