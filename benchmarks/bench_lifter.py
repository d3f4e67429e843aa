"""Lifter latency and throughput: onnxruntime fp32 / fp16 / int8 against torch eager.

    python benchmarks/bench_lifter.py                                   # models/repnet.pt (+ .onnx)
    python benchmarks/bench_lifter.py --checkpoint runs/repnet/checkpoint.pt --json bench.json

From the checkpoint, the three ONNX variants are exported to a temporary folder with
export.onnx_export.export_checkpoint (fp16: half-precision weights cast back at load, fp32
compute; int8: onnxruntime dynamic quantization). Without a checkpoint only the given ONNX model
(fp32) is timed and torch is skipped. Each is timed at batch 1 (latency: median time per call)
and batch 256 (throughput: frames per second), on one thread and on all cores; torch eager runs
the same network (models.repnet.ContractLifter) for comparison, on the GPU too where torch sees one.
Accuracy of each variant on the held-out CMU subjects (detector-like 2D) is measured with
evaluation.held_out's scoring, so that a faster variant's cost in millimetres is in the same table.

The machine (CPU model, cores) is printed with the table. Other work on a shared machine only
ever slows a run down: each figure is the best of --repeats rounds.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evaluation.machine import machine_description

REPO_ROOT = Path(__file__).resolve().parents[1]

BATCHES = (1, 256)
PRECISIONS = ("fp32", "fp16", "int8")
MIN_SECONDS = 0.5      # per measurement round: run until this much time has passed ...
MIN_RUNS = 5           # ... and at least this many calls


def sample_inputs(n: int, seed: int = 0) -> np.ndarray:
    """Plausible 2D poses in pixels: the shared rest pose seen from random directions, jittered."""
    from core.camera import random_camera_rotations
    from core.skeleton import REST_POSE
    rng = np.random.default_rng(seed)
    R = random_camera_rotations(n, rng)
    pose = np.einsum("nij,kj->nki", R, REST_POSE.astype(np.float64))
    return (pose[..., :2] * 0.5 + 320.0 + rng.normal(0, 3, (n, 17, 2))).astype(np.float32)


def time_calls(call, runs_min: int = MIN_RUNS, seconds_min: float = MIN_SECONDS, repeats: int = 3) -> float:
    """Median seconds per call, the best over `repeats` rounds (after a warm-up)."""
    for _ in range(3):
        call()
    best = float("inf")
    for _ in range(repeats):
        times = []
        start = time.perf_counter()
        while len(times) < runs_min or time.perf_counter() - start < seconds_min:
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        best = min(best, float(np.median(times)))
    return best


def bench_onnx(path: Path, threads: int, batch: int, repeats: int) -> float:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"keypoints_2d": sample_inputs(batch)}
    return time_calls(lambda: session.run(None, feed), repeats=repeats)


def bench_torch(lifter, threads: int | None, batch: int, repeats: int, device: str = "cpu") -> float:
    import torch
    if threads is not None:
        torch.set_num_threads(threads)
    inputs = torch.from_numpy(sample_inputs(batch)).to(device)

    def call():
        with torch.no_grad():
            lifter(inputs)
        if device != "cpu":
            torch.cuda.synchronize()

    return time_calls(call, repeats=repeats)


def accuracy(path: Path, data) -> dict:
    """MPJPE and PA-MPJPE (mm) of an ONNX variant on the CMU detector-like condition."""
    from evaluation.predictors import onnx_predictor
    from evaluation.scoring import score
    realistic = next(iter(data.extra_conditions.values()))
    s = score(onnx_predictor(path).lift(realistic), data.poses_camera)["summary"]
    return {"mpjpe": s["mpjpe"], "pa_mpjpe": s["pa_mpjpe"]}


def run(checkpoint: Path | None, model: Path | None, repeats: int = 3, with_accuracy: bool = True,
        data_root: Path | None = None) -> dict:
    """All measurements as {"machine", "rows": [{runtime, precision, device, threads, batch, ms, fps, size_mb, ...}]}."""
    all_threads = os.cpu_count() or 1
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        variants: dict[str, Path] = {}
        lifter = None
        if checkpoint is not None:
            from export.onnx_export import export_checkpoint
            from models.checkpoint import generator_from_checkpoint, load_checkpoint
            from models.repnet import ContractLifter as Lifter
            print(f"exporting {checkpoint} to fp32 / fp16 / int8 ...", file=sys.stderr)
            logging.disable(logging.WARNING)  # the quantizer's advice on pre-processing: not for an MLP
            try:
                export_checkpoint(checkpoint, Path(folder) / "lifter.onnx", PRECISIONS, verify=False)
            finally:
                logging.disable(logging.NOTSET)
            variants = {p: Path(folder) / ("lifter.onnx" if p == "fp32" else f"lifter_{p}.onnx") for p in PRECISIONS}
            generator, _ = generator_from_checkpoint(load_checkpoint(checkpoint), checkpoint)
            lifter = Lifter(generator).eval()
        elif model is not None:
            variants = {"fp32": model}
        data = None
        if with_accuracy:
            from evaluation.protocols import cmu_test_data
            from models.data import DataError, default_data_root
            try:
                data = cmu_test_data(data_root or default_data_root())
            except DataError as err:
                print(f"accuracy skipped: {err}", file=sys.stderr)
        for precision, path in variants.items():
            extra = {"size_mb": path.stat().st_size / 1e6}
            if data is not None:
                extra.update(accuracy(path, data))
            for threads in sorted({1, all_threads}):
                for batch in BATCHES:
                    print(f"onnxruntime {precision} threads={threads} batch={batch}", file=sys.stderr)
                    seconds = bench_onnx(path, threads, batch, repeats)
                    rows.append({"runtime": "onnxruntime", "precision": precision, "device": "CPU",
                                 "threads": threads, "batch": batch, "ms": seconds * 1e3, "fps": batch / seconds,
                                 **extra})
        if lifter is not None:
            import torch
            threads_before = torch.get_num_threads()
            for threads in sorted({1, all_threads}):
                for batch in BATCHES:
                    print(f"torch eager fp32 threads={threads} batch={batch}", file=sys.stderr)
                    seconds = bench_torch(lifter, threads, batch, repeats)
                    rows.append({"runtime": "torch eager", "precision": "fp32", "device": "CPU", "threads": threads,
                                 "batch": batch, "ms": seconds * 1e3, "fps": batch / seconds})
            torch.set_num_threads(threads_before)
            if torch.cuda.is_available():
                name = torch.cuda.get_device_name(0)
                lifter_gpu = lifter.to("cuda")
                for batch in BATCHES:
                    seconds = bench_torch(lifter_gpu, None, batch, repeats, device="cuda")
                    rows.append({"runtime": "torch eager", "precision": "fp32", "device": f"GPU {name}",
                                 "threads": None, "batch": batch, "ms": seconds * 1e3, "fps": batch / seconds})
    return {"machine": machine_description(), "checkpoint": str(checkpoint) if checkpoint else None,
            "model": str(model) if model else None, "rows": rows}


def markdown_table(result: dict) -> str:
    has_accuracy = any("pa_mpjpe" in r for r in result["rows"])
    header = "| runtime | precision | device | threads | batch | ms per call | frames/s | model (MB) |"
    header += " MPJPE / PA-MPJPE (mm) |" if has_accuracy else ""
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in result["rows"]:
        size = f"{r['size_mb']:.1f}" if "size_mb" in r else ""
        line = (f"| {r['runtime']} | {r['precision']} | {r['device']} | {r['threads'] or ''} | {r['batch']} | "
                f"{r['ms']:.3f} | {r['fps']:,.0f} | {size} |")
        if has_accuracy:
            line += f" {r['mpjpe']:.1f} / {r['pa_mpjpe']:.1f} |" if "pa_mpjpe" in r else " |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=REPO_ROOT / "models" / "repnet.pt",
                        help="checkpoint to export and time (default models/repnet.pt)")
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "repnet.onnx",
                        help="ONNX model timed when the checkpoint is absent")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per measurement; the best counts")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the held-out accuracy of each variant")
    parser.add_argument("--data-root", type=Path, help="data folder for the accuracy column")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint if args.checkpoint.is_file() else None
    model = args.model if args.model.is_file() else None
    if checkpoint is None and model is None:
        print(f"error: neither {args.checkpoint} nor {args.model} exists; pass --checkpoint or --model",
              file=sys.stderr)
        return 2
    from export.onnx_export import ExportError
    from models.checkpoint import CheckpointError
    try:
        result = run(checkpoint, model, args.repeats, not args.no_accuracy, args.data_root)
    except (CheckpointError, ExportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Machine: {result['machine']}; lifter: {checkpoint or model}\n")
    print(markdown_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
