"""The comparison runs of the results page (scripts/make_results.py): which RepNet ablations and
supervised baselines it trains, training each or reusing it while its command is unchanged, and the
commands the page shows for them and for the shipped model."""
from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

from core.lifter import Lifter
from models import baseline, train
from models.repnet import RepNetConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

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


def shown(path: Path | str) -> str:
    """A path as the page shows it: relative to the repository where it lies inside it."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def command_line(module: str, args: list[str]) -> str:
    """`python -m module args`, quoted for a shell."""
    return "python -m " + module + " " + " ".join(shlex.quote(a) for a in args)


def data_root_args(data_root: Path | None) -> list[str]:
    """The --data-root flag of a command, only where the user gave one (else the default applies)."""
    return ["--data-root", str(data_root)] if data_root else []


def train_comparison_runs(steps: int, width: int, data_root: Path | None, runs_dir: Path,
                          retrain: bool) -> dict[str, dict]:
    """Every RepNet ablation and baseline on the short schedule: name -> run record (train_or_reuse)."""
    schedule = ["--steps", str(steps), "--width", str(width)]
    # five held-out evaluations per run: its curve in the comparison runs' figure
    eval_every = ["--eval-every", str(max(steps // 5, 1))]
    runs = {}
    for name, (_, flags) in REPNET_RUNS.items():
        runs[name] = train_or_reuse(name, "models.train", data_root_args(data_root) + schedule + eval_every
                                    + ["--checkpoint-every", str(steps)] + SHORT_SCHEDULE + flags, runs_dir, retrain)
    for name, (_, flags) in BASELINE_RUNS.items():
        runs[name] = train_or_reuse(name, "models.baseline", data_root_args(data_root) + schedule + eval_every + flags,
                                    runs_dir, retrain)
    return runs


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


def training_command(state: dict) -> str:
    """The models.train command that reproduces a checkpoint: every setting that differs from the
    defaults (the data and output folders left out)."""
    flags = []
    configs = ((train.TrainConfig, state.get("train_config", {})), (RepNetConfig, state.get("model_config", {})))
    for cls, values in configs:
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
        metadata = Lifter(model).metadata
        state = {"step": metadata.get("training_step", ""), "model_config": metadata.get("model_config", {})}
    if state is None:
        return "", ""
    return str(state.get("step", "")), str(state.get("model_config", {}).get("width", ""))
