"""Turn a training checkpoint into the shipped model: a slim checkpoint and its ONNX export.

    python -m models.release runs/repnet/checkpoint.pt --out-dir models

writes models/repnet.pt (generator weights in half precision, config, training history and the
held-out reference poses; no critic or optimizer state) and models/repnet.onnx exported from it,
so the ONNX model's checkpoint_sha256 names the file that ships beside it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

KEPT = ("step", "model_config", "train_config", "data", "history", "reference_inputs", "reference_poses")


def slim(state: dict) -> dict:
    """The parts of a training checkpoint that inference and export need, weights in fp16."""
    out = {key: state[key] for key in KEPT if key in state}
    out["generator"] = {name: tensor.half() for name, tensor in state["generator"].items()}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint written by models.train")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--name", default="repnet")
    args = parser.parse_args(argv)
    from export.onnx_export import export_checkpoint

    release = args.out_dir / f"{args.name}.pt"
    save_checkpoint(release, slim(load_checkpoint(args.checkpoint)))
    report = export_checkpoint(release, args.out_dir / f"{args.name}.onnx")
    print(f"wrote {release} ({release.stat().st_size / 1e6:.1f} MB)")
    print(report.table())


if __name__ == "__main__":
    try:
        main()
    except CheckpointError as err:
        raise SystemExit(f"error: {err}")
