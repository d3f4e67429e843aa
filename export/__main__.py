"""python -m export --checkpoint PATH --output PATH.onnx [--fp16] [--int8] [--no-mirror-average] [--no-reference-size]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.checkpoint import CheckpointError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=(
        "Export a RepNet checkpoint to an ONNX lifter (input keypoints_2d [N,17,2] pixels; outputs pose_3d "
        "[N,17,3] mm and camera [N,2,3]), check it with the ONNX checker and verify it against torch."))
    parser.add_argument("--checkpoint", required=True, type=Path, help="a .pt checkpoint written by models.train")
    parser.add_argument("--output", required=True, type=Path, help="where to write the fp32 .onnx model")
    parser.add_argument("--fp16", action="store_true", help="also write OUTPUT_fp16.onnx (half-size weights)")
    parser.add_argument("--int8", action="store_true", help="also write OUTPUT_int8.onnx (dynamic int8 quantization)")
    parser.add_argument("--no-mirror-average", action="store_true",
                        help="lift only the input, not also its mirror image (about 0.1 ms faster, a few mm less accurate)")
    parser.add_argument("--no-reference-size", action="store_true",
                        help="keep poses at the size the network gives them, not scaled to the reference body")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-vs-torch parity check")
    args = parser.parse_args(argv)
    if args.output.suffix != ".onnx":
        parser.error(f"--output must end in .onnx, got {args.output}")

    from export.onnx_export import ExportError, export_checkpoint  # after parsing: --help stays fast
    precisions = ("fp32",) + (("fp16",) if args.fp16 else ()) + (("int8",) if args.int8 else ())
    # Exit 2: the checkpoint or --output cannot be used; 1: the export itself failed. One line each.
    try:
        report = export_checkpoint(args.checkpoint, args.output, precisions, verify=not args.no_verify,
                                   mirror_average=not args.no_mirror_average,
                                   reference_size=not args.no_reference_size)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # the exporter, checker or quantizer failed: still one line, nothing written
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        print(f"error: exporting {args.checkpoint} failed ({type(err).__name__}: {reason}); nothing was written",
              file=sys.stderr)
        return 1
    for variant in report.variants:
        print(f"wrote {variant.path} ({variant.precision}, {variant.size_mb:.1f} MB): largest difference from "
              f"torch {variant.max_diff_mm:.2e} mm")
    if report.variants:
        print(report.table())
    else:
        print(f"wrote {args.output} (not verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
