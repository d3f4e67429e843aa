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

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]

from core.skeleton import JOINT_NAMES  # noqa: E402
from evaluation.machine import machine_description  # noqa: E402
from evaluation.predictors import EvaluationError, load_predictor  # noqa: E402
from evaluation.protocols import cmu_test_data  # noqa: E402
from evaluation import scoring  # noqa: E402
from evaluation.scoring import condition_of_kind, headline  # noqa: E402
from evaluation.tables import per_action_table, per_joint_table, summary_table  # noqa: E402
from models import baseline, train  # noqa: E402
from models.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from models.data import DataError, default_data_root  # noqa: E402

DOCS = REPO_ROOT / "docs"
IMAGES = DOCS / "images"
VIDEO = "pose_squats.mp4"
QUALITATIVE_FRAMES = 4

# Every RepNet run of the ablation table: flags of models.train besides --steps and --width.
# The critic is narrower and takes fewer steps per generator step than the paper's so that the
# comparison runs fit the CPU budget; all share these settings, so they compare with each other.
# Otherwise they follow the shipped model's recipe (learning rate, its decay, augmented projections,
# view consistency).
SHORT_SCHEDULE = ["--batch-size", "32", "--critic-steps", "2", "--critic-width", "100",
                  "--critic-kcs-width", "256", "--lr", "3e-4", "--lr-decay-at", "0.6", "0.9",
                  "--augment-projections", "2", "--weight-view-consistency", "1", "--view-consistency-dropout", "0.1",
                  "--mpii-fraction", "0.5",
                  "--eval-frames", "1000"]
REPNET_RUNS = {  # name: (label, extra flags)
    "repnet_short": ("RepNet, all parts", []),
    "no_kcs": ("RepNet without the critic's KCS path", ["--use-kcs", "false"]),
    "no_camera_loss": ("RepNet without the camera loss", ["--weight-camera", "0"]),
    "no_augmentation": ("RepNet without augmentation",
                        ["--augment-mirror", "false", "--augment-bone-lengths", "false", "--augment-crossover", "false",
                         "--augment-projections", "0"]),
    "no_reflected_negatives": ("RepNet without depth-mirrored negatives", ["--reflected-negatives", "0"]),
    "no_view_consistency": ("RepNet without view consistency", ["--weight-view-consistency", "0"]),
    "no_view_dropout": ("RepNet without missing joints in the second view", ["--view-consistency-dropout", "0"]),
    "no_mpii": ("RepNet without MPII (projected 2D only)", ["--mpii-fraction", "0"]),
    # One augmentation left out at a time, to show what each is worth.
    "no_mirror": ("RepNet without mirroring", ["--augment-mirror", "false"]),
    "no_bone_lengths": ("RepNet without bone-length variation", ["--augment-bone-lengths", "false"]),
    "no_crossover": ("RepNet without crossover and mutation of the critic's poses", ["--augment-crossover", "false"]),
    "no_projection_augmentation": ("RepNet without crossover of the projected poses", ["--augment-projections", "0"]),
}
BASELINE_RUNS = {
    "baseline": ("supervised baseline: paired 2D-3D, the projection subjects", []),
    "baseline_all_subjects": ("supervised baseline: paired 2D-3D, all training subjects", ["--subjects", "training"]),
}

# Published figures on Human3.6M (Protocol 1 MPJPE, Protocol 2 PA-MPJPE, mm): different data.
PUBLISHED_H36M = [
    ("RepNet (Wandt & Rosenhahn 2019)", "weak", "ground-truth 2D", "50.9", "38.2"),
    ("RepNet (Wandt & Rosenhahn 2019)", "weak", "detected 2D", "89.9", ""),
    ("Martinez et al. 2017 simple baseline", "full", "detected 2D (stacked hourglass)", "62.9", "47.7"),
]
TARGETS = {"pa_mpjpe": 45.0, "mpjpe": 70.0}  # issue 3: held-out CMU, realistic 2D noise


# =========================================================================== runs

def command_line(module: str, args: list[str]) -> str:
    return "python -m " + module + " " + " ".join(shlex.quote(a) for a in args)


def train_or_reuse(name: str, module: str, args: list[str], runs_dir: Path, retrain: bool) -> dict:
    """Run `python -m module args` in-process unless runs_dir/name holds a run of the same command."""
    out_dir = runs_dir / name
    record_path = out_dir / "run.json"
    full_args = args + ["--out-dir", str(out_dir)]
    command = command_line(module, args + ["--out-dir", shown(out_dir)])  # as the page shows it
    if not retrain and record_path.is_file() and (out_dir / "checkpoint.pt").is_file():
        record = json.loads(record_path.read_text())
        if record.get("command") == command:
            print(f"[{name}] reusing {out_dir} ({record['seconds'] / 60:.1f} min when trained)", file=sys.stderr)
            return record
    print(f"[{name}] {command}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    error = None
    try:
        (train.main if module == "models.train" else baseline.main)(full_args)
    except SystemExit as exit_:  # models.train stops a diverged run with SystemExit
        error = str(exit_)
    record = {"command": command, "seconds": time.time() - start, "error": error,
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    record_path.write_text(json.dumps(record, indent=1))
    return record


def shown(path: Path | str) -> str:
    """A path as the page shows it: relative to the repository where it lies inside it."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def training_command(state: dict) -> str:
    """The models.train command that reproduces a checkpoint: every setting that differs from the
    defaults (the data and output folders left out)."""
    from dataclasses import fields
    from models.repnet import RepNetConfig
    flags = []
    for cls, values in ((train.TrainConfig, state.get("train_config", {})), (RepNetConfig, state.get("model_config", {}))):
        for f in fields(cls):
            if f.name in ("data_root", "out_dir") or f.name not in values:
                continue
            value, default = values[f.name], f.default
            if (list(value) if isinstance(value, (list, tuple)) else value) != (
                    list(default) if isinstance(default, tuple) else default):
                text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value).lower() \
                    if isinstance(value, bool) else str(value)
                flags.append(f"--{f.name.replace('_', '-')} {text}")
    return "python -m models.train " + " ".join(flags)


def model_size(model: Path, state: dict | None) -> tuple[str, str]:
    """(training steps, width) of the shipped model: from its checkpoint, else its ONNX metadata."""
    if state is None and model.suffix == ".onnx":
        from core.lifter import Lifter
        metadata = Lifter(model).metadata
        state = {"step": metadata.get("training_step", ""), "model_config": metadata.get("model_config", {})}
    if state is None:
        return "", ""
    return str(state.get("step", "")), str(state.get("model_config", {}).get("width", ""))


def data_root_args(data_root: Path | None) -> list[str]:
    return ["--data-root", str(data_root)] if data_root else []


# =========================================================================== figures

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # More runs than the default ten colours: twenty, so no two lines of a figure share one.
    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=plt.get_cmap("tab20").colors)
    return plt


def _curve(report: dict, kind: str, key: str) -> tuple[list, list]:
    given = condition_of_kind(report, "given")["summary"][key]
    points = [(0, given)] + [(c["noise_px"] if kind == "noise" else c["dropped_joints"], c["summary"][key])
                             for c in report["conditions"] if c["kind"] == kind]
    return [p[0] for p in points], [p[1] for p in points]


def plot_robustness(reports: dict[str, dict], path: Path, kind: str) -> None:
    """MPJPE and PA-MPJPE against 2D noise (kind "noise") or dropped joints (kind "dropped")."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for label, report in reports.items():
        style = "--" if report["model_kind"] == "mean_pose" else "-"
        shipped = label == "shipped RepNet"  # the model users run stands out
        for ax, key in zip(axes, ("mpjpe", "pa_mpjpe")):
            x, y = _curve(report, kind, key)
            ax.plot(x, y, style, marker="o", label=label, **({"color": "black", "linewidth": 2.5} if shipped else {}))
    xlabel = ("2D noise: std in px for a person 500 px tall" if kind == "noise"
              else "joints dropped per frame (placed on the pelvis)")
    for ax, title in zip(axes, ("MPJPE (camera frame, mm)", "PA-MPJPE (mm)")):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_per_joint(reports: dict[str, dict], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(13, 7), sharex=True)
    width = 0.8 / max(len(reports), 1)
    x = np.arange(len(JOINT_NAMES))
    for i, (label, report) in enumerate(reports.items()):
        joints = headline(report)["per_joint"]
        for ax, key in zip(axes, ("mpjpe", "pa_mpjpe")):
            ax.bar(x + (i - (len(reports) - 1) / 2) * width, [joints[j][key] for j in JOINT_NAMES], width, label=label)
    for ax, title in zip(axes, ("MPJPE per joint (camera frame, mm)", "PA-MPJPE per joint (mm)")):
        ax.set_title(title + ", detector-like 2D")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(JOINT_NAMES, rotation=45, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_run_curves(histories: dict[str, dict], path: Path) -> None:
    """Held-out MPJPE / PA-MPJPE over training of the short runs."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for label, history in histories.items():
        evals = history.get("eval", [])
        for ax, key in zip(axes, ("mpjpe", "pa_mpjpe")):
            ax.plot([e["step"] for e in evals], [e[key] for e in evals], marker="o", label=label)
    for ax, title in zip(axes, ("held-out MPJPE (mm)", "held-out PA-MPJPE (mm)")):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def qualitative_frames(model: Path, video: Path, path: Path, count: int = QUALITATIVE_FRAMES,
                       height: int = 400) -> str:
    """The app's pipeline on a real video (MediaPipe, mapping, occlusion rule, smoothing, ONNX
    lifter), `count` evenly spaced frames: the 2D overlay beside the 3D view. Returns a caption."""
    import cv2
    from app.capture import VideoSource
    from app.draw import draw_annotated
    from app.keypoints import PoseDetector
    from core.lifter import Lifter
    from app.estimator import PoseEstimator
    from app.viewer import Viewer

    estimator = PoseEstimator(Lifter(model), PoseDetector())
    frames = []
    with VideoSource(video) as source:
        for frame in source:
            result = estimator.process(frame.image, frame.index, frame.time)
            frames.append((frame, result))
    estimator.close()
    lifted = [(f, r) for f, r in frames if r.pose_3d is not None]
    if not lifted:
        raise RuntimeError(f"no person lifted in {video}")
    chosen = [lifted[i] for i in np.linspace(0, len(lifted) - 1, count).round().astype(int)]
    tiles = []
    with Viewer(visible=False) as viewer:
        for frame, result in chosen:
            viewer.update(None, result.keypoints_2d, result.visibility, result.pose_3d, result.camera, fps=0.0)
            tile = draw_annotated(frame.image, result.keypoints_2d, result.visibility, viewer.render_3d())
            scale = height / tile.shape[0]
            tile = cv2.resize(tile, (round(tile.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"frame {frame.index}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            tiles.append(tile)
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(path), np.vstack(rows))
    return (f"{video.name}: {len(frames)} frames, a person lifted in {len(lifted)}; frames "
            f"{', '.join(str(f.index) for f, _ in chosen)} shown")


# =========================================================================== the page

def _benchmark(name: str):
    """A script of benchmarks/ as a module (benchmarks/ is a folder of scripts, not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def comparison_table(rows: list[dict]) -> str:
    lines = ["| model | supervision | width | steps | MPJPE | PA-MPJPE | N-MPJPE | PCK@150 (%) | AUC (%) "
             "| MPJPE, exact 2D | PA-MPJPE, exact 2D |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        report = row.get("report")
        if report is None:
            lines.append(f"| {row['label']} | {row['supervision']} | {row.get('width', '')} | {row.get('steps', '')} "
                         f"| {row.get('note', 'not available')} | | | | | | |")
            continue
        h = headline(report)["summary"]
        g = condition_of_kind(report, "given")["summary"]
        lines.append(f"| {row['label']} | {row['supervision']} | {row.get('width', '')} | {row.get('steps', '')} | "
                     f"{fmt(h['mpjpe'])} | {fmt(h['pa_mpjpe'])} | {fmt(h['n_mpjpe'])} | {fmt(h['pck150'])} | "
                     f"{fmt(h['auc'])} | {fmt(g['mpjpe'])} | {fmt(g['pa_mpjpe'])} |")
    return "\n".join(lines)


def ablation_table(rows: list[dict]) -> list[str]:
    """Each ablation's change against the full method on the same short schedule (lines of the page)."""
    by_label = {row["label"]: row.get("report") for row in rows}
    reference = by_label.get(REPNET_RUNS["repnet_short"][0])
    if reference is None:
        return []
    ref = headline(reference)["summary"]
    lines = ["Ablations against the full method on the same schedule (detector-like 2D; positive: the part "
             "helps, removing it costs that many mm). One run each with one seed: run-to-run variation of "
             "these short runs is not measured here, so read small differences as noise. Short runs can also "
             "mislead outright: on the full schedule, leaving the camera loss out made the model worse, not "
             "better (docs/model.md, runs H, J and K).", "",
             "| removed | MPJPE change (mm) | PA-MPJPE change (mm) | note |", "|---|---|---|---|"]
    histories = {row["label"]: row.get("history") for row in rows}
    for name, (label, _) in REPNET_RUNS.items():
        report = by_label.get(label)
        if name == "repnet_short" or report is None:
            continue
        s = headline(report)["summary"]
        lines.append(f"| {label.replace('RepNet without ', '')} | {s['mpjpe'] - ref['mpjpe']:+.1f} | "
                     f"{s['pa_mpjpe'] - ref['pa_mpjpe']:+.1f} | {divergence_note(histories.get(label))} |")
    return lines + [""]


def divergence_note(history: dict | None) -> str:
    """Say so where a run got worse with training (its held-out error ended 1.5x above its best):
    such a run's figure is the failure of training, not what the part is worth."""
    evals = (history or {}).get("eval") or []
    if len(evals) < 2:
        return ""
    best = min(evals, key=lambda e: e["mpjpe"])
    last = evals[-1]
    if last["mpjpe"] <= 1.5 * best["mpjpe"]:
        return ""
    critic = (history.get("wasserstein") or [float("nan")])[-1]
    return (f"training diverged: held-out MPJPE {best['mpjpe']:.0f} mm at step {best['step']}, "
            f"{last['mpjpe']:.0f} mm at the end; the critic's Wasserstein estimate ended at {critic:,.0f}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        # the page and figures this script writes do not count: it has just rewritten them
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!docs/results.md", ":!docs/images/results_*"], cwd=REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
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
    for name in ("model", "checkpoint", "runs_dir", "output", "data_root"):
        if getattr(args, name) is not None:
            setattr(args, name, getattr(args, name).resolve())
    started = time.time()
    this_command = "python scripts/make_results.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    data_root = args.data_root or default_data_root()
    machine = machine_description()
    IMAGES.mkdir(parents=True, exist_ok=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")

    # ---- 1. comparison runs -----------------------------------------------------------------
    schedule = ["--steps", str(args.steps), "--width", str(args.width)]
    eval_every = ["--eval-every", str(max(args.steps // 5, 1)), "--checkpoint-every", str(args.steps)]
    runs = {}
    for name, (label, flags) in REPNET_RUNS.items():
        runs[name] = train_or_reuse(name, "models.train", data_root_args(args.data_root) + schedule + eval_every
                                    + SHORT_SCHEDULE + flags, args.runs_dir, args.retrain)
    for name, (label, flags) in BASELINE_RUNS.items():
        runs[name] = train_or_reuse(name, "models.baseline", data_root_args(args.data_root) + schedule
                                    + ["--eval-every", str(max(args.steps // 5, 1))] + flags,
                                    args.runs_dir, args.retrain)
    training_seconds = sum(r["seconds"] for r in runs.values())

    # ---- 2. evaluation ----------------------------------------------------------------------
    print("evaluating ...", file=sys.stderr)
    data = cmu_test_data(data_root)
    rows, reports, histories, eval_commands = [], {}, {}, []

    def evaluate(name: str, model: Path | str, mirror_average: bool = True, reference_size: bool = True) -> dict:
        report = scoring.evaluate(load_predictor(str(model), data_root, mirror_average, reference_size), data,
                                  progress=True)
        json_path = args.runs_dir / f"eval_{name}.json"
        json_path.write_text(json.dumps(report, indent=1))
        flag = ("" if mirror_average else " --no-mirror-average") + ("" if reference_size else " --no-reference-size")
        eval_commands.append(f"python -m evaluation.held_out --model {shown(model)}{flag} --json {shown(json_path)}")
        return report

    shipped = None
    shipped_state = None
    if args.checkpoint.is_file():
        shipped_state = load_checkpoint(args.checkpoint)
    if args.model.is_file() or args.checkpoint.is_file():
        model_path = args.model if args.model.is_file() else args.checkpoint
        shipped = evaluate("shipped", model_path)
        step, width = model_size(model_path, shipped_state)
        rows.append({"label": f"**shipped RepNet** ({model_path.name})", "supervision": "weak", "width": width,
                     "steps": step, "report": shipped})
        reports["shipped RepNet"] = shipped
    else:
        rows.append({"label": "shipped RepNet", "supervision": "weak", "note": f"{args.model} not found"})
    if shipped_state is not None and shipped_state.get("model_kind", "repnet") == "repnet":
        # what each test-time step in the shipped graph is worth
        step, width = model_size(args.checkpoint, shipped_state)
        for name, label, options in (
                ("shipped_no_mirror_average", "without mirror averaging", {"mirror_average": False}),
                ("shipped_no_reference_size", "without scaling to the reference body", {"reference_size": False})):
            rows.append({"label": f"shipped RepNet {label} ({args.checkpoint.name}, fp32)", "supervision": "weak",
                         "width": width, "steps": step, "report": evaluate(name, args.checkpoint, **options)})

    for name, (label, _) in {**REPNET_RUNS, **BASELINE_RUNS}.items():
        checkpoint = args.runs_dir / name / "checkpoint.pt"
        supervision = "weak" if name in REPNET_RUNS else "full (paired)"
        if runs[name].get("error") or not checkpoint.is_file():
            rows.append({"label": label, "supervision": supervision, "width": args.width, "steps": args.steps,
                         "note": f"run failed: {runs[name].get('error')}"})
            continue
        report = evaluate(name, checkpoint)
        histories[label] = load_checkpoint(checkpoint)["history"]
        rows.append({"label": label, "supervision": supervision, "width": args.width, "steps": args.steps,
                     "report": report, "history": histories[label]})
        reports[label] = report
    mean_pose = evaluate("mean_pose", "mean-pose")
    rows.append({"label": "mean training pose (rotation fitted to the 2D)", "supervision": "none", "width": "",
                 "steps": "", "report": mean_pose})
    reports["mean training pose"] = mean_pose

    # ---- 3. speed -----------------------------------------------------------------------------
    bench = None
    bench_command = None
    if not args.skip_bench:
        bench_json = args.runs_dir / "bench.json"
        bench_args = ["benchmarks/bench_lifter.py", "--json", shown(bench_json)] + data_root_args(args.data_root)
        bench_args += ["--checkpoint", shown(args.checkpoint), "--model", shown(args.model)]
        bench_command = "python " + " ".join(shlex.quote(a) for a in bench_args)
        print(f"[bench] {bench_command}", file=sys.stderr)
        child = subprocess.run([sys.executable] + bench_args, cwd=REPO_ROOT)
        if child.returncode == 0:
            bench = json.loads(bench_json.read_text())

    # ---- 4. figures ---------------------------------------------------------------------------
    print("drawing ...", file=sys.stderr)
    plot_robustness(reports, IMAGES / "results_noise.png", "noise")
    plot_robustness(reports, IMAGES / "results_dropped.png", "dropped")
    joint_reports = {k: reports[k] for k in ("shipped RepNet", BASELINE_RUNS["baseline"][0], REPNET_RUNS["repnet_short"][0])
                     if k in reports}
    plot_per_joint(joint_reports, IMAGES / "results_per_joint.png")
    plot_run_curves(histories, IMAGES / "results_runs.png")
    has_curves = bool(shipped_state and shipped_state.get("history", {}).get("step"))
    if has_curves:
        train.plot_history(shipped_state["history"], IMAGES / "results_training.png")
    frames_caption = None
    if not args.skip_frames and args.model.is_file():
        print("qualitative frames ...", file=sys.stderr)
        video = data_root / "media" / "tfjs_models_pose_detection" / VIDEO
        frames_caption = qualitative_frames(args.model, video, IMAGES / "results_frames.png")

    # ---- 5. the page --------------------------------------------------------------------------
    minutes = (time.time() - started) / 60
    page = write_page(args, rows, shipped, shipped_state, runs, bench, bench_command, eval_commands, this_command,
                      machine, threads, minutes, training_seconds, has_curves, frames_caption, data)
    args.output.write_text(page)
    print(f"wrote {args.output} in {minutes:.1f} min ({training_seconds / 60:.1f} min of training)", file=sys.stderr)
    return 0


def write_page(args, rows, shipped, shipped_state, runs, bench, bench_command, eval_commands, this_command, machine,
               threads, minutes, training_seconds, has_curves, frames_caption, data) -> str:
    load = os.getloadavg()[0]
    made = (f"Command: `{this_command}` (OMP_NUM_THREADS={threads}). Machine: {machine}; "
            f"1-minute load average {load:.2f} at the end.")
    model_name = args.model.name
    out = ["# Results", "",
           f"Generated by `{this_command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC at commit "
           f"{git_commit()}, in {minutes:.1f} min ({training_seconds / 60:.1f} min of it training the comparison "
           f"runs; cached runs count with their original time). Machine: {machine}, OMP_NUM_THREADS={threads}. "
           "Do not edit by hand: run the script again.", ""]

    # ---- accuracy
    out += ["## Accuracy on held-out people (CMU)", "",
            f"Test data: {data.description}. Nobody in it is seen in training, as 3D or as 2D "
            "(docs/data.md has the split). The 3D error is measured in the camera frame: the lifter's "
            "canonical pose is rotated by its own estimated camera and compared with the ground truth, both "
            "root-relative (evaluation/held_out.py). Main columns: **detector-like 2D** (jitter of 4 px for a "
            "person 500 px tall, 1% outliers, 2% dropped joints: what training evaluates on); the last two "
            "columns: exact projections. Millimetres unless marked.", "",
            comparison_table(rows), ""]
    out += ablation_table(rows)
    if shipped is not None:
        h = headline(shipped)["summary"]
        met = [f"{key.replace('_', '-').upper()} {fmt(h[key])} mm against at most {target:g} mm: "
               f"{'met' if h[key] <= target else 'not met'}" for key, target in TARGETS.items()]
        out += [f"Targets of issue 3 for the shipped model on this data: {'; '.join(met)}.", ""]
    out += ["How to read the rows:", "",
            f"- **Comparison runs** (RepNet ablations, supervised baseline) use a much shorter schedule than the "
            f"shipped model: {args.steps} steps at width {args.width} "
            f"(RepNet runs: `{' '.join(SHORT_SCHEDULE)}`). They compare with each other, not with the shipped "
            "model. Their exact commands are at the end of the page.",
            "- **Supervised baseline** (Martinez et al. 2017, models/baseline.py): the same network as RepNet's "
            "generator trained on *paired* 2D-3D: each CMU pose projected through a random camera with the same "
            "detector-like noise, L2 loss on the camera-frame 3D pose. 'projection subjects' are the people whose "
            "2D RepNet sees (mostly walking); 'all training subjects' adds the critic's people (salsa, runs, "
            "jumps), i.e. every 3D pose RepNet sees, now paired. The gap to RepNet is what weak supervision costs.",
            "- **Mean training pose**: the mean canonical pose of all training subjects, turned by the rotation "
            "that best reprojects it onto each frame's 2D (least-squares affine camera made a rotation). It is "
            "the floor every lifter must beat. Its PA-MPJPE does not depend on the 2D (the alignment removes any "
            "rotation); its MPJPE uses only the 2D, never the ground-truth camera, so that the column means the "
            "same for every row.",
            "- **Mirror averaging**: every network lifts each 2D pose and its mirror image and averages the two "
            "answers (models.repnet.lift_mirror_averaged; the shipped ONNX graph does it, and evaluation.held_out "
            "does the same for checkpoints, the baselines included). The row 'without mirror averaging' is the "
            "shipped checkpoint lifting the input alone: the difference is what the averaging is worth.",
            "- **Reference size**: a single camera cannot see how tall someone is, so RepNet's poses are "
            "scaled to the reference body's total bone length (models.repnet.to_reference_size; in the shipped "
            "graph, and in evaluation.held_out for every RepNet checkpoint). The generator learns that size only "
            "roughly. The supervised baseline is scored at the size it predicts: L2 regression shrinks unsure "
            "limbs, and stretching them back would cost it 4.5 mm. "
            "The row 'without scaling' shows what this is worth; it changes MPJPE only, since PA-MPJPE aligns "
            "scale anyway. The held-out skeletons have the reference proportions (docs/data.md), which flatters "
            "this step: docs/model.md has the same comparison on bodies of varied size.",
            "- PCK@150 and AUC are on the Protocol 1 (root-relative, camera-frame) errors, as MPI-INF-3DHP "
            "defines them.", ""]
    out += ["For context, published **Human3.6M** figures (a different dataset: studio capture, 15 actions, "
            "tested on subjects S9 and S11): **not comparable** with the CMU rows above.", "",
            "| method | supervision | 2D input | MPJPE (P1) | PA-MPJPE (P2) |", "|---|---|---|---|---|"]
    out += [f"| {m} | {s} | {i} | {p1} | {p2 or 'n/a'} |" for m, s, i, p1, p2 in PUBLISHED_H36M]
    out += ["", "Note: the original RepNet evaluation allowed reflections in the Procrustes alignment, which hides "
            "depth flips; ours forbids them (core/metrics.py).", ""]

    # ---- robustness
    out += ["## Robustness: 2D noise and missing joints", "",
            "Every model on the same frames and cameras, the 2D degraded step by step: Gaussian jitter (std in "
            "px for a person 500 px tall, scaled with the person's size) and joints removed at random (placed on "
            "the pelvis, as training marks a joint the detector missed).", "",
            "![error against 2D noise](images/results_noise.png)", "",
            "![error against dropped joints](images/results_dropped.png)", "",
            f"{made} Per-model numbers: the JSON reports under `{shown(args.runs_dir)}/eval_*.json`.", ""]
    if shipped is not None:
        out += [f"The shipped model ({model_name}) under every input condition:", "", summary_table(shipped), "",
                "## Per joint and per activity", "",
                "![per-joint error](images/results_per_joint.png)", "", made, "",
                "Shipped model, detector-like 2D:", "", per_joint_table(shipped), "",
                per_action_table(shipped), ""]

    # ---- training
    out += ["## Training curves", ""]
    if has_curves:
        out += [f"The shipped checkpoint's own history (`{args.checkpoint.name}`, stored by models.train; "
                f"{shipped_state.get('step')} steps): critic, generator losses and the held-out error during "
                "training.", "", "![training curves](images/results_training.png)", "",
                f"Drawn with models.train.plot_history by `{this_command}`. The model was trained by "
                f"`{training_command(shipped_state)}` on: "
                + "; ".join(f"{k}: {v}" for k, v in shipped_state.get("data", {}).items()) + ".", ""]
    else:
        out += [f"No shipped checkpoint ({args.checkpoint}) was found: no training curves.", ""]
    out += ["Held-out error of the comparison runs during their (short) training:", "",
            "![comparison runs](images/results_runs.png)", "", made, ""]

    # ---- speed
    out += ["## Speed of the lifter", ""]
    if bench is not None:
        out += [f"Command: `{bench_command}`. Machine: {bench['machine']}. 'ms per call' is the median time of "
                "one call (batch 1: the latency a live app sees); frames/s = batch / that time. fp16 stores the "
                "weights in half precision and computes in fp32; int8 is onnxruntime's dynamic quantization. "
                "The accuracy column is the held-out CMU error (detector-like 2D) of each exported variant. On a "
                "shared 2-core machine the all-threads rows compete with other work.", "",
                _benchmark("bench_lifter").markdown_table(bench), ""]
    else:
        out += ["Not measured in this run (--skip-bench, or no model).", ""]
    out += ["End-to-end frame rates of the whole app (video decoding, MediaPipe, lifter, viewer), headless and "
            "with the viewer, with a per-stage breakdown: docs/pipeline.md (`python benchmarks/bench_pipeline.py`).",
            ""]

    # ---- qualitative
    out += ["## Qualitative frames", ""]
    if frames_caption:
        out += ["The app's own pipeline (MediaPipe Pose, mapping to H36M-17, occlusion rule, One Euro smoothing, "
                f"the ONNX lifter {model_name}) on a real video; each frame's 2D overlay beside the 3D view the "
                f"viewer renders (app.viewer.Viewer(visible=False).render_3d()). {frames_caption}.", "",
                "![qualitative frames](images/results_frames.png)", "", made, ""]
    else:
        out += ["Not drawn in this run (--skip-frames, or no ONNX model).", ""]

    # ---- other protocols
    out += ["## Human3.6M and MPI-INF-3DHP", "",
            "Neither dataset may be redistributed, so no figures are shown here. With the files:", "",
            "```",
            "python -m evaluation.held_out --model models/repnet.onnx --protocol h36m \\",
            "    --h36m-3d data_3d_h36m.npz --h36m-2d data_2d_h36m_gt.npz      # Protocols 1 and 2: S9 and S11",
            "python -m evaluation.held_out --model models/repnet.onnx --protocol 3dhp \\",
            "    --3dhp-root mpi_inf_3dhp_test_set                             # PCK@150, AUC over the 14 joints",
            "```", "",
            "Both print the same tables as above (every input condition; `--markdown` adds per joint and per "
            "action, `--json FILE` writes everything). The 3D files are VideoPose3D's; the 3DHP test set is read "
            "from its annot_data.mat files and scored against univ_annot3 like the official script.", ""]

    # ---- commands
    out += ["## Exact commands", "",
            f"Everything on this page: `{this_command}` (OMP_NUM_THREADS={threads}); runs are cached in "
            f"`{shown(args.runs_dir)}/`"
            " and reused while their command is unchanged (`--retrain` to redo them). The parts, one by one:", "",
            "| run | command | training time (min) | status |", "|---|---|---|---|"]
    for name, record in runs.items():
        out.append(f"| {name} | `{record['command']}` | {record['seconds'] / 60:.1f} | "
                   f"{'failed: ' + record['error'] if record.get('error') else 'ok'} |")
    out += ["", "Evaluations (each writes the JSON report the tables come from):", "", "```"] + eval_commands + ["```", ""]
    if bench_command:
        out += [f"Speed: `{bench_command}`", ""]
    return "\n".join(out)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CheckpointError, DataError, EvaluationError) as err:
        sys.exit(f"error: {err}")
