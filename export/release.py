"""Turn a training checkpoint into the shipped model: a slim checkpoint and its ONNX export.

    python -m export.release runs/repnet/checkpoint.pt --out-dir models

writes models/repnet.pt (generator weights in half precision, config, training history and the
held-out reference poses; no critic or optimizer state) and models/repnet.onnx exported from it,
so the ONNX model's checkpoint_sha256 names the file that ships beside it. A generator trained with
a camera input also gets models/repnet_camera.onnx, its lift under a known camera (the app's camera
lock; export/camera_graph.py).

The shipped ONNX lifter is int8 (dynamic quantization of the fp32 export) unless --precision fp32:
a quarter of the size, and inside the live pipeline, where MediaPipe keeps the caches full of its
own data, about 0.8 ms a frame instead of 1.2 (docs/pipeline.md), at the same held-out accuracy
(docs/model.md). The table printed at the end shows both variants' accuracy side by side.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from export.camera_graph import export_camera_graph
from export.onnx_export import ExportError, export_checkpoint
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models"   # where the app finds the default lifter

KEPT = ("step", "model_config", "train_config", "data", "history", "reference_inputs", "reference_poses")


def slim(state: dict) -> dict:
    """The parts of a training checkpoint that inference and export need, weights in fp16."""
    out = {key: state[key] for key in KEPT if key in state}
    out["generator"] = {name: tensor.half() for name, tensor in state["generator"].items()}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint written by models.train")
    parser.add_argument("--out-dir", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--name", default="repnet")
    parser.add_argument("--precision", choices=("int8", "fp32"), default="int8", help="of the shipped ONNX lifter")
    args = parser.parse_args(argv)

    release = args.out_dir / f"{args.name}.pt"
    # Everything is made and verified in a scratch folder first: a failed export leaves the shipped
    # pair as it was, never a new checkpoint beside an old lifter.
    with tempfile.TemporaryDirectory(dir=args.out_dir) as folder:
        staged = Path(folder) / release.name
        save_checkpoint(staged, slim(load_checkpoint(args.checkpoint)))
        report = export_checkpoint(staged, Path(folder) / f"{args.name}.onnx", precisions=("fp32", args.precision))
        kept = next(v for v in report.variants if v.precision == args.precision)
        camera_graph = args.out_dir / f"{args.name}_camera.onnx"
        staged_camera = Path(folder) / camera_graph.name
        if load_checkpoint(staged)["model_config"].get("camera_input"):
            export_camera_graph(staged, staged_camera, args.precision)
        shutil.move(staged, release)
        shutil.move(kept.path, args.out_dir / f"{args.name}.onnx")
        if staged_camera.is_file():
            shutil.move(staged_camera, camera_graph)
        else:  # an older lift-under-camera graph would not belong to the new lifter
            camera_graph.unlink(missing_ok=True)
    print(f"wrote {release} ({release.stat().st_size / 1e6:.1f} MB) and {args.out_dir / args.name}.onnx "
          f"({args.precision}, {kept.size_mb:.1f} MB)")
    print(report.table())


if __name__ == "__main__":
    try:
        main()
    except (CheckpointError, ExportError) as err:
        raise SystemExit(f"error: {err}")
