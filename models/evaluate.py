"""Evaluate a lifter with the field's metrics on the field's protocols.

    python -m models.evaluate --model models/repnet.onnx                   # CMU held-out subjects
    python -m models.evaluate --model runs/repnet/checkpoint.pt --json eval.json --markdown
    python -m models.evaluate --model mean-pose                             # the trivial reference
    python -m models.evaluate --model models/repnet.onnx --protocol h36m \\
        --h36m-3d data_3d_h36m.npz --h36m-2d data_2d_h36m_gt.npz           # Protocols 1 and 2 (S9, S11)
    python -m models.evaluate --model models/repnet.onnx --protocol 3dhp --3dhp-root mpi_inf_3dhp_test_set

Where the error is measured. RepNet predicts the pose in its canonical frame; the estimated
weak-perspective camera rotates it into camera coordinates (core.camera.rotation_from_camera),
where it is compared with the ground truth, both root-relative, as the paper evaluates. A model
that predicts in the camera frame directly (the supervised baseline, models/baseline.py) is compared
as it is. Metrics (core/metrics.py): MPJPE (Protocol 1), PA-MPJPE (Protocol 2, no reflections),
N-MPJPE, and PCK@150 mm / AUC on the Protocol 1 errors (3DHP: over its 14 official joints).

2D inputs ("conditions"), all on the same frames: the protocol's 2D as given (CMU: exact
projections of the held-out subjects through fixed random cameras; Human3.6M and 3DHP: the files'
2D), the same with Gaussian jitter of NOISE_LEVELS_PX (std in px for a person 500 px tall, the
training data's noise model), with DROPPED_JOINTS joints per frame removed (placed on the pelvis,
as missing joints are marked in training), and for CMU the detector-like mix the training run
evaluates on (4 px jitter, 1% outliers, 2% dropped joints).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core import metrics
from models.augment import vary_bone_lengths
from models.data import DataError, EvalFormatError, cmu, default_data_root, projection
from models.data.projection import DETECTOR_LIKE
from core.camera import canonicalize, rotation_from_camera
from models.repnet import PoseAndCamera, lift, normalize_2d
from core.skeleton import JOINT_NAMES, MM_PER_METRE, NUM_JOINTS, PELVIS

NOISE_LEVELS_PX: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)
DROPPED_JOINTS: tuple[int, ...] = (1, 2, 4)
CMU_EVAL_SEED = 1234                  # fixed cameras and noise: every model sees the same inputs
BATCH = 4096


class EvaluationError(ValueError):
    """A model or option that cannot be evaluated; the message says what to do."""


# =========================================================================== used by models.train

@dataclass
class EvalSet:
    keypoints_2d: np.ndarray    # [N, 17, 2] pixels
    poses_camera: np.ndarray    # [N, 17, 3] mm, root-relative, camera frame
    weights: np.ndarray         # [N, 17] 1 where the 2D joint is present
    labels: np.ndarray | None = None  # [N] activity per frame, where known


def make_eval_set(poses_world: np.ndarray, n_frames: int, noise_px: float, seed: int,
                  labels: np.ndarray | None = None, outlier_prob: float = DETECTOR_LIKE["outlier_prob"],
                  dropout_prob: float = DETECTOR_LIKE["dropout_prob"]) -> EvalSet:
    """Project held-out world poses through fixed random cameras with detector-like noise.

    The same seed gives the same frames and cameras whatever the noise settings."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(poses_world), size=min(n_frames, len(poses_world)), replace=False))
    projected = projection.project_random_cameras(poses_world[idx], rng, noise_px=noise_px,
                                                  outlier_prob=outlier_prob, dropout_prob=dropout_prob)
    return EvalSet(projected.keypoints_2d, projected.poses_camera, projected.weights,
                   None if labels is None else np.asarray(labels)[idx])


@torch.no_grad()
def predict_camera_frame(generator: PoseAndCamera, keypoints_2d: np.ndarray, device: torch.device | str = "cpu",
                         batch_size: int = BATCH, rotate_by_camera: bool = True,
                         mirror_average: bool = True, reference_size: bool = True) -> np.ndarray:
    """Lift pixels [N,17,2] to camera-frame poses [N,17,3] (mm, pelvis at the origin).

    rotate_by_camera: the generator predicts in the canonical frame (RepNet), so its camera
    rotates the pose; False for a model that predicts in the camera frame already (the baseline).
    mirror_average, reference_size: as the exported lifter does (models.repnet.lift), for
    every model alike, except that a camera-frame model (the supervised baseline) keeps the size
    it predicts: an L2-trained regressor shrinks the limbs it is unsure of towards the mean, and
    stretching them back to the reference body's size adds error (58.0 -> 62.5 mm MPJPE).
    """
    was_training = generator.training
    generator.eval()
    out = []
    for start in range(0, len(keypoints_2d), batch_size):
        kp = torch.from_numpy(np.ascontiguousarray(keypoints_2d[start:start + batch_size], dtype=np.float32))
        normalized, _, _ = normalize_2d(kp.to(device))
        pose, camera = lift(generator, normalized, mirror_average, reference_size and rotate_by_camera)
        pose = pose.cpu().numpy().astype(np.float64) * MM_PER_METRE
        if rotate_by_camera:
            R, _ = rotation_from_camera(camera.cpu().numpy())
            pose = np.einsum("nij,nkj->nki", R, pose)
        out.append(pose)
    generator.train(was_training)
    return np.concatenate(out)


def evaluate_lifter(generator: PoseAndCamera, eval_set: EvalSet, device: torch.device | str = "cpu",
                    rotate_by_camera: bool = True) -> dict:
    """MPJPE (camera frame, root-relative), PA-MPJPE and PCK@150mm, in mm / %."""
    pred = predict_camera_frame(generator, eval_set.keypoints_2d, device, rotate_by_camera=rotate_by_camera)
    gt = eval_set.poses_camera
    errors = metrics.mpjpe_errors(pred, gt)
    return {"mpjpe": float(metrics.mean_error(errors)),
            "pa_mpjpe": float(metrics.pa_mpjpe(pred, gt)),
            "pck150": float(metrics.pck(errors, threshold=150.0))}


# =========================================================================== models to evaluate

@dataclass
class Predictor:
    """A lifter under evaluation: pixels [N,17,2] -> camera-frame poses [N,17,3] (mm, pelvis at 0)."""
    name: str
    kind: str                                   # "repnet", "supervised_baseline" or "mean_pose"
    lift: Callable[[np.ndarray], np.ndarray]


def onnx_predictor(path: Path | str, threads: int = 1, batch_size: int = 1) -> Predictor:
    """The ONNX lifter as the app runs it (core.lifter.Lifter), its camera rotating the pose.

    One frame per call by default, as the live app lifts: an int8 model quantizes its activations
    with one scale per call, so a batch of thousands gives slightly different answers (for the
    shipped model 0.8 mm better PA-MPJPE than it really delivers live).
    """
    from core.lifter import Lifter  # onnxruntime only where an ONNX model is evaluated
    lifter = Lifter(path, threads=threads)

    def lift(keypoints_2d: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(keypoints_2d), batch_size):
            result = lifter.process(keypoints_2d[start:start + batch_size])
            R, _ = rotation_from_camera(result.camera)  # frames the lifter refused: zero poses
            out.append(np.einsum("nij,nkj->nki", R, result.pose_3d.astype(np.float64)))
        return np.concatenate(out)

    return Predictor(Path(path).name, "repnet", lift)


def checkpoint_predictor(path: Path | str, mirror_average: bool = True, reference_size: bool = True) -> Predictor:
    """A checkpoint of models.train (RepNet) or models.baseline (camera-frame output), lifted with
    the exported lifter's test-time steps (predict_camera_frame) unless they are turned off."""
    from models.checkpoint import generator_from_checkpoint, load_checkpoint
    state = load_checkpoint(Path(path))
    generator, _ = generator_from_checkpoint(state, path)
    kind = state.get("model_kind", "repnet")
    rotate = kind == "repnet"
    return Predictor(Path(path).name, kind, lambda kp: predict_camera_frame(generator, kp, rotate_by_camera=rotate,
                                                                          mirror_average=mirror_average,
                                                                          reference_size=reference_size))


def training_poses(poses: dict[str, np.ndarray]) -> np.ndarray:
    """Canonical 3D poses [N,17,3] mm of every CMU training subject (critic and projection) in
    `poses` (models.data.cmu.load_cmu_poses: subject -> world poses)."""
    subjects = [s for s in cmu.CRITIC_SUBJECTS + cmu.PROJECTION_SUBJECTS if s in poses]
    if not subjects:
        raise DataError(f"no CMU training subjects among {', '.join(poses) or 'no subjects'}; expected "
                        f"{', '.join(cmu.CRITIC_SUBJECTS + cmu.PROJECTION_SUBJECTS)}")
    return canonicalize(np.concatenate([poses[s] for s in subjects]).astype(np.float64))


def fit_rotation_to_2d(pose: np.ndarray, keypoints_2d: np.ndarray) -> np.ndarray:
    """Rotations [N,3,3] under which the fixed 3D pose [17,3] reprojects onto each frame's 2D
    [N,17,2]: the least-squares affine camera K (2x3, pelvis-centred), made a rotation by
    core.camera.rotation_from_camera (closest orthonormal rows, third row their cross product)."""
    centred_3d = pose - pose[PELVIS]
    centred_2d = keypoints_2d - keypoints_2d[:, PELVIS:PELVIS + 1]
    K = np.einsum("njl,jk->nlk", centred_2d, np.linalg.pinv(centred_3d).T)  # W^T X (X^T X)^-1
    R, _ = rotation_from_camera(K)
    return R


def mean_pose_predictor(data_root: Path | str | None = None, poses: dict[str, np.ndarray] | None = None) -> Predictor:
    """The trivial reference: the mean training pose, turned by the rotation that best fits it
    to each frame's 2D input. It sees only the 2D, like any lifter (no ground-truth camera).
    `poses` (models.data.cmu.load_cmu_poses' result) saves reading the data again."""
    if poses is None:
        poses = cmu.load_cmu_poses(Path(data_root or default_data_root()), progress=False)
    mean_pose = training_poses(poses).mean(axis=0)

    def lift(keypoints_2d: np.ndarray) -> np.ndarray:
        R = fit_rotation_to_2d(mean_pose, np.asarray(keypoints_2d, dtype=np.float64))
        return np.einsum("nij,kj->nki", R, mean_pose - mean_pose[PELVIS])

    return Predictor("mean training pose", "mean_pose", lift)


def load_predictor(model: str, data_root: Path | str | None = None, mirror_average: bool = True,
                   reference_size: bool = True) -> Predictor:
    """`mean-pose`, an ONNX lifter (.onnx) or a checkpoint (.pt). The test-time steps
    (mirror_average, reference_size) apply to checkpoints; an ONNX lifter has them in its graph or
    not (its metadata says which)."""
    if model == "mean-pose":
        return mean_pose_predictor(data_root)
    path = Path(model)
    if not path.is_file():
        raise EvaluationError(f"model not found: {path} (pass an .onnx lifter, a .pt checkpoint or `mean-pose`)")
    if path.suffix == ".onnx":
        if not (mirror_average and reference_size):
            raise EvaluationError(f"{path}: mirror averaging and reference size are part of an ONNX lifter's graph; "
                                  "evaluate the checkpoint instead, or export one with `python -m export "
                                  "--no-mirror-average` or `--no-reference-size`")
        return onnx_predictor(path)
    if path.suffix == ".pt":
        return checkpoint_predictor(path, mirror_average, reference_size)
    raise EvaluationError(f"{path}: unknown model type {path.suffix!r}; pass an .onnx lifter, a .pt checkpoint "
                          "or `mean-pose`")


# =========================================================================== protocols

@dataclass
class TestData:
    """One protocol's test frames: 2D as the protocol gives it and camera-frame 3D ground truth."""
    protocol: str
    description: str
    keypoints_2d: np.ndarray            # [N, 17, 2] pixels
    poses_camera: np.ndarray            # [N, 17, 3] mm, camera frame (metrics centre on the pelvis)
    labels: np.ndarray                  # [N] action / activity per frame
    pck_joints: tuple[int, ...] | None = None  # joints PCK/AUC count (None: all 17)
    extra_conditions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> other 2D, same frames


# Activities of the held-out CMU takes (the CMU index labels in ../shared/data/README.md).
CMU_ACTIVITIES: dict[str, str] = {"02_01": "walk", "02_02": "walk", "02_03": "run/jog", "02_04": "jump, balance",
                                  "16": "jump", "61": "salsa"}


def cmu_activity(trial: str) -> str:
    return CMU_ACTIVITIES.get(trial, CMU_ACTIVITIES.get(trial.split("_")[0], f"subject {trial.split('_')[0]}"))


def cmu_test_data(data_root: Path | str, stride: int = 1, seed: int = CMU_EVAL_SEED,
                  varied_bodies: bool = False) -> TestData:
    """The held-out CMU subjects (cmu.TEST_SUBJECTS), every frame at 30 fps (every `stride`-th),
    projected exactly through fixed random cameras; plus the detector-like mix of training's eval.

    varied_bodies: the CMU poses all have the reference body's proportions (models.data.cmu), which a
    lifter that learned that body is rewarded for; this gives every frame its own body instead
    (size +-10%, each bone group +-8%, fixed by the seed), as real people differ. Per frame, not
    per take: a single-frame lifter scores each frame alone, and a handful of takes would leave the
    test set's mean body size to chance."""
    root = Path(data_root)
    folder = root / "cmu_mocap" if (root / "cmu_mocap").is_dir() else root
    trials = {t: p for t, p in cmu.load_cmu_sequences(folder, progress=False).items()
              if t.split("_")[0] in cmu.TEST_SUBJECTS}
    if not trials:
        raise DataError(f"no held-out CMU subjects ({', '.join(cmu.TEST_SUBJECTS)}) under {folder}")
    if varied_bodies:
        body_rng = np.random.default_rng(seed + 1)
        trials = {t: vary_bone_lengths(p, body_rng) for t, p in trials.items()}
    world = np.concatenate(list(trials.values()))[::stride]
    labels = np.concatenate([[cmu_activity(t)] * len(p) for t, p in trials.items()])[::stride]
    exact = make_eval_set(world, len(world), noise_px=0.0, seed=seed, labels=labels, outlier_prob=0.0,
                          dropout_prob=0.0)
    realistic = make_eval_set(world, len(world), seed=seed, **DETECTOR_LIKE)
    assert np.array_equal(exact.poses_camera, realistic.poses_camera)  # same frames, same cameras
    description = (f"CMU held-out subjects {', '.join(sorted({t.split('_')[0] for t in trials}))} "
                   f"({len(world)} frames at {30 / stride:g} fps), random cameras (seed {seed})"
                   + (", every frame with its own body proportions" if varied_bodies else ""))
    name = (f"detector-like ({DETECTOR_LIKE['noise_px']:g} px, {DETECTOR_LIKE['outlier_prob']:.0%} outliers, "
            f"{DETECTOR_LIKE['dropout_prob']:.0%} dropped)")
    return TestData("cmu", description, exact.keypoints_2d, exact.poses_camera, exact.labels,
                    extra_conditions={name: realistic.keypoints_2d})


def h36m_test_data(path_3d: Path | str, path_2d: Path | str, stride: int = 1) -> TestData:
    """Human3.6M Protocols 1 and 2: S9 and S11, all actions and cameras (every `stride`-th frame)."""
    from models.data.h36m import h36m_action_name, load_h36m_sequences
    keypoints, poses, labels = [], [], []
    for seq in load_h36m_sequences(path_3d, path_2d):
        keypoints.append(seq.keypoints_2d[::stride])
        poses.append(seq.poses_3d[::stride])
        labels += [h36m_action_name(seq.action)] * len(poses[-1])
    return TestData("h36m", f"Human3.6M S9 and S11, 4 cameras, every {stride}. frame ({len(labels)} frames); "
                    f"2D from {Path(path_2d).name}", np.concatenate(keypoints), np.concatenate(poses),
                    np.asarray(labels))


def mpi_inf_3dhp_test_data(root: Path | str, stride: int = 1) -> TestData:
    """MPI-INF-3DHP test set: the valid frames of TS1..TS6, scored against univ_annot3 as the
    official script does, PCK/AUC over its 14 joints."""
    from models.data.mpi_inf_3dhp import (MPI_INF_3DHP_PCK_JOINTS, MPI_INF_3DHP_TEST_SEQUENCES,
                                          load_mpi_inf_3dhp_test_set)
    root = Path(root)
    present = [s for s in MPI_INF_3DHP_TEST_SEQUENCES if (root / s / "annot_data.mat").is_file()]
    if not present:
        raise EvalFormatError(f"no TS1..TS6/annot_data.mat under {root}; point --3dhp-root to the extracted "
                              "mpi_inf_3dhp_test_set folder")
    keypoints, poses, labels = [], [], []
    for seq in load_mpi_inf_3dhp_test_set(root, present).values():
        valid = np.flatnonzero(seq.valid)[::stride]
        keypoints.append(seq.keypoints_2d[valid])
        poses.append(seq.poses_3d_universal[valid])
        labels.append(seq.activity_names[valid])
    return TestData("3dhp", f"MPI-INF-3DHP test set {', '.join(present)}, valid frames ({sum(map(len, labels))})",
                    np.concatenate(keypoints), np.concatenate(poses), np.concatenate(labels),
                    pck_joints=MPI_INF_3DHP_PCK_JOINTS)


# =========================================================================== 2D perturbations

def drop_joints(keypoints_2d: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Remove n random joints per frame (never the pelvis, the normalization's origin): each is
    placed on the pelvis, as training marks a joint the detector missed."""
    out = np.array(keypoints_2d, copy=True)
    others = rng.random((len(out), NUM_JOINTS - 1)).argsort(axis=1)[:, :n] + 1  # joint indices 1..16
    frames = np.arange(len(out))[:, None]
    out[frames, others] = out[:, PELVIS:PELVIS + 1]
    return out


def input_conditions(data: TestData, seed: int = 0) -> Iterator[dict]:
    """The 2D inputs to evaluate on, one at a time (a whole Human3.6M test set is large):
    {"name", "kind", "noise_px", "dropped_joints", "keypoints_2d"}. Kinds: "given" (first),
    "realistic" (CMU's detector-like mix), "noise" (NOISE_LEVELS_PX), "dropped" (DROPPED_JOINTS)."""
    rng = np.random.default_rng(seed)
    given = data.keypoints_2d.astype(np.float64)
    yield {"name": "as given", "kind": "given", "noise_px": 0.0, "dropped_joints": 0, "keypoints_2d": given}
    for name, keypoints in data.extra_conditions.items():
        yield {"name": name, "kind": "realistic", "noise_px": DETECTOR_LIKE["noise_px"], "dropped_joints": None,
               "keypoints_2d": keypoints}
    for level in NOISE_LEVELS_PX:
        yield {"name": f"noise {level:g} px", "kind": "noise", "noise_px": level, "dropped_joints": 0,
               "keypoints_2d": projection.jitter_2d(given, level, rng)}
    for n in DROPPED_JOINTS:
        yield {"name": f"{n} joint{'s' if n > 1 else ''} dropped", "kind": "dropped", "noise_px": 0.0,
               "dropped_joints": n, "keypoints_2d": drop_joints(given, n, rng)}


# =========================================================================== scoring

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
    total = 1 + len(data.extra_conditions) + len(NOISE_LEVELS_PX) + len(DROPPED_JOINTS)
    for cond in tqdm(input_conditions(data, seed), total=total, desc=f"evaluating {predictor.name}",
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


# =========================================================================== output

def machine_description() -> str:
    """CPU model and core count (and the GPU where torch sees one): figures are machine-specific."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, {platform.system()}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


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


# =========================================================================== command line

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
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
    from core.contract import ModelContractError
    from models.checkpoint import CheckpointError
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
