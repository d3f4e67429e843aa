"""The lifter contract: what an ONNX lifter takes and gives, how it is opened and checked.

Input `keypoints_2d` float32 [N,17,2] pixels; outputs `pose_3d` [N,17,3] mm (pelvis at the origin,
canonical frame: +y is gravity) and `camera` [N,2,3] (weak perspective: K @ pose = normalized 2D).
A lifter may have a second graph beside it, `<name>_camera.onnx`, that lifts under a known camera:
the same input plus `camera_angles` [N,2] (elevation, roll) radians. Export writes these graphs
(export/), the runtime reads them (core.lifter); both take the names from here.
"""
from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from core.skeleton import NUM_JOINTS

INPUT_NAME = "keypoints_2d"
CAMERA_INPUT_NAME = "camera_angles"  # the second graph's extra input: (elevation, roll) [N,2] radians
OUTPUT_SHAPES = {"pose_3d": (NUM_JOINTS, 3), "camera": (2, 3)}
OUTPUT_NAMES = list(OUTPUT_SHAPES)   # the order the graphs give them in


def camera_graph_path(model_path: Path | str) -> Path:
    """Where a lifter's lift-under-a-known-camera graph lives: beside it, `<name>_camera.onnx`
    (export/camera_graph.py). Optional: a lifter without one runs with the camera unlocked."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_camera{path.suffix}")


class ModelContractError(ValueError):
    """The model file is missing, not ONNX, or does not follow the lifter contract."""



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
