"""The fully supervised reference: Martinez et al. 2017's "simple baseline", trained on PAIRED 2D-3D.

    python -m models.baseline --out-dir runs/baseline --steps 6000 --width 1000

RepNet never sees a 2D pose together with its own 3D pose; this model does, which is the point:
the gap between the two is what weak supervision costs on the same data. It is the same network
as RepNet's generator up to the pose output (models.repnet.PoseAndCamera: input layer, shared and
pose residual blocks, width `--width`; the camera head is left untrained and unused) and predicts
the root-relative 3D pose directly in the camera frame, as Martinez et al. do, with an L2 loss.

Data: the CMU projection subjects (models.data.cmu.PROJECTION_SUBJECTS, the people whose 2D RepNet's
generator sees), each pose projected through a fresh random camera every time it is drawn, with the
same detector-like noise as RepNet's inputs; held-out evaluation on cmu.TEST_SUBJECTS.
`--subjects training` adds the critic subjects' poses (all the 3D RepNet's critic sees), paired.
Differences from the paper (which uses batch norm, dropout 0.5 and max-norm on Human3.6M): none of
those, so that the network is exactly RepNet's generator; per-frame 2D normalization as RepNet.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.skeleton import MM_PER_METRE
from models.checkpoint import CheckpointError, save_checkpoint
from models.data import DataError, cmu, default_data_root, projection
from models.repnet import PoseAndCamera, RepNetConfig, normalize_2d
from models.validation import evaluate_lifter, make_eval_set

MODEL_KIND = "supervised_baseline"   # checkpoints say so: evaluation then skips the camera rotation


@dataclass
class BaselineConfig:
    data_root: str = str(default_data_root())
    out_dir: str = "runs/baseline"
    seed: int = 0
    subjects: str = "projection"     # "projection" (RepNet's 2D subjects) or "training" (+ the critic subjects)
    train_subjects: tuple = ()       # CMU subjects to train on instead (the cross-motion protocol's split)
    test_subjects: tuple = ()        # CMU subjects to evaluate on during training instead of cmu.TEST_SUBJECTS
    # network: RepNet's generator (camera branch reduced to its output layer and unused)
    width: int = 1000
    shared_blocks: int = 1
    pose_blocks: int = 2
    leaky_slope: float = 0.01
    # schedule (Martinez et al.: Adam 1e-3, exponential decay; batch 64 there, larger here for CPU speed)
    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 1e-5           # exponential decay from lr to lr_final over the run
    # 2D inputs: the same detector-like noise as RepNet's generator sees
    noise_px: float = 4.0
    outlier_prob: float = 0.01
    dropout_prob: float = 0.02
    # bookkeeping
    eval_every: int = 1000
    eval_frames: int = 2000


def model_config(cfg: BaselineConfig) -> RepNetConfig:
    return RepNetConfig(width=cfg.width, shared_blocks=cfg.shared_blocks, pose_blocks=cfg.pose_blocks,
                        camera_blocks=0, leaky_slope=cfg.leaky_slope)


def train(cfg: BaselineConfig, poses: dict[str, np.ndarray] | None = None) -> dict:
    """Train and write out_dir/checkpoint.pt; returns the history (loss every 50 steps, evaluations).
    `poses` (cmu.load_cmu_poses' result) saves reading the data again."""
    if cfg.subjects not in ("projection", "training"):
        raise DataError(f"subjects must be 'projection' or 'training', got {cfg.subjects!r}")
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    if poses is None:
        poses = cmu.load_cmu_poses(Path(cfg.data_root))
    names = cfg.train_subjects or (
        cmu.PROJECTION_SUBJECTS + (cmu.CRITIC_SUBJECTS if cfg.subjects == "training" else ()))
    test_names = cfg.test_subjects or cmu.TEST_SUBJECTS
    train_world = np.concatenate([poses[s] for s in names if s in poses])
    test_world = np.concatenate([poses[s] for s in test_names if s in poses])
    eval_set = make_eval_set(test_world, n_frames=cfg.eval_frames, noise_px=cfg.noise_px, seed=1234)
    print(f"supervised baseline: {len(train_world)} paired training poses (CMU {', '.join(names)}), "
          f"{len(eval_set.keypoints_2d)} eval frames")

    model = PoseAndCamera(model_config(cfg))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gamma = (cfg.lr_final / cfg.lr) ** (1.0 / max(cfg.steps, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    history: dict[str, list] = {"step": [], "loss": [], "eval": []}

    start = time.time()
    for step in tqdm(range(cfg.steps), desc="baseline", unit="step"):
        # A fresh random camera for every drawn pose: the 2D-3D pairs never repeat exactly.
        projected = projection.project_random_cameras(
            train_world[rng.integers(0, len(train_world), cfg.batch_size)], rng, noise_px=cfg.noise_px,
            outlier_prob=cfg.outlier_prob, dropout_prob=cfg.dropout_prob)
        inputs, _, _ = normalize_2d(torch.from_numpy(projected.keypoints_2d))
        target = torch.from_numpy(projected.poses_camera) / MM_PER_METRE
        pose, _ = model(inputs)
        loss = (pose - target).pow(2).sum(-1).mean()   # L2, as Martinez et al.
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 50 == 0:
            history["step"].append(step)
            history["loss"].append(loss.item())
        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            metrics = evaluate_lifter(model, eval_set, rotate_by_camera=False)
            history["eval"].append({"step": done, **metrics})
            tqdm.write(f"step {done}: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics.items()))

    save_checkpoint(out_dir / "checkpoint.pt", {
        "model_kind": MODEL_KIND, "step": cfg.steps, "model_config": model_config(cfg).to_dict(),
        "train_config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "seconds": time.time() - start,
        "data": {"paired_2d_3d": f"CMU subjects {', '.join(names)}, random cameras, {cfg.noise_px} px noise",
                 "held_out": f"CMU subjects {', '.join(test_names)}"},
        "generator": model.state_dict(), "history": history,
        "reference_inputs": torch.from_numpy(eval_set.keypoints_2d[:256].astype(np.float32)),
        "reference_poses": torch.from_numpy(eval_set.poses_camera[:256].astype(np.float32))})
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    return history


def parse_args(argv: list[str] | None = None) -> BaselineConfig:
    parser = argparse.ArgumentParser(prog="python -m models.baseline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(BaselineConfig):
        if isinstance(f.default, tuple):
            parser.add_argument(f"--{f.name.replace('_', '-')}", nargs="*", default=f.default,
                                help="default: see --subjects")
        else:
            parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default,
                                help=f"default {f.default}")
    values = vars(parser.parse_args(argv))
    return BaselineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def main(argv: list[str] | None = None) -> dict:
    return train(parse_args(argv))


if __name__ == "__main__":
    try:
        main()
    except (CheckpointError, DataError) as err:
        raise SystemExit(f"error: {err}")
