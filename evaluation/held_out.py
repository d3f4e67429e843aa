"""Evaluate a lifter with the field's metrics on the field's protocols.

    python -m evaluation.held_out --model models/repnet.onnx                   # CMU held-out subjects
    python -m evaluation.held_out --model runs/repnet/checkpoint.pt --json eval.json --markdown
    python -m evaluation.held_out --model mean-pose                             # the trivial reference
    python -m evaluation.held_out --model models/repnet.onnx --protocol h36m \\
        --h36m-3d data_3d_h36m.npz --h36m-2d data_2d_h36m_gt.npz              # Protocols 1 and 2 (S9, S11)
    python -m evaluation.held_out --model models/repnet.onnx --protocol 3dhp --3dhp-root mpi_inf_3dhp_test_set

Where the error is measured. RepNet predicts the pose in its canonical frame; the estimated
weak-perspective camera rotates it into camera coordinates (core.camera.rotation_from_camera),
where it is compared with the ground truth, both root-relative, as the paper evaluates. A model
that predicts in the camera frame directly (the supervised baseline, models/baseline.py) is compared
as it is. Metrics (core/metrics.py): MPJPE (Protocol 1), PA-MPJPE (Protocol 2, no reflections),
N-MPJPE, and PCK@150 mm / AUC on the Protocol 1 errors (3DHP: over its 14 official joints).

2D inputs ("conditions", evaluation/conditions.py), all on the same frames: the protocol's 2D as
given (CMU: exact projections of the held-out subjects through fixed random cameras; Human3.6M and
3DHP: the files' 2D), the same with Gaussian jitter of NOISE_LEVELS_PX (std in px for a person
500 px tall, the training data's noise model), with DROPPED_JOINTS joints per frame removed
(placed on the pelvis, as missing joints are marked in training), and for CMU the detector-like
mix the training run evaluates on (4 px jitter, 1% outliers, 2% dropped joints).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import metrics
from core.contract import ModelContractError
from evaluation.predictors import EvaluationError, load_predictor
from evaluation.protocols import TestData, cmu_test_data, h36m_test_data, mpi_inf_3dhp_test_data
from evaluation.scoring import evaluate
from evaluation.tables import markdown, summary_table
from models.checkpoint import CheckpointError
from models.data import DataError, default_data_root


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m evaluation.held_out", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an .onnx lifter, a .pt checkpoint (models.train or "
                                                       "models.baseline), or `mean-pose`")
    parser.add_argument("--protocol", choices=("cmu", "h36m", "3dhp"), default="cmu")
    parser.add_argument("--data-root", type=Path, default=default_data_root(),
                        help="folder holding cmu_mocap/ (protocol cmu, and the mean pose)")
    parser.add_argument("--h36m-3d", type=Path, help="VideoPose3D's data_3d_h36m.npz (protocol h36m)")
    parser.add_argument("--h36m-2d", type=Path, help="data_2d_h36m_gt.npz or a detections file in H36M layout")
    parser.add_argument("--3dhp-root", dest="mpi_inf_3dhp_root", type=Path,
                        help="the extracted mpi_inf_3dhp_test_set folder holding TS1..TS6 (protocol 3dhp)")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th test frame (default 1: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and dropped joints")
    parser.add_argument("--json", type=Path, help="write the full report (every condition, per joint, per action) here")
    parser.add_argument("--markdown", action="store_true", help="print per-joint and per-action tables as well")
    parser.add_argument("--no-mirror-average", action="store_true",
                        help="lift only the input of a .pt checkpoint, not also its mirror image "
                             "(the shipped lifter averages both)")
    parser.add_argument("--varied-bodies", action="store_true",
                        help="CMU protocol: give every held-out frame its own body proportions instead of the "
                             "reference body's (size +-10%%, bone groups +-8%%)")
    parser.add_argument("--no-reference-size", action="store_true",
                        help="keep a .pt checkpoint's poses at the size the network gives them, not scaled "
                             "to the reference body (the shipped lifter scales them)")
    args = parser.parse_args(argv)
    if args.stride < 1:
        parser.error("--stride must be at least 1")
    if args.varied_bodies and args.protocol != "cmu":
        parser.error("--varied-bodies applies to the CMU protocol only (the other protocols' people have their own bodies)")
    return args


def load_test_data(args: argparse.Namespace) -> TestData:
    if args.protocol == "h36m":
        if args.h36m_3d is None or args.h36m_2d is None:
            raise EvaluationError("protocol h36m needs --h36m-3d data_3d_h36m.npz and --h36m-2d data_2d_h36m_gt.npz "
                                  "(VideoPose3D's files; Human3.6M cannot be shipped)")
        return h36m_test_data(args.h36m_3d, args.h36m_2d, args.stride)
    if args.protocol == "3dhp":
        if args.mpi_inf_3dhp_root is None:
            raise EvaluationError("protocol 3dhp needs --3dhp-root pointing to the extracted mpi_inf_3dhp_test_set")
        return mpi_inf_3dhp_test_data(args.mpi_inf_3dhp_root, args.stride)
    return cmu_test_data(args.data_root, args.stride, varied_bodies=args.varied_bodies)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        predictor = load_predictor(args.model, args.data_root, mirror_average=not args.no_mirror_average,
                                   reference_size=not args.no_reference_size)
        data = load_test_data(args)
        report = evaluate(predictor, data, seed=args.seed, progress=True)
    except (EvaluationError, CheckpointError, ModelContractError, DataError, metrics.MetricInputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    print(markdown(report) if args.markdown else summary_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
