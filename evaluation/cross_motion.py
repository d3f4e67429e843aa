"""The cross-motion protocol: how a lifter does on motion it has never seen.

    python -m evaluation.cross_motion --out-dir runs/cross_motion                 # every group
    python -m evaluation.cross_motion --out-dir runs/cross_motion --groups yoga dance --steps 2000

The shared CMU data falls into activity groups (models.data.cmu.ACTIVITY_GROUPS: walk/run, jumps,
salsa, dance, kicks, cartwheels, idle standing, sitting/bending, stylised walks, swordplay, yoga).
For each group, every subject who performs any of its takes is held out whole; RepNet is trained
on everyone else (weakly supervised, the shipped recipe at a shorter schedule: critic and 2D
subjects disjoint as always) and so is the supervised baseline (models.baseline: the same poses,
paired with their 2D). Both are then scored on the group's takes, projected through fixed random
cameras with detector-like 2D noise (models.data.projection.DETECTOR_LIKE). The held-out split of
evaluation.held_out shares its motions with training; this one does not.

Trained models are kept under --out-dir/held-out-<subjects>/ (kicks, cartwheels and yoga are all
subject 144's, so they share one pair of models), so an interrupted run resumes where it stopped
and a second run only scores. Figures: docs/results.md.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from core import metrics
from evaluation.predictors import Predictor, checkpoint_predictor, onnx_predictor
from models import baseline, train
from models.data import DataError, cmu, default_data_root
from models.data.projection import DETECTOR_LIKE
from models.validation import make_eval_set

SEED = 4321            # the test cameras and noise: every model sees the same inputs
MAX_TEST_FRAMES = 2000  # per group, drawn evenly from its takes


def recipe(steps: int) -> list[str]:
    """The shipped model's training flags (runs/recipe of docs/model.md) at `steps` steps."""
    return ["--width", "512", "--critic-kcs-width", "256", "--critic-steps", "2", "--lr", "3e-4",
            "--lr-decay-at", "0.6", "0.9", "--augment-projections", "2", "--ema-decay", "0.999",
            "--weight-view-consistency", "1", "--view-consistency-dropout", "0.1", "--mpii-fraction", "0.5",
            "--weight-camera-elevation", "1", "--camera-input", "true", "--steps", str(steps),
            "--eval-every", str(steps), "--checkpoint-every", str(steps)]


def split(trials: dict[str, np.ndarray], group: str) -> tuple[list[str], list[str], list[str]]:
    """(held-out subjects, critic subjects, 2D subjects) for a group: everyone who performs one of
    its takes is held out; the others are dealt to the critic and the 2D side by frame count, the
    larger first, so both sides get about half the poses and a mix of activities."""
    held = sorted({t.split("_")[0] for t in trials if cmu.activity_group(t) == group})
    frames: dict[str, int] = {}
    for trial, poses in trials.items():
        subject = trial.split("_")[0]
        if subject not in held:
            frames[subject] = frames.get(subject, 0) + len(poses)
    critic, projection, sizes = [], [], [0, 0]
    for subject in sorted(frames, key=lambda s: -frames[s]):
        side = 0 if sizes[0] <= sizes[1] else 1
        (critic, projection)[side].append(subject)
        sizes[side] += frames[subject]
    return held, sorted(critic), sorted(projection)


def test_frames(trials: dict[str, np.ndarray], group: str) -> np.ndarray:
    """The group's world poses, at most MAX_TEST_FRAMES, evenly spaced."""
    world = np.concatenate([p for t, p in trials.items() if cmu.activity_group(t) == group])
    return world[np.linspace(0, len(world) - 1, min(len(world), MAX_TEST_FRAMES)).astype(int)]


def score(predictor: Predictor, world: np.ndarray) -> dict:
    """MPJPE (camera frame, through the model's own camera for RepNet) and PA-MPJPE, mm."""
    test = make_eval_set(world, len(world), seed=SEED, **DETECTOR_LIKE)
    pred = predictor.lift(test.keypoints_2d)
    return {"mpjpe": float(metrics.mpjpe(pred, test.poses_camera)),
            "pa_mpjpe": float(metrics.pa_mpjpe(pred, test.poses_camera))}


def run_group(group: str, trials: dict[str, np.ndarray], data_root: Path, out_dir: Path, steps: int,
              baseline_steps: int, reference: Path | None = None) -> dict:
    held, critic, projection = split(trials, group)
    folder = out_dir / ("held-out-" + "-".join(held))  # groups with the same people share their models
    repnet_ckpt, baseline_ckpt = folder / "repnet" / "checkpoint.pt", folder / "baseline" / "checkpoint.pt"
    if not repnet_ckpt.is_file():
        train.main(["--data-root", str(data_root), "--out-dir", str(repnet_ckpt.parent), *recipe(steps),
                    "--critic-subjects", *critic, "--projection-subjects", *projection, "--test-subjects", *held])
    if not baseline_ckpt.is_file():
        baseline.train(baseline.BaselineConfig(data_root=str(data_root), out_dir=str(baseline_ckpt.parent),
                                               steps=baseline_steps, width=512,
                                               train_subjects=tuple(critic + projection), test_subjects=tuple(held)))
    world = test_frames(trials, group)
    row = {"group": group, "held_out_subjects": held, "test_frames": int(len(world)),
           "repnet": score(checkpoint_predictor(repnet_ckpt), world),
           "baseline": score(checkpoint_predictor(baseline_ckpt), world)}
    if reference is not None:  # another lifter, as shipped, marked where it saw these people
        row["reference"] = {**score(onnx_predictor(reference), world), "saw_these_people": sorted(
            set(held) & set(trained_people(reference)))}
    return row


def trained_people(model: Path) -> list[str]:
    """CMU subjects an exported lifter was trained on, from its metadata (critic and 2D sides)."""
    from core.lifter import Lifter
    data = Lifter(model).metadata.get("training_data", {})
    text = " ".join(str(v) for k, v in data.items() if k != "held_out") if isinstance(data, dict) else ""
    return sorted({word.strip(",()+") for word in text.split() if word.strip(",()+").isdigit()})


def mean_of_groups(rows: list[dict], models: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Each model's MPJPE and PA-MPJPE averaged over the groups (every group counts once)."""
    return {k: {m: float(np.mean([r[k][m] for r in rows])) for m in ("mpjpe", "pa_mpjpe")} for k in models}


def table(rows: list[dict]) -> str:
    """Markdown; a reference lifter's columns where one was scored ("seen": it trained on these people)."""
    with_reference = any("reference" in r for r in rows)
    lines = ["| held-out group | subjects held out | frames | RepNet MPJPE | RepNet PA-MPJPE | supervised MPJPE "
             "| supervised PA-MPJPE | RepNet / supervised (PA) |" + (" reference MPJPE / PA-MPJPE |" if with_reference
                                                                     else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if with_reference else "")]
    for r in rows:
        ref = r.get("reference")
        ref_cell = (f" {ref['mpjpe']:.1f} / {ref['pa_mpjpe']:.1f}{' (seen)' if ref['saw_these_people'] else ''} |"
                    if ref else (" |" if with_reference else ""))
        lines.append(f"| {r['group']} | {', '.join(r['held_out_subjects'])} | {r['test_frames']} "
                     f"| {r['repnet']['mpjpe']:.1f} | {r['repnet']['pa_mpjpe']:.1f} | {r['baseline']['mpjpe']:.1f} "
                     f"| {r['baseline']['pa_mpjpe']:.1f} | {r['repnet']['pa_mpjpe'] / r['baseline']['pa_mpjpe']:.2f} |"
                     + ref_cell)
    if rows:
        mean = mean_of_groups(rows, ("repnet", "baseline"))
        lines.append(f"| **mean of groups** | | | {mean['repnet']['mpjpe']:.1f} | {mean['repnet']['pa_mpjpe']:.1f} "
                     f"| {mean['baseline']['mpjpe']:.1f} | {mean['baseline']['pa_mpjpe']:.1f} "
                     f"| {mean['repnet']['pa_mpjpe'] / mean['baseline']['pa_mpjpe']:.2f} |" + (" |" if with_reference else ""))
    return "\n".join(lines)


def unseen_by_reference(rows: list[dict]) -> str:
    """One sentence on the groups whose people the reference lifter never saw: its mean errors there
    beside both models'. The reference trained on the full schedule, so the comparison says what
    the protocol's short RepNet runs leave out; empty without such groups."""
    unseen = [r for r in rows if "reference" in r and not r["reference"]["saw_these_people"]]
    if not unseen:
        return ""
    mean = mean_of_groups(unseen, ("reference", "baseline", "repnet"))
    return (f"On the {len(unseen)} groups whose people the reference never saw, it scores "
            f"{mean['reference']['mpjpe']:.1f} / {mean['reference']['pa_mpjpe']:.1f} mm (MPJPE / PA-MPJPE), the "
            f"supervised network {mean['baseline']['mpjpe']:.1f} / {mean['baseline']['pa_mpjpe']:.1f} and the "
            f"protocol's RepNet {mean['repnet']['mpjpe']:.1f} / {mean['repnet']['pa_mpjpe']:.1f}: reference / "
            f"supervised {mean['reference']['pa_mpjpe'] / mean['baseline']['pa_mpjpe']:.2f} in PA-MPJPE and "
            f"{mean['reference']['mpjpe'] / mean['baseline']['mpjpe']:.2f} in the camera frame.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.cross_motion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=default_data_root())
    parser.add_argument("--out-dir", type=Path, default=Path("runs/cross_motion"))
    parser.add_argument("--groups", nargs="*", default=list(cmu.ACTIVITY_GROUPS),
                        help="activity groups to hold out, one at a time (default: all)")
    parser.add_argument("--steps", type=int, default=5000, help="RepNet training steps per group")
    parser.add_argument("--baseline-steps", type=int, default=3000, help="supervised baseline steps per group")
    parser.add_argument("--json", type=Path, help="write the figures here (default OUT_DIR/cross_motion.json)")
    parser.add_argument("--reference", type=Path, help="also score this ONNX lifter as it is (e.g. a previous "
                        "release) on each group, marked where its training data held the group's people")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in cmu.ACTIVITY_GROUPS]
    if unknown:
        print(f"error: unknown group(s) {unknown}; the groups are {list(cmu.ACTIVITY_GROUPS)}", file=sys.stderr)
        return 2
    try:
        trials = cmu.load_cmu_trials(args.data_root, progress=False)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, group in enumerate(args.groups, 1):
        print(f"[{number}/{len(args.groups)}] holding out {group}", flush=True)
        rows.append(run_group(group, trials, args.data_root, args.out_dir, args.steps, args.baseline_steps,
                              args.reference))
        print(table(rows[-1:]).splitlines()[2], flush=True)
    print(table(rows))
    report = {"command": "python -m evaluation.cross_motion " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "steps": args.steps, "baseline_steps": args.baseline_steps,
              "reference": str(args.reference) if args.reference else None, "groups": rows}
    (args.json or args.out_dir / "cross_motion.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
