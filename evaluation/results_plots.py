"""The results page's figures (scripts/make_results.py): error against 2D noise and dropped joints,
per-joint error, the comparison runs' held-out curves, and qualitative frames of the app's pipeline
on a real video (each frame drawn by app.draw.draw_annotated, as --save-video draws it)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from app.capture import VideoSource
from app.draw import draw_annotated
from app.estimator import PoseEstimator
from app.keypoints import PoseDetector
from app.viewer import Viewer
from core.lifter import Lifter
from core.skeleton import JOINT_NAMES
from evaluation.results_rows import SHIPPED_LABEL
from evaluation.scoring import condition_of_kind, headline

QUALITATIVE_FRAMES = 4


def _pyplot():
    # imported where drawn (as models.train.plot_history does): importing the module stays cheap
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    # More runs than the default ten colours: twenty, so no two lines of a figure share one.
    plt.rcParams["axes.prop_cycle"] = plt.cycler(color=plt.get_cmap("tab20").colors)
    return plt


def _curve(report: dict, kind: str, key: str) -> tuple[list, list]:
    """(x, error) of a report along noise or dropped joints, starting from the exact 2D at 0."""
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
        shipped = label == SHIPPED_LABEL  # the model users run stands out
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
    """MPJPE and PA-MPJPE of every joint on the detector-like 2D, one bar per model."""
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
    frames = _run_app(model, video)
    lifted = [(f, r) for f, r in frames if r.pose_3d is not None]
    if not lifted:
        raise RuntimeError(f"no person lifted in {video}")
    chosen = [lifted[i] for i in np.linspace(0, len(lifted) - 1, count).round().astype(int)]
    _write_grid(_annotated_tiles(chosen, height), path)
    return (f"{video.name}: {len(frames)} frames, a person lifted in {len(lifted)}; frames "
            f"{', '.join(str(f.index) for f, _ in chosen)} shown")


def _run_app(model: Path, video: Path) -> list[tuple]:
    """(frame, the estimator's result) for every frame of the video, as the app computes them."""
    estimator = PoseEstimator(Lifter(model), PoseDetector())
    frames = []
    with VideoSource(video) as source:
        for frame in source:
            result = estimator.estimate(frame.image, frame.index, frame.time)
            frames.append((frame, result))
    estimator.close()
    return frames


def _annotated_tiles(chosen: list[tuple], height: int) -> list[np.ndarray]:
    """Each chosen frame as the app's annotated picture, `height` px tall, its index written on it."""
    tiles = []
    with Viewer(visible=False) as viewer:
        for frame, result in chosen:
            viewer.update(None, result.keypoints_2d, result.visibility, result.pose_3d, result.camera, fps=0.0)
            tile = draw_annotated(frame.image, result.keypoints_2d, result.visibility, viewer.render_3d())
            scale = height / tile.shape[0]
            tile = cv2.resize(tile, (round(tile.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"frame {frame.index}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
            tiles.append(tile)
    return tiles


def _write_grid(tiles: list[np.ndarray], path: Path) -> None:
    """Two tiles a row, the shorter rows padded with black on the right, as one image."""
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(path), np.vstack(rows))
