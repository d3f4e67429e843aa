"""Train RepNet, weakly supervised: 2D poses and 3D poses are never paired.

    python -m models.train --out-dir runs/repnet                 # the paper's settings
    python -m models.train --config my.json --steps 2000 --width 512
    python -m models.train --critic-3d data_3d_h36m.npz:S1,S5,S6 --given-2d data_2d_h36m_gt.npz:S7,S8 ...
    torchrun --nproc_per_node 2 -m models.train --out-dir runs/ddp  # DistributedDataParallel (models/distributed.py)

Three streams of data feed one training step (models/training_data.py): real 3D poses for the
Wasserstein critic, 2D poses for the generator (projections of *other* subjects and in-the-wild
MPII annotations), held-out subjects for evaluation only. On top of the paper's losses, options
ask for view consistency, a camera the generator can be told, a camera-elevation prior and a 2D
prior from in-the-wild poses (docs/model.md). The loop below reads top to bottom: critic steps,
one generator step, bookkeeping.
Your own data (BVH folders, Human3.6M files) joins the first two streams (docs/data.md); a person
seen on both sides, or held out and seen, is refused.
Every hyperparameter is a field of TrainConfig (or RepNetConfig); each is also a command-line flag.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.camera import TRAINING_ELEVATION_DEG, camera_angles
from models import distributed
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.data import DataError, cmu, default_data_root
from models.losses import (camera_elevation_loss, camera_loss, critic_loss, given_camera_loss, reprojection_loss,
                           view_consistency_loss)
from models.negatives import limb_flipped_in_depth, reflected_in_depth
from models.repnet import Critic, Critic2D, PoseAndCamera, RepNetConfig, reproject
from models.training_data import Batches, TrainingData, describe_data, load_training_data
from models.validation import evaluate_lifter


@dataclass
class TrainConfig:
    data_root: str = str(default_data_root())
    out_dir: str = "runs/repnet"
    seed: int = 0
    device: str = "auto"               # auto: cuda where available, else cpu
    # schedule (paper: Adam 1e-4, betas (0.5, 0.9), batch 32, lr / 10 at 1/4, 1/2 and 3/4 of training)
    steps: int = 20000                 # generator steps
    stop_after: int = 0                # stop (with a checkpoint) after this many steps; resume later. 0: run to `steps`
    batch_size: int = 32
    critic_steps: int = 5              # critic updates per generator update (WGAN-GP)
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9
    lr_decay: float = 0.1
    lr_decay_at: tuple = (0.25, 0.5, 0.75)
    # loss weights (paper: 1 : 1 : 1, gradient penalty 10)
    weight_adversarial: float = 1.0
    weight_reprojection: float = 1.0
    weight_camera: float = 1.0
    gradient_penalty: float = 10.0
    weight_view_consistency: float = 0.0  # lift another random view of each predicted pose and ask for
                                          # the same canonical pose (losses.view_consistency_loss). 0: off (paper)
    view_consistency_noise_px: float = 0.0  # detector-like jitter on that other view (px, person 500 px tall)
    view_consistency_dropout: float = 0.0   # and the chance that each of its joints is missing
    weight_camera_elevation: float = 0.0    # radians by which the estimated camera looks more steeply up or down
                                            # than camera_elevation_deg (losses.camera_elevation_loss). 0: off (paper)
    camera_elevation_deg: tuple = TRAINING_ELEVATION_DEG  # allowed elevations: the training cameras' range
    camera_given_fraction: float = 0.5     # with --camera-input: share of projected 2D (and of view-consistency
                                           # views) lifted with their camera's elevation and roll given
    camera_given_noise_deg: float = 2.0    # error put on a given camera (the app's running estimate is not exact)
    weight_camera_given: float = 1.0       # radians between the estimated and the given camera
                                           # (losses.given_camera_loss)
    weight_2d_prior: float = 0.0       # a second critic judges the predicted pose, seen from a random camera,
                                       # against in-the-wild MPII 2D poses (repnet.Critic2D). 0: off (paper)
    group_balance: float = 0.5         # sample each 3D pose with weight (its activity group's size) ** -this:
                                       # 0 uniform (walking dominates), 1 every activity group alike
    ema_decay: float = 0.0             # exponential moving average of the generator's weights (e.g. 0.999):
                                       # smooths the adversarial game's step-to-step wobble; the average is
                                       # what is evaluated, saved as "generator" and exported. 0: off (paper)
    reflected_negatives: float = 0.5   # share of the critic's fakes that are real poses mirrored in depth
                                       # (knees and elbows bending backwards): teaches the critic the
                                       # chirality that a depth flip breaks, the method's commonest error
    limb_flip_negatives: float = 0.0   # share of the critic's fakes that are real poses with one limb (an arm,
                                       # forearm, leg or shin) mirrored in depth for a random camera: the same
                                       # 2D in that view, and the error left most often (forearms, docs/model.md)
    # who is seen where: CMU subjects by number (under data_root). Each person may be in one group
    # only: nobody's 2D meets their own 3D (weak supervision), nobody held out is trained on
    critic_subjects: tuple = cmu.CRITIC_SUBJECTS          # 3D poses for the critic
    projection_subjects: tuple = cmu.PROJECTION_SUBJECTS  # 3D poses projected for the generator
    test_subjects: tuple = cmu.TEST_SUBJECTS              # evaluation during training
    # your own data (docs/data.md): folders of BVH files, or Human3.6M files as PATH.npz[:S1,S5,...]
    critic_3d: tuple = ()              # more 3D poses for the critic
    projection_3d: tuple = ()          # more 3D poses to project through random cameras for the generator
    given_2d: tuple = ()               # Human3.6M 2D files (ground truth or detections) for the generator
    # 2D inputs: shares of each generator batch; projections of 3D poses fill the rest
    mpii_fraction: float = 0.3         # in-the-wild MPII annotations (0: MPII is not loaded)
    given_2d_fraction: float = 0.3     # given_2d, where there is any
    mirror_2d: bool = False            # add every annotated 2D pose (MPII, given 2D) mirrored left to right:
                                       # twice the in-the-wild poses, each still a real person's
    noise_px: float = 4.0              # detector-like jitter on projected 2D (px at ~1000 px images)
    # 3D augmentation for the critic's real poses (see models/augment.py)
    augment_mirror: bool = True
    augment_bone_lengths: bool = True
    augment_crossover: bool = True     # EvoSkeleton-style limb crossover and mutation
    augmented_pool_factor: float = 1.0 # extra crossover/mutation poses, as a multiple of the real ones
    augment_projections: float = 0.0  # the same for the 3D poses whose projections feed the generator
    # bookkeeping
    eval_every: int = 1000
    eval_frames: int = 2000
    checkpoint_every: int = 1000


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, RepNetConfig, str | None]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="JSON file with TrainConfig/RepNetConfig fields; flags override it")
    parser.add_argument("--resume", help="checkpoint to resume from (weights, optimizers, step)")
    for cls in (TrainConfig, RepNetConfig):
        for f in fields(cls):
            if isinstance(f.default, bool):
                parser.add_argument(f"--{f.name.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"),
                                    default=None, metavar="BOOL", help=f"default {f.default}")
            elif isinstance(f.default, tuple):  # a list; given with no values, an empty one
                parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default[0]) if f.default else str,
                                    nargs="*", default=None, help=f"default {' '.join(map(str, f.default)) or 'none'}")
            else:
                parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=None,
                                    help=f"default {f.default}")
    args = vars(parser.parse_args(argv))
    values = json.loads(Path(args["config"]).read_text()) if args["config"] else {}
    values.update({k: v for k, v in args.items() if v is not None and k not in ("config", "resume")})
    train_cfg = TrainConfig(**{f.name: _as_field(f, values[f.name]) for f in fields(TrainConfig) if f.name in values})
    model_cfg = RepNetConfig(**{f.name: values[f.name] for f in fields(RepNetConfig) if f.name in values})
    unknown = set(values) - {f.name for f in fields(TrainConfig)} - {f.name for f in fields(RepNetConfig)}
    if unknown:
        parser.error(f"unknown config keys: {sorted(unknown)}")
    out_dir = Path(train_cfg.out_dir)  # a file where the folder should be: one line, not mkdir's traceback
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists())
    if not existing.is_dir():
        parser.exit(2, f"error: --out-dir {out_dir}: {existing} is a file, not a folder; choose another --out-dir\n")
    return train_cfg, model_cfg, args["resume"]


def _as_field(f, value):
    return tuple(value) if isinstance(f.default, tuple) else value


@dataclass
class Networks:
    """The generator, the critics, their optimizers and schedules: everything a checkpoint restores."""
    generator: PoseAndCamera
    critic: Critic
    critic_2d: Critic2D | None          # the 2D prior's critic (--weight-2d-prior)
    averaged: PoseAndCamera | None      # the moving average of the generator (--ema-decay)
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    opt_c2: torch.optim.Optimizer | None
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_c: torch.optim.lr_scheduler.LRScheduler

    @property
    def deployed(self) -> PoseAndCamera:
        """The weights that are evaluated and shipped: the running average where one is kept."""
        return self.averaged if self.averaged is not None else distributed.unwrap(self.generator)


def build_networks(cfg: TrainConfig, model_cfg: RepNetConfig, device: torch.device) -> Networks:
    generator = PoseAndCamera(model_cfg).to(device)
    critic = Critic(model_cfg).to(device)
    critic_2d = Critic2D(model_cfg).to(device) if cfg.weight_2d_prior > 0 else None
    adam = lambda net: torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))  # noqa: E731
    opt_g, opt_c = adam(generator), adam(critic)
    opt_c2 = adam(critic_2d) if critic_2d is not None else None
    milestones = [int(f * cfg.steps) for f in cfg.lr_decay_at]
    averaged = copy.deepcopy(generator).requires_grad_(False) if cfg.ema_decay > 0 else None
    # Under torchrun: DistributedDataParallel averages the gradients of every process's share of the
    # batch; the optimizers hold the same parameters either way.
    generator, critic = distributed.wrap(generator), distributed.wrap(critic)
    critic_2d = distributed.wrap(critic_2d) if critic_2d is not None else None
    return Networks(generator, critic, critic_2d, averaged, opt_g, opt_c, opt_c2,
                    torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones, cfg.lr_decay),
                    torch.optim.lr_scheduler.MultiStepLR(opt_c, milestones, cfg.lr_decay))


def restore(nets: Networks, state: dict) -> None:
    """Weights, optimizers and schedules from a checkpoint of checkpoint_state()."""
    unwrap = distributed.unwrap
    unwrap(nets.generator).load_state_dict(state.get("generator_training", state["generator"]))
    if nets.averaged is not None:
        nets.averaged.load_state_dict(state["generator"])
    unwrap(nets.critic).load_state_dict(state["critic"])
    nets.opt_g.load_state_dict(state["opt_generator"])
    nets.opt_c.load_state_dict(state["opt_critic"])
    if nets.critic_2d is not None:
        unwrap(nets.critic_2d).load_state_dict(state["critic_2d"])
        nets.opt_c2.load_state_dict(state["opt_critic_2d"])
    nets.sched_g.load_state_dict(state["sched_generator"])
    nets.sched_c.load_state_dict(state["sched_critic"])


def checkpoint_state(step: int, cfg: TrainConfig, model_cfg: RepNetConfig, nets: Networks, data: TrainingData,
                     history: dict, rng: np.random.Generator) -> dict:
    eval_set = data.eval_set
    unwrap = distributed.unwrap  # a checkpoint holds the networks, not their DistributedDataParallel wrappers
    return {"step": step, "model_config": model_cfg.to_dict(), "train_config": _jsonable(asdict(cfg)),
            "data": describe_data(cfg, data.shares), "generator": nets.deployed.state_dict(),
            "critic": unwrap(nets.critic).state_dict(),
            **({"generator_training": unwrap(nets.generator).state_dict()} if nets.averaged is not None else {}),
            **({"critic_2d": unwrap(nets.critic_2d).state_dict(), "opt_critic_2d": nets.opt_c2.state_dict()}
               if nets.critic_2d is not None else {}),
            "opt_generator": nets.opt_g.state_dict(), "opt_critic": nets.opt_c.state_dict(),
            "sched_generator": nets.sched_g.state_dict(), "sched_critic": nets.sched_c.state_dict(),
            "history": history, "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
            "reference_inputs": torch.from_numpy(eval_set.keypoints_2d[:256].astype(np.float32)),
            "reference_poses": torch.from_numpy(eval_set.poses_camera[:256].astype(np.float32))}


def critic_step(nets: Networks, batches: Batches, cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One WGAN-GP update of the 3D critic: real poses against the generator's, with a share of the
    fakes replaced by real poses turned impossible (models.negatives: depth-mirrored, a limb flipped in depth)."""
    inputs, _, condition = batches.generator_inputs(cfg.batch_size)
    with torch.no_grad():
        fake, _ = nets.generator(inputs.to(device), condition.to(device))
    n_reflected = int(round(cfg.batch_size * cfg.reflected_negatives))
    if n_reflected:
        fake[:n_reflected] = reflected_in_depth(batches.real_poses(n_reflected)).to(device)
    n_limb = min(int(round(cfg.batch_size * cfg.limb_flip_negatives)), cfg.batch_size - n_reflected)
    if n_limb:
        fake[n_reflected:n_reflected + n_limb] = limb_flipped_in_depth(batches.real_poses(n_limb), batches.rng).to(device)
    loss, wasserstein = critic_loss(nets.critic, batches.real_poses(cfg.batch_size).to(device), fake,
                                    cfg.gradient_penalty)
    nets.opt_c.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_c.step()
    return loss, wasserstein


def generator_step(nets: Networks, batches: Batches, cfg: TrainConfig, device: torch.device) -> dict[str, torch.Tensor]:
    """One update of the generator (and of the 2D prior's critic, where there is one); returns its losses."""
    inputs, weights, condition = (t.to(device) for t in batches.generator_inputs(cfg.batch_size))
    pose, camera = nets.generator(inputs, condition)
    losses = {"adversarial": -nets.critic(pose).mean(),
              "reprojection": reprojection_loss(reproject(pose, camera), inputs, weights),
              "camera": camera_loss(camera), "view": torch.zeros(()), "prior_2d": torch.zeros(())}
    total = (cfg.weight_adversarial * losses["adversarial"] + cfg.weight_reprojection * losses["reprojection"]
             + cfg.weight_camera * losses["camera"])
    if cfg.weight_camera_elevation > 0:
        total = total + cfg.weight_camera_elevation * camera_elevation_loss(camera, *cfg.camera_elevation_deg)
    if batches.camera_input:
        total = total + cfg.weight_camera_given * given_camera_loss(camera, condition)
    if cfg.weight_view_consistency > 0:
        rotations = batches.camera_rotations(cfg.batch_size)
        other_view = batches.told_cameras(camera_angles(rotations[:, :2])).to(device) if batches.camera_input else None
        losses["view"] = view_consistency_loss(nets.generator, pose, torch.from_numpy(rotations).to(device),
                                               cfg.view_consistency_noise_px, cfg.view_consistency_dropout, other_view)
        total = total + cfg.weight_view_consistency * losses["view"]
    if nets.critic_2d is not None:  # the 2D prior: one step of its critic, then the generator's term
        loss_c2, _ = critic_loss(nets.critic_2d, batches.real_2d(cfg.batch_size).to(device),
                                 batches.seen_from_random_cameras(pose.detach()), cfg.gradient_penalty)
        nets.opt_c2.zero_grad(set_to_none=True)
        loss_c2.backward()
        nets.opt_c2.step()
        losses["prior_2d"] = -nets.critic_2d(batches.seen_from_random_cameras(pose)).mean()
        total = total + cfg.weight_2d_prior * losses["prior_2d"]
    nets.opt_g.zero_grad(set_to_none=True)
    total.backward()
    nets.opt_g.step()
    if nets.averaged is not None:
        with torch.no_grad():
            for average, current in zip(nets.averaged.parameters(), nets.generator.parameters()):
                average.lerp_(current, 1.0 - cfg.ema_decay)
    return {**losses, "total": total}


def main(argv: list[str] | None = None) -> dict:
    """Train; returns the history (losses every 50 steps, held-out metrics at each evaluation)."""
    cfg, model_cfg, resume = parse_args(argv)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if cfg.device == "auto" else cfg.device))
    process = distributed.start(device)  # under torchrun: one of several processes; else the only one
    try:
        return _train(cfg, model_cfg, resume, out_dir, process)
    finally:
        distributed.stop()


def _train(cfg: TrainConfig, model_cfg: RepNetConfig, resume: str | None, out_dir: Path,
           process: distributed.Process) -> dict:
    device, main_process = process.device, process.is_main
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if main_process:
        print(f"training on {device}" + (f" x {process.world_size} processes" if process.world_size > 1 else "")
              + f"; writing to {out_dir}")

    data = load_training_data(cfg, rng)  # the same data in every process (the same seed)
    nets = build_networks(cfg, model_cfg, device)
    # each process draws its own share of every batch (one process: the stream it always used)
    batches = Batches(data, cfg, model_cfg.camera_input, distributed.own_stream(rng, cfg.seed, process))
    history: dict[str, list] = {"step": [], "critic": [], "wasserstein": [], "adversarial": [],
                                "reprojection": [], "camera": [], "view": [], "eval": []}
    start_step = 0
    if resume:
        state = load_checkpoint(Path(resume))
        restore(nets, state)
        history, start_step = state["history"], state["step"]
        if process.world_size == 1:  # several processes: each keeps the stream of its rank (rank 0's alone is saved)
            batches.rng.bit_generator.state = state["numpy_rng"]
            torch.set_rng_state(state["torch_rng"])
        if main_process:
            print(f"resumed from {resume} at step {start_step}")

    last_step = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
    progress = tqdm(range(start_step, last_step), initial=start_step, total=cfg.steps, desc="train", unit="step",
                    disable=not main_process)
    for step in progress:
        # more critic steps than generator steps keep the Wasserstein estimate meaningful
        for _ in range(cfg.critic_steps):
            loss_c, wasserstein = critic_step(nets, batches, cfg, device)
        losses = generator_step(nets, batches, cfg, device)
        nets.sched_g.step()
        nets.sched_c.step()

        if step % 50 == 0:
            for key, value in {"critic": loss_c, "wasserstein": wasserstein, **losses}.items():
                if key != "total":
                    history.setdefault(key, []).append(float(value.detach()))
            history["step"].append(step)
            progress.set_postfix(W=f"{float(wasserstein):.3f}", rep=f"{losses['reprojection'].item():.3f}",
                                 cam=f"{losses['camera'].item():.3f}")
        if not all(math.isfinite(v.item()) for v in (loss_c, losses["total"])):
            raise SystemExit(f"training diverged at step {step} (non-finite loss); lower --lr or raise --gradient-penalty")
        done = step + 1
        if not main_process:  # rank 0 evaluates and writes; the others only train
            continue
        if done % cfg.eval_every == 0 or done == cfg.steps:
            metrics = evaluate_lifter(nets.deployed, data.eval_set, device)
            history["eval"].append({"step": done, **metrics})
            tqdm.write(f"step {done}: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics.items()))
            plot_history(history, out_dir / "training_curves.png")
        if done % cfg.checkpoint_every == 0 or done == last_step:
            save_checkpoint(out_dir / "checkpoint.pt",
                            checkpoint_state(done, cfg, model_cfg, nets, data, history, batches.rng))

    if not main_process:
        return history
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    if last_step < cfg.steps:
        print(f"stopped at step {last_step} of {cfg.steps}; continue with --resume {out_dir / 'checkpoint.pt'}")
        return history
    print(f"trained; export the lifter with: python -m export --checkpoint {out_dir / 'checkpoint.pt'} "
          f"--output {out_dir / 'repnet.onnx'} (or ship it with python -m export.release)")
    return history


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def plot_history(history: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    steps = history["step"]
    axes[0].plot(steps, history["wasserstein"], label="Wasserstein estimate")
    axes[0].plot(steps, history["adversarial"], label="generator adversarial")
    axes[0].set_title("critic")
    axes[1].plot(steps, history["reprojection"], label="reprojection")
    axes[1].plot(steps, history["camera"], label="camera")
    if any(history.get("view", [])):
        axes[1].plot(steps[-len(history["view"]):], history["view"], label="view consistency (m)")
    axes[1].set_yscale("log")
    axes[1].set_title("generator losses")
    if history["eval"]:
        ev = history["eval"]
        for key in ("mpjpe", "pa_mpjpe"):
            axes[2].plot([e["step"] for e in ev], [e[key] for e in ev], marker="o", label=key)
    axes[2].set_title("held-out error (mm)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    try:
        main()
    except (CheckpointError, DataError) as err:
        raise SystemExit(f"error: {err}")
