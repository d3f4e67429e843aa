"""The models the results page compares, evaluated (scripts/make_results.py): the shipped lifter,
the shipped checkpoint without its test-time steps, every comparison run and the mean training
pose, each on the held-out CMU subjects under every 2D input condition. Each evaluation writes its
JSON report and keeps the evaluation.held_out command that reproduces it."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from evaluation import scoring
from evaluation.predictors import load_predictor
from evaluation.protocols import TestData, cmu_test_data
from evaluation.results_runs import BASELINE_RUNS, REPNET_RUNS, model_size, shown
from models.checkpoint import load_checkpoint

SHIPPED_LABEL = "shipped RepNet"  # the shipped model's key in Evaluations.reports; the figures single it out
MEAN_POSE_LABEL = "mean training pose"


@dataclass
class Evaluations:
    """Every evaluation of one results run, in the order the page lists them."""
    data: TestData
    data_root: Path
    runs_dir: Path  # the JSON reports go here, beside the runs
    rows: list[dict] = field(default_factory=list)          # the comparison table's rows (results_tables)
    reports: dict[str, dict] = field(default_factory=dict)  # label -> report, for the figures
    histories: dict[str, dict] = field(default_factory=dict)  # label -> training history of a comparison run
    commands: list[str] = field(default_factory=list)       # the evaluation.held_out command of each report
    shipped: dict | None = None        # the shipped model's report
    shipped_state: dict | None = None  # the shipped checkpoint (training history, config)

    def evaluate(self, name: str, model: Path | str, mirror_average: bool = True, reference_size: bool = True) -> dict:
        """A model's report, written to runs_dir/eval_<name>.json, its command kept for the page."""
        predictor = load_predictor(str(model), self.data_root, mirror_average, reference_size)
        report = scoring.evaluate(predictor, self.data, progress=True)
        json_path = self.runs_dir / f"eval_{name}.json"
        json_path.write_text(json.dumps(report, indent=1))
        flag = ("" if mirror_average else " --no-mirror-average") + ("" if reference_size else " --no-reference-size")
        self.commands.append(f"python -m evaluation.held_out --model {shown(model)}{flag} --json {shown(json_path)}")
        return report


def evaluate_models(model: Path, checkpoint: Path, runs: dict[str, dict], runs_dir: Path, data_root: Path,
                    steps: int, width: int) -> Evaluations:
    """The shipped model (the ONNX file `model`, else `checkpoint`), its test-time steps, the
    comparison runs (`runs`: train_comparison_runs' records, trained for `steps` at `width`) and the
    mean pose, on the held-out CMU subjects."""
    print("evaluating ...", file=sys.stderr)
    found = Evaluations(cmu_test_data(data_root), data_root, runs_dir)
    if checkpoint.is_file():
        found.shipped_state = load_checkpoint(checkpoint)
    evaluate_shipped(found, model, checkpoint)
    evaluate_test_time_steps(found, checkpoint)
    evaluate_comparison_runs(found, runs, steps, width)
    evaluate_mean_pose(found)
    return found


def evaluate_shipped(found: Evaluations, model: Path, checkpoint: Path) -> None:
    """The model users run: the ONNX file, or the checkpoint where there is none."""
    if not (model.is_file() or checkpoint.is_file()):
        found.rows.append({"label": SHIPPED_LABEL, "supervision": "weak", "note": f"{model} not found"})
        return
    model_path = model if model.is_file() else checkpoint
    found.shipped = found.evaluate("shipped", model_path)
    step, width = model_size(model_path, found.shipped_state)
    found.rows.append({"label": f"**{SHIPPED_LABEL}** ({model_path.name})", "supervision": "weak", "width": width,
                       "steps": step, "report": found.shipped})
    found.reports[SHIPPED_LABEL] = found.shipped


def evaluate_test_time_steps(found: Evaluations, checkpoint: Path) -> None:
    """The shipped RepNet checkpoint without each test-time step of the shipped graph: what each is worth."""
    state = found.shipped_state
    if state is None or state.get("model_kind", "repnet") != "repnet":
        return
    step, width = model_size(checkpoint, state)
    for name, label, options in (
            ("shipped_no_mirror_average", "without mirror averaging", {"mirror_average": False}),
            ("shipped_no_reference_size", "without scaling to the reference body", {"reference_size": False})):
        found.rows.append({"label": f"{SHIPPED_LABEL} {label} ({checkpoint.name}, fp32)", "supervision": "weak",
                           "width": width, "steps": step, "report": found.evaluate(name, checkpoint, **options)})


def evaluate_comparison_runs(found: Evaluations, runs: dict[str, dict], steps: int, width: int) -> None:
    """Every RepNet ablation and baseline; a failed run stays in the table with its error."""
    for name, (label, _) in {**REPNET_RUNS, **BASELINE_RUNS}.items():
        checkpoint = found.runs_dir / name / "checkpoint.pt"
        supervision = "weak" if name in REPNET_RUNS else "full (paired)"
        if runs[name].get("error") or not checkpoint.is_file():
            found.rows.append({"label": label, "supervision": supervision, "width": width, "steps": steps,
                               "note": f"run failed: {runs[name].get('error')}"})
            continue
        report = found.evaluate(name, checkpoint)
        found.histories[label] = load_checkpoint(checkpoint)["history"]
        found.rows.append({"label": label, "supervision": supervision, "width": width, "steps": steps,
                           "report": report, "history": found.histories[label]})
        found.reports[label] = report


def evaluate_mean_pose(found: Evaluations) -> None:
    """The floor every lifter must beat: the mean training pose, turned to fit each frame's 2D."""
    report = found.evaluate("mean_pose", "mean-pose")
    found.rows.append({"label": f"{MEAN_POSE_LABEL} (rotation fitted to the 2D)", "supervision": "none", "width": "",
                       "steps": "", "report": report})
    found.reports[MEAN_POSE_LABEL] = report
