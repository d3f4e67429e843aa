"""Export a RepNet checkpoint to an ONNX model that follows the lifter contract, and verify it.

The exported graph takes pixels and normalizes inside, so the app feeds MediaPipe's output as it
is. Metadata (onnx metadata_props) makes each model self-describing: joints, units, frames, the
training config and data, the project version and the checkpoint it came from.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

import models
from core import metrics
from core.contract import INPUT_NAME, OUTPUT_NAMES, open_session
from models.checkpoint import generator_from_checkpoint, load_checkpoint
from models.repnet import REFERENCE_SIZE_M, ContractLifter
from core.skeleton import JOINT_NAMES, PARENTS

TOLERANCE_MM = {"fp32": 1e-3, "fp16": 5.0, "int8": 50.0}


class ExportError(RuntimeError):
    """The export or its verification failed (`python -m export` exits with exit_code)."""
    exit_code = 1


class ExportInputError(ExportError):
    """The checkpoint or the output folder cannot be used: bad input, nothing was exported."""
    exit_code = 2


@dataclass
class VariantReport:
    path: Path
    precision: str
    size_mb: float
    latency_ms: float            # batch 1, one thread, median
    max_diff_mm: float           # largest |onnxruntime - torch fp32| over the verification poses
    pa_mpjpe_mm: float | None    # on the checkpoint's held-out reference poses
    pa_mpjpe_change_mm: float | None = None


@dataclass
class ExportReport:
    variants: list[VariantReport] = field(default_factory=list)

    def table(self) -> str:
        lines = ["| model | precision | size (MB) | latency b1 1-thread (ms) | max diff vs torch (mm) "
                 "| PA-MPJPE (mm) | change (mm) |", "|---|---|---|---|---|---|---|"]
        for v in self.variants:
            pa = "n/a" if v.pa_mpjpe_mm is None else f"{v.pa_mpjpe_mm:.2f}"
            change = "" if v.pa_mpjpe_change_mm is None else f"{v.pa_mpjpe_change_mm:+.2f}"
            lines.append(f"| {v.path.name} | {v.precision} | {v.size_mb:.1f} | {v.latency_ms:.3f} "
                         f"| {v.max_diff_mm:.2e} | {pa} | {change} |")
        return "\n".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_metadata(state: dict, checkpoint: Path, precision: str, mirror_average: bool = True,
                   reference_size: bool = True) -> dict[str, str]:
    """metadata_props of an exported lifter; values are strings (JSON where structured)."""
    last_eval = state.get("history", {}).get("eval", [])
    return {
        "contract": "repnet-live-lifter/1",
        "joint_names": json.dumps(list(JOINT_NAMES)),
        "joint_parents": json.dumps(list(PARENTS)),
        "units": json.dumps({INPUT_NAME: "pixels (x right, y down)", "pose_3d": "millimetres",
                             "camera": "weak-perspective 2x3 K: K @ pose_3d.T = normalized 2D"}),
        "normalization": "(kp - kp[pelvis]) / sqrt(mean_j |kp_j - kp_pelvis|^2), inside the graph",
        "frame": "canonical: pelvis at origin, y down, right hip -> left hip along +x, person faces -z",
        "test_time_augmentation": ("mirror average: the lift of the mirrored input, mirrored back, averaged with it"
                                   if mirror_average else "none"),
        "pose_size": (f"the reference body: bones add up to {REFERENCE_SIZE_M * 1000:.0f} mm (one camera cannot see "
                      f"a person's size)" if reference_size else "as the network gives it"),
        "model_config": json.dumps(state["model_config"]),
        "training": json.dumps(state.get("train_config", {})),
        "training_data": json.dumps(state.get("data", {})),
        "training_step": str(state.get("step", "")),
        "held_out_metrics": json.dumps(last_eval[-1] if last_eval else {}),
        "precision": precision,
        "checkpoint": checkpoint.name,
        "checkpoint_sha256": _sha256(checkpoint),
        "project_version": models.__version__,
    }


def _torch_export(lifter: ContractLifter, path: Path) -> None:
    example = torch.randn(2, len(JOINT_NAMES), 2) * 100 + 300
    batch = torch.export.Dim("batch")
    # The exporter reports each op registration it skips (torchvision is not installed): not ours to show.
    for name in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(lifter, (example,), str(path), input_names=[INPUT_NAME],
                          output_names=OUTPUT_NAMES, dynamic_shapes={INPUT_NAME: {0: batch}},
                          dynamo=True, external_data=False, optimize=True, verbose=False)


def _to_fp16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store float32 initializers as float16 and cast them back at load: half the file, fp32 compute."""
    graph = model.graph
    casts, kept = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or numpy_helper.to_array(init).size < 64:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


def _set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)


def _run(path: Path, inputs: np.ndarray, one_frame_per_call: bool) -> tuple[np.ndarray, np.ndarray]:
    """(pose_3d, camera) from the ONNX model. An int8 graph quantizes its activations with one scale
    per call, so it is checked as the app runs it, one frame per call: in a batch of hundreds the
    largest frame sets everyone's scale and the answers stray further than any user would see."""
    session = open_session(path, threads=0)
    if not one_frame_per_call:
        return tuple(session.run(OUTPUT_NAMES, {INPUT_NAME: inputs}))
    outputs = [session.run(OUTPUT_NAMES, {INPUT_NAME: inputs[i:i + 1]}) for i in range(len(inputs))]
    return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])


def _latency_ms(path: Path, sample: np.ndarray, runs: int = 300) -> float:
    session = open_session(path, threads=1)
    feed = {INPUT_NAME: sample[:1]}
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def reference_tensors(state: dict, checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's held-out reference inputs [N,17,2] (pixels) and 3D poses [N,17,3] (mm),
    checked: verification needs both, finite and of matching length."""
    inputs, poses = state.get("reference_inputs"), state.get("reference_poses")
    if not isinstance(inputs, torch.Tensor) or not isinstance(poses, torch.Tensor):
        missing = [name for name, t in (("reference_inputs", inputs), ("reference_poses", poses))
                   if not isinstance(t, torch.Tensor)]
        raise ExportInputError(f"{checkpoint} carries no reference poses to verify against ({', '.join(missing)} "
                               "missing); it was not written by models.train")
    joints = len(JOINT_NAMES)
    if (inputs.ndim != 3 or tuple(inputs.shape[1:]) != (joints, 2) or poses.ndim != 3
            or tuple(poses.shape[1:]) != (joints, 3) or len(inputs) != len(poses) or len(inputs) == 0):
        raise ExportInputError(f"{checkpoint}: reference_inputs {list(inputs.shape)} and reference_poses "
                               f"{list(poses.shape)} should be [N,{joints},2] and [N,{joints},3] with the same N; "
                               "it was not written by models.train or has been altered")
    inputs, poses = inputs.float().numpy(), poses.double().numpy()
    if not (np.isfinite(inputs).all() and np.isfinite(poses).all()):
        raise ExportInputError(f"{checkpoint}: its reference poses hold NaN or inf; it has been damaged or altered")
    return inputs.astype(np.float32), poses.astype(np.float64)


def _staging_file(path: Path) -> Path:
    """An empty temporary file beside `path`: what is written is moved into place only once verified."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def verification_inputs(state: dict, seed: int = 0) -> np.ndarray:
    """Real held-out 2D poses stored in the checkpoint, plus jittered copies at other scales and
    offsets (the graph must be translation and scale invariant), as float32 [N,17,2] pixels."""
    rng = np.random.default_rng(seed)
    real = state["reference_inputs"].numpy().astype(np.float32)
    moved = real * rng.uniform(0.3, 3.0, (len(real), 1, 1)) + rng.uniform(-500, 2000, (len(real), 1, 2))
    return np.concatenate([real, moved.astype(np.float32)])


def export_checkpoint(checkpoint: Path | str, output: Path | str, precisions: tuple[str, ...] = ("fp32",),
                      verify: bool = True, mirror_average: bool = True, reference_size: bool = True) -> ExportReport:
    """Write `output` (fp32) and, on request, fp16 / int8 siblings; verify each against torch.

    mirror_average, reference_size: the test-time steps in the graph (models.repnet.lift).
    Every file is written to a temporary name in the target folder and moved into place only once
    all of them are verified: a failed export leaves nothing at `output` (nor an older file there
    replaced). ExportInputError: the checkpoint or the folder cannot be used; ExportError: the
    export failed or is not faithful.
    """
    checkpoint, output = Path(checkpoint), Path(output)
    if not output.parent.is_dir():
        raise ExportInputError(f"output folder {output.parent} does not exist (create it or choose another --output)")
    try:  # actually writing is the only reliable test (root ignores permission bits, mounts may be read-only)
        os.remove(_staging_file(output))
    except OSError as err:
        raise ExportInputError(f"cannot write to {output.parent} ({err.strerror or err}); "
                               "choose a writable folder for --output") from None
    state = load_checkpoint(checkpoint)
    _, reference_gt = reference_tensors(state, checkpoint)
    generator, _ = generator_from_checkpoint(state, checkpoint)
    lifter = ContractLifter(generator, mirror_average, reference_size).eval()
    inputs = verification_inputs(state)
    with torch.no_grad():
        expected_pose, expected_cam = (t.numpy() for t in lifter(torch.from_numpy(inputs)))
    if not (np.isfinite(expected_pose).all() and np.isfinite(expected_cam).all()):
        raise ExportInputError(f"{checkpoint}: its model gives NaN or inf on its own reference poses (weights that "
                               "are not finite: did training diverge?); nothing was exported")

    staged: dict[Path, Path] = {}  # final path -> the verified temporary file to move there
    scratch: list[Path] = []       # every temporary file, removed whatever happens
    try:
        tmp = _staging_file(output)
        scratch.append(tmp)
        _torch_export(lifter, tmp)
        base = onnx.load(str(tmp))

        report = ExportReport()
        fp32_pa = None
        for precision in ("fp32",) + tuple(p for p in precisions if p != "fp32"):
            path = output if precision == "fp32" else output.with_name(f"{output.stem}_{precision}{output.suffix}")
            work = _staging_file(path)
            scratch.append(work)
            model = onnx.ModelProto()
            model.CopyFrom(base)
            if precision == "fp16":
                model = _to_fp16_weights(model)
            _set_metadata(model, build_metadata(state, checkpoint, precision, mirror_average, reference_size))
            onnx.checker.check_model(model)
            if precision == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic
                float_path = _staging_file(path)
                scratch.append(float_path)
                onnx.save(model, str(float_path))
                quantize_dynamic(str(float_path), str(work), weight_type=QuantType.QInt8)
                quantized = onnx.load(str(work))
                _set_metadata(quantized, build_metadata(state, checkpoint, precision, mirror_average, reference_size))
                onnx.save(quantized, str(work))
            else:
                onnx.save(model, str(work))
            staged[path] = work
            if not verify:
                continue
            pose, cam = _run(work, inputs, one_frame_per_call=precision == "int8")
            diff = float(max(np.abs(pose - expected_pose).max(), np.abs(cam - expected_cam).max() * 1e3))
            if not diff <= TOLERANCE_MM[precision]:  # NaN fails too
                raise ExportError(f"{path}: onnxruntime differs from torch by {diff:.3g} mm, above the "
                                  f"{TOLERANCE_MM[precision]} mm tolerance for {precision}; the export is not faithful "
                                  "and was not written"
                                  + ("; ship fp32 instead (export.release --precision fp32)" if precision == "int8"
                                     else ""))
            n_ref = len(reference_gt)
            pa = metrics.pa_mpjpe(pose[:n_ref].astype(np.float64), reference_gt)
            fp32_pa = pa if precision == "fp32" else fp32_pa
            report.variants.append(VariantReport(path, precision, work.stat().st_size / 1e6,
                                                 _latency_ms(work, inputs), diff, pa,
                                                 None if precision == "fp32" else pa - fp32_pa))
        for path, work in staged.items():  # everything verified: now, and only now, the real names
            os.chmod(work, 0o644)  # mkstemp creates 0600; a model file should be readable like any other
            os.replace(work, path)
        return report
    except OSError as err:  # a full disk, a folder that turned read-only
        raise ExportError(f"writing {output} failed ({err.strerror or err}); nothing was written") from None
    finally:
        for tmp in scratch:
            try:
                os.remove(tmp)
            except FileNotFoundError:  # moved into place, or never written
                pass
