"""Scoring a lifter on a test set: the field's metrics (core/metrics.py) in summary, per joint and
per action, for every input condition, as one JSON-able report; and the condition a report is
judged on (its headline).
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from core import metrics
from core.skeleton import JOINT_NAMES
from evaluation.conditions import count_conditions, input_conditions
from evaluation.machine import machine_description
from evaluation.predictors import Predictor
from evaluation.protocols import TestData


def score(pred: np.ndarray, gt: np.ndarray, labels: np.ndarray | None = None,
          pck_joints: tuple[int, ...] | None = None) -> dict:
    """Summary, per-joint and per-label (action) metrics of camera-frame predictions, mm / %."""
    e1, e2, en = metrics.mpjpe_errors(pred, gt), metrics.pa_mpjpe_errors(pred, gt), metrics.n_mpjpe_errors(pred, gt)
    pck_mask = None
    if pck_joints is not None:
        pck_mask = np.zeros(e1.shape)
        pck_mask[:, list(pck_joints)] = 1.0
    summary = {"frames": int(len(gt)), "mpjpe": float(metrics.mean_error(e1)), "pa_mpjpe": float(metrics.mean_error(e2)),
               "n_mpjpe": float(metrics.mean_error(en)), "pck150": float(metrics.pck(e1, visibility=pck_mask)),
               "auc": float(metrics.auc(e1, visibility=pck_mask))}
    per_joint_1, per_joint_2 = metrics.per_joint_error(e1), metrics.per_joint_error(e2)
    per_joint = {name: {"mpjpe": float(per_joint_1[j]), "pa_mpjpe": float(per_joint_2[j])}
                 for j, name in enumerate(JOINT_NAMES)}
    per_action = {}
    if labels is not None:
        f1, f2 = metrics.per_frame_error(e1), metrics.per_frame_error(e2)
        for label, index in metrics.group_indices(labels).items():
            per_action[str(label)] = {"frames": int(len(index)), "mpjpe": float(f1[index].mean()),
                                      "pa_mpjpe": float(f2[index].mean())}
        # Human3.6M reports the mean over actions of each action's mean.
        summary["mpjpe_action_mean"] = float(np.mean([a["mpjpe"] for a in per_action.values()]))
        summary["pa_mpjpe_action_mean"] = float(np.mean([a["pa_mpjpe"] for a in per_action.values()]))
    return {"summary": summary, "per_joint": per_joint, "per_action": per_action}


def evaluate(predictor: Predictor, data: TestData, seed: int = 0, progress: bool = False) -> dict:
    """Every input condition of `data` through `predictor`: a JSON-able report."""
    conditions = []
    for cond in tqdm(input_conditions(data, seed), total=count_conditions(data), desc=f"evaluating {predictor.name}",
                     unit="input", disable=not progress):
        pred = predictor.lift(cond.pop("keypoints_2d"))
        conditions.append({**cond, **score(pred, data.poses_camera, data.labels, data.pck_joints)})
    return {"model": predictor.name, "model_kind": predictor.kind, "protocol": data.protocol,
            "test_data": data.description, "machine": machine_description(), "conditions": conditions}


def condition_of_kind(report: dict, kind: str) -> dict:
    """The first condition of a kind ("given", "realistic", "noise", "dropped") in a report."""
    return next(c for c in report["conditions"] if c["kind"] == kind)


def headline(report: dict) -> dict:
    """The condition a protocol is judged on: CMU the detector-like mix, the others their given 2D."""
    kinds = [c["kind"] for c in report["conditions"]]
    return condition_of_kind(report, "realistic" if "realistic" in kinds else "given")
