"""A report of evaluation.scoring.evaluate as markdown tables: one row per input condition, then
per joint and per action for the condition the report is judged on."""
from __future__ import annotations

import numpy as np

from evaluation.scoring import headline


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def summary_table(report: dict) -> str:
    """One row per input condition: MPJPE, PA-MPJPE, N-MPJPE (mm), PCK@150 and AUC (%)."""
    lines = ["| 2D input | frames | MPJPE (mm) | PA-MPJPE (mm) | N-MPJPE (mm) | PCK@150 (%) | AUC (%) |",
             "|---|---|---|---|---|---|---|"]
    for c in report["conditions"]:
        s = c["summary"]
        lines.append(f"| {c['name']} | {s['frames']} | {_fmt(s['mpjpe'])} | {_fmt(s['pa_mpjpe'])} | "
                     f"{_fmt(s['n_mpjpe'])} | {_fmt(s['pck150'])} | {_fmt(s['auc'])} |")
    return "\n".join(lines)


def per_joint_table(report: dict) -> str:
    c = headline(report)
    lines = ["| joint | MPJPE (mm) | PA-MPJPE (mm) |", "|---|---|---|"]
    lines += [f"| {name} | {_fmt(v['mpjpe'])} | {_fmt(v['pa_mpjpe'])} |" for name, v in c["per_joint"].items()]
    return "\n".join(lines)


def per_action_table(report: dict) -> str:
    c = headline(report)
    lines = ["| action | frames | MPJPE (mm) | PA-MPJPE (mm) |", "|---|---|---|---|"]
    lines += [f"| {name} | {v['frames']} | {_fmt(v['mpjpe'])} | {_fmt(v['pa_mpjpe'])} |"
              for name, v in c["per_action"].items()]
    s = c["summary"]
    if "mpjpe_action_mean" in s:
        lines.append(f"| **mean over actions** | | {_fmt(s['mpjpe_action_mean'])} | {_fmt(s['pa_mpjpe_action_mean'])} |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The whole report as markdown: conditions, then per joint and per action for the headline input."""
    name = headline(report)["name"]
    return "\n\n".join([
        f"**{report['model']}** ({report['model_kind']}) on {report['test_data']}; machine: {report['machine']}",
        summary_table(report),
        f"Per joint ({name}):", per_joint_table(report),
        f"Per action ({name}):", per_action_table(report)])
