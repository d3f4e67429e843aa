"""The second graph of a lifter trained with a camera input: the lift under a known camera.

A webcam does not move. Once the app knows the camera's elevation and roll (app/camera_lock.py), it
lifts every frame under that camera, so that a squat is explained by bent knees and not by a tilted
camera. The contract's lifter (models/repnet.onnx) keeps its single input; this graph sits beside
it as models/repnet_camera.onnx (core.contract.camera_graph_path) with two inputs:

    keypoints_2d   float32 [N,17,2] pixels, as the contract's lifter
    camera_angles  float32 [N,2] (elevation, roll) radians, core.camera.camera_angles' convention

and the contract's outputs pose_3d [N,17,3] and camera [N,2,3].
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from core.contract import CAMERA_INPUT_NAME, INPUT_NAME, OUTPUT_NAMES, open_session
from export.onnx_export import TOLERANCE_MM, ExportError, _set_metadata, build_metadata
from models.checkpoint import generator_from_checkpoint, load_checkpoint
from models.repnet import LifterUnderCamera
from core.skeleton import NUM_JOINTS


def verification_angles(n: int, seed: int = 0) -> np.ndarray:
    """Cameras [n, 2] (elevation, roll) over the range real cameras take, radians."""
    rng = np.random.default_rng(seed)
    return np.deg2rad(np.stack([rng.uniform(-15, 45, n), rng.normal(0, 5, n)], 1)).astype(np.float32)


def export_camera_graph(checkpoint: Path | str, output: Path | str, precision: str = "int8") -> float:
    """Write the lift-under-a-camera graph of `checkpoint` to `output` and verify it against torch on
    the checkpoint's reference poses; returns the largest difference in mm. ExportError if the
    checkpoint's generator has no camera input or the graph is not faithful."""
    checkpoint, output = Path(checkpoint), Path(output)
    state = load_checkpoint(checkpoint)
    generator, cfg = generator_from_checkpoint(state, checkpoint)
    if not cfg.camera_input:
        raise ExportError(f"{checkpoint}: its generator was trained without a camera input "
                          "(models.train --camera-input true); it has no lift under a known camera")
    lifter = LifterUnderCamera(generator).eval()
    keypoints = state["reference_inputs"].numpy().astype(np.float32)
    angles = verification_angles(len(keypoints))
    with torch.no_grad():
        expected = [t.numpy() for t in lifter(torch.from_numpy(keypoints), torch.from_numpy(angles))]

    float_path = output.with_name(output.name + ".float.tmp")
    staged = output.with_name(output.name + ".tmp")
    try:
        _torch_export(lifter, float_path)
        model = onnx.load(str(float_path))
        metadata = {**build_metadata(state, checkpoint, precision),
                    "camera_input": f"{CAMERA_INPUT_NAME} [N,2]: (elevation, roll) radians of the camera to lift under"}
        _set_metadata(model, metadata)
        onnx.save(model, str(float_path))
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic
            quantize_dynamic(str(float_path), str(staged), weight_type=QuantType.QInt8)
            quantized = onnx.load(str(staged))
            _set_metadata(quantized, metadata)
            onnx.save(quantized, str(staged))
        else:
            os.replace(float_path, staged)
        session = open_session(staged, threads=0)
        got = [np.concatenate(parts) for parts in zip(*(  # one frame per call, as the app runs it
            session.run(OUTPUT_NAMES, {INPUT_NAME: keypoints[i:i + 1], CAMERA_INPUT_NAME: angles[i:i + 1]})
            for i in range(len(keypoints))))]
        diff = float(max(np.abs(got[0] - expected[0]).max(), np.abs(got[1] - expected[1]).max() * 1e3))
        if diff > TOLERANCE_MM[precision]:
            raise ExportError(f"{output}: onnxruntime differs from torch by {diff:.3g} mm, above the "
                              f"{TOLERANCE_MM[precision]} mm tolerance for {precision}")
        os.replace(staged, output)
        return diff
    finally:
        for leftover in (float_path, staged):
            leftover.unlink(missing_ok=True)


def _torch_export(lifter: LifterUnderCamera, path: Path) -> None:
    example = (torch.randn(2, NUM_JOINTS, 2) * 100 + 300, torch.zeros(2, 2))
    batch = torch.export.Dim("batch")
    for name in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(lifter, example, str(path), input_names=[INPUT_NAME, CAMERA_INPUT_NAME],
                          output_names=OUTPUT_NAMES,
                          dynamic_shapes={INPUT_NAME: {0: batch}, CAMERA_INPUT_NAME: {0: batch}},
                          dynamo=True, external_data=False, optimize=True, verbose=False)
