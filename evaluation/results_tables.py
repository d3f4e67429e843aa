"""The results page's comparison as markdown (scripts/make_results.py): one row per model (the rows
of evaluation.results_rows), each ablation's change against the full method, and the note that marks
a comparison run whose training diverged."""
from __future__ import annotations

import numpy as np

from evaluation.results_runs import REPNET_RUNS
from evaluation.scoring import condition_of_kind, headline


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure of the page; n/a where there is none."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def comparison_table(rows: list[dict]) -> str:
    """Every model's headline metrics (detector-like 2D), then its error on exact projections."""
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
