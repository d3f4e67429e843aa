"""Regenerate docs/results.md and its figures (docs/images/results_*.png) in one run.

    OMP_NUM_THREADS=1 python scripts/make_results.py                    # default: about 15 min on 2 CPU cores
    python scripts/make_results.py --steps 6000 --width 512              # longer ablation / baseline runs
    python scripts/make_results.py --model models/repnet.onnx --checkpoint models/repnet.pt   # (the defaults)

In order:
1. trains the comparison runs, or reuses them from runs/results/<name>/ (git-ignored) when the
   command is unchanged: RepNet with all its parts and without the KCS path / the camera loss /
   augmentation, all on one short schedule (--steps, --width: shorter than the shipped model's),
   and the supervised baseline (models/baseline.py) of the same width on paired 2D-3D;
2. evaluates those, the shipped model (--model, the ONNX file users run) and the mean training pose
   with evaluation.held_out on the held-out CMU subjects, every 2D input condition;
3. times the lifter (benchmarks/bench_lifter.py on --checkpoint);
4. draws the figures: error against 2D noise and dropped joints, per-joint error, training curves
   (the shipped checkpoint's history; the short runs' held-out curves), qualitative frames from a
   real video (MediaPipe -> lifter -> the app's 3D view beside the 2D overlay);
5. writes docs/results.md, every figure with the exact command that produced it and the machine.
"""
from __future__ import annotations

# The steps live in evaluation/ (results_runs, results_rows, results_plots, results_tables,
# results_page); this command runs them in order. Only the speed table's benchmark stays here:
# benchmarks/ is above evaluation/, so evaluation/ never loads it.
import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

from evaluation.machine import machine_description
from evaluation.predictors import EvaluationError
from evaluation.results_page import ResultsPage, SpeedTable, write_page
from evaluation.results_plots import plot_per_joint, plot_robustness, plot_run_curves, qualitative_frames
from evaluation.results_rows import SHIPPED_LABEL, Evaluations, evaluate_models
from evaluation.results_runs import (BASELINE_RUNS, REPNET_RUNS, REPO_ROOT, data_root_args, shown,
                                     train_comparison_runs)
from models import train
from models.checkpoint import CheckpointError
from models.data import DataError, default_data_root

DOCS = REPO_ROOT / "docs"
IMAGES = DOCS / "images"  # the page links its figures as images/results_*.png
VIDEO = "pose_squats.mp4"  # the qualitative frames' video, under <data>/media/tfjs_models_pose_detection/


def main(argv: list[str] | None = None) -> int:
    """Steps 1 to 5 of the module docstring, in order."""
    args = parse_args(argv)
    started = time.time()
    this_command = "python scripts/make_results.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    data_root = args.data_root or default_data_root()
    machine = machine_description()
    IMAGES.mkdir(parents=True, exist_ok=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")

    runs = train_comparison_runs(args.steps, args.width, args.data_root, args.runs_dir, args.retrain)
    training_seconds = sum(r["seconds"] for r in runs.values())
    found = evaluate_models(args.model, args.checkpoint, runs, args.runs_dir, data_root, args.steps, args.width)
    bench_command, speed = measure_speed(args)
    has_curves, frames_caption = draw_figures(args, found, data_root)

    minutes = (time.time() - started) / 60
    page = ResultsPage(this_command=this_command, threads=threads, machine=machine, minutes=minutes,
                       training_seconds=training_seconds, model=args.model, checkpoint=args.checkpoint,
                       runs_dir=args.runs_dir, steps=args.steps, width=args.width, runs=runs, evaluations=found,
                       has_curves=has_curves, frames_caption=frames_caption, bench_command=bench_command, speed=speed)
    args.output.write_text(write_page(page))
    print(f"wrote {args.output} in {minutes:.1f} min ({training_seconds / 60:.1f} min of training)", file=sys.stderr)
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "repnet.onnx",
                        help="the shipped ONNX lifter (evaluated as users run it)")
    parser.add_argument("--checkpoint", type=Path, default=REPO_ROOT / "models" / "repnet.pt",
                        help="the shipped checkpoint (training curves, speed benchmark)")
    parser.add_argument("--steps", type=int, default=4000, help="generator steps of every comparison run")
    parser.add_argument("--width", type=int, default=256, help="network width of every comparison run")
    parser.add_argument("--runs-dir", type=Path, default=REPO_ROOT / "runs" / "results")
    parser.add_argument("--data-root", type=Path, help="data folder (default: $REPNET_DATA or ../shared/data)")
    parser.add_argument("--retrain", action="store_true", help="train every run again even when cached")
    parser.add_argument("--skip-bench", action="store_true", help="leave out the speed benchmark")
    parser.add_argument("--skip-frames", action="store_true", help="leave out the qualitative video frames")
    parser.add_argument("--output", type=Path, default=DOCS / "results.md")
    args = parser.parse_args(argv)
    # absolute, so that the commands the page shows can be made relative to the repository
    for name in ("model", "checkpoint", "runs_dir", "output", "data_root"):
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    return args


def measure_speed(args: argparse.Namespace) -> tuple[str | None, SpeedTable | None]:
    """benchmarks/bench_lifter.py on the shipped model, in a child process: (its command, its table).
    Both None with --skip-bench; the table None where the benchmark failed."""
    if args.skip_bench:
        return None, None
    bench_json = args.runs_dir / "bench.json"
    bench_args = ["benchmarks/bench_lifter.py", "--json", shown(bench_json)] + data_root_args(args.data_root)
    bench_args += ["--checkpoint", shown(args.checkpoint), "--model", shown(args.model)]
    bench_command = "python " + " ".join(shlex.quote(a) for a in bench_args)
    print(f"[bench] {bench_command}", file=sys.stderr)
    child = subprocess.run([sys.executable] + bench_args, cwd=REPO_ROOT)
    if child.returncode != 0:
        return bench_command, None
    bench = json.loads(bench_json.read_text())
    return bench_command, SpeedTable(bench["machine"], load_benchmark("bench_lifter").markdown_table(bench))


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ as a module (benchmarks/ is a folder of scripts, not a package; and
    evaluation/ sits below it, so its table is rendered here, not by the page writer)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def draw_figures(args: argparse.Namespace, found: Evaluations, data_root: Path) -> tuple[bool, str | None]:
    """Every figure of the page under docs/images/: (whether the shipped checkpoint had training
    curves to draw, the qualitative frames' caption or None where they were not drawn)."""
    print("drawing ...", file=sys.stderr)
    plot_robustness(found.reports, IMAGES / "results_noise.png", "noise")
    plot_robustness(found.reports, IMAGES / "results_dropped.png", "dropped")
    joint_reports = {k: found.reports[k] for k in (SHIPPED_LABEL, BASELINE_RUNS["baseline"][0],
                                                   REPNET_RUNS["repnet_short"][0]) if k in found.reports}
    plot_per_joint(joint_reports, IMAGES / "results_per_joint.png")
    plot_run_curves(found.histories, IMAGES / "results_runs.png")
    state = found.shipped_state
    has_curves = bool(state and state.get("history", {}).get("step"))
    if has_curves:
        train.plot_history(state["history"], IMAGES / "results_training.png")
    frames_caption = None
    if not args.skip_frames and args.model.is_file():
        print("qualitative frames ...", file=sys.stderr)
        video = data_root / "media" / "tfjs_models_pose_detection" / VIDEO
        frames_caption = qualitative_frames(args.model, video, IMAGES / "results_frames.png")
    return has_curves, frames_caption


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CheckpointError, DataError, EvaluationError) as err:
        sys.exit(f"error: {err}")
