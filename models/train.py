"""Train RepNet, weakly supervised: 2D poses and 3D poses are never paired.

    python -m models.train --out-dir runs/repnet                 # the paper's settings
    python -m models.train --config my.json --steps 2000 --width 512
    python -m models.train --critic-3d data_3d_h36m.npz:S1,S5,S6 --given-2d data_2d_h36m_gt.npz:S7,S8 ...

Three streams of data feed one training step:
  * real 3D poses (CMU critic subjects, canonical frame, augmented) for the Wasserstein critic;
  * 2D poses for the generator: projections of *other* CMU subjects through random cameras with
    detector-like noise, mixed with in-the-wild MPII annotations;
  * held-out CMU subjects, projected through fixed random cameras, for evaluation only.
On top of the paper's losses, --weight-view-consistency asks the generator to lift each of its
poses, seen again from another random camera, to the same pose (docs/model.md, "View consistency").
Your own data (BVH folders, Human3.6M files) joins the first two streams (docs/data.md); a person
seen on both sides, or held out and seen, is refused.
Every hyperparameter is a field of TrainConfig (or RepNetConfig); each is also a command-line flag.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models import augment, datasets
from models.camera import TRAINING_ELEVATION_DEG, camera_angles, canonicalize, random_camera_rotations
from models.checkpoint import load_checkpoint, save_checkpoint, CheckpointError
from models.evaluate import evaluate_lifter, make_eval_set
from models.losses import (camera_elevation_loss, camera_loss, critic_loss, default_joint_weights,
                           given_camera_loss, reprojection_loss, view_consistency_loss)
from models.repnet import (Critic, Critic2D, PoseAndCamera, RepNetConfig, camera_condition, normalize_2d,
                           reproject)
from models.skeleton import JOINT_INDEX, MIRROR_PERMUTATION, NUM_JOINTS, mirror

MM_PER_METRE = 1000.0


@dataclass
class TrainConfig:
    data_root: str = str(datasets.default_data_root())
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
    critic_subjects: tuple = datasets.CRITIC_SUBJECTS         # 3D poses for the critic
    projection_subjects: tuple = datasets.PROJECTION_SUBJECTS # 3D poses projected for the generator
    test_subjects: tuple = datasets.TEST_SUBJECTS             # evaluation during training
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
    export_onnx: bool = True


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


def main(argv: list[str] | None = None) -> dict:
    """Train; returns the history (losses every 50 steps, held-out metrics at each evaluation)."""
    cfg, model_cfg, resume = parse_args(argv)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if cfg.device == "auto" else cfg.device))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    print(f"training on {device}; writing to {out_dir}")

    # ---- data -------------------------------------------------------------------------------
    t0 = time.time()
    cmu = datasets.load_cmu_poses(Path(cfg.data_root))
    cmu_groups = datasets.load_cmu_activities(Path(cfg.data_root), progress=False)
    missing = sorted(set(cfg.critic_subjects + cfg.projection_subjects + cfg.test_subjects) - set(cmu))
    if missing:
        raise datasets.DataError(f"CMU subject(s) {', '.join(missing)} not found under {cfg.data_root}; "
                                 f"the data has {', '.join(cmu)}")
    critic_sources = [datasets.load_3d_source(spec) for spec in cfg.critic_3d]
    projection_sources = [datasets.load_3d_source(spec) for spec in cfg.projection_3d]
    given_sources = [datasets.load_2d_source(spec) for spec in cfg.given_2d]
    datasets.check_disjoint({  # weak supervision: nobody's 2D meets their own 3D, nobody held out is seen
        "critic": {f"CMU {s}" for s in cfg.critic_subjects}.union(*(src.people for src in critic_sources)),
        "generator": {f"CMU {s}" for s in cfg.projection_subjects}.union(
            *(src.people for src in projection_sources + given_sources)),
        "held-out": {f"CMU {s}" for s in cfg.test_subjects}})

    def gathered(subjects: tuple, sources: list, dims: int = 3) -> np.ndarray:
        parts = [cmu[s] for s in subjects] + [src.poses for src in sources]
        return np.concatenate(parts) if parts else np.zeros((0, NUM_JOINTS, dims), np.float32)

    def groups_of(subjects: tuple, sources: list) -> np.ndarray:  # one activity label per pose of gathered()
        parts = [cmu_groups[s] for s in subjects] + [np.full(len(src.poses), "your data") for src in sources]
        return np.concatenate(parts) if parts else np.zeros(0, str)

    critic_world = gathered(cfg.critic_subjects, critic_sources)
    projection_world = gathered(cfg.projection_subjects, projection_sources)
    critic_groups = groups_of(cfg.critic_subjects, critic_sources)
    projection_groups = groups_of(cfg.projection_subjects, projection_sources)
    test_world = gathered(cfg.test_subjects, [])
    if not len(critic_world) or not len(test_world):
        raise datasets.DataError("the critic needs 3D poses and the evaluation held-out subjects; "
                                 "give --critic-subjects or --critic-3d, and --test-subjects")
    if cfg.augment_projections > 0 and len(projection_world):  # new 2D inputs from recombined limbs
        n_extra = int(len(projection_world) * cfg.augment_projections)
        projection_world = np.concatenate([projection_world,
                                           augment.crossover_and_mutate(projection_world, n_extra, rng)])
        projection_groups = np.concatenate([projection_groups, np.full(n_extra, "recombined")])

    real_poses = canonicalize(critic_world)
    if cfg.augment_crossover and cfg.augmented_pool_factor > 0:
        n_extra = int(len(real_poses) * cfg.augmented_pool_factor)
        real_poses = np.concatenate([real_poses, canonicalize(augment.crossover_and_mutate(real_poses, n_extra, rng))])
        critic_groups = np.concatenate([critic_groups, np.full(n_extra, "recombined")])
    real_poses = (real_poses / MM_PER_METRE).astype(np.float32)
    # rare activities (sitting, bending, standing still: what people in front of a webcam do) drawn more often
    critic_cdf = datasets.balanced_cdf(critic_groups, cfg.group_balance)
    projection_cdf = datasets.balanced_cdf(projection_groups, cfg.group_balance) if len(projection_groups) else None

    # the generator's 2D: MPII and given 2D as annotated, projections of 3D poses for the rest of each batch
    mpii_2d, mpii_weights = (datasets.load_mpii_2d(Path(cfg.data_root)) if cfg.mpii_fraction > 0
                             else (np.zeros((0, NUM_JOINTS, 2), np.float32), np.zeros((0, NUM_JOINTS), np.float32)))
    given_2d = gathered((), given_sources, dims=2)
    given_weights = np.concatenate([src.weights for src in given_sources]) if given_sources else np.zeros((0, NUM_JOINTS))
    if cfg.mirror_2d:
        mpii_2d, mpii_weights = with_mirrored_2d(mpii_2d, mpii_weights)
        given_2d, given_weights = with_mirrored_2d(given_2d, given_weights)
    shares = batch_shares(cfg.mpii_fraction if len(mpii_2d) else 0.0,
                          cfg.given_2d_fraction if len(given_2d) else 0.0, has_projections=len(projection_world) > 0)
    eval_set = make_eval_set(test_world, n_frames=cfg.eval_frames, noise_px=cfg.noise_px, seed=1234)
    print(f"data: {len(real_poses)} critic poses, {len(projection_world)} projection poses, {len(mpii_2d)} MPII "
          f"poses, {len(given_2d)} given 2D poses, {len(eval_set.keypoints_2d)} eval frames ({time.time() - t0:.1f} s)")

    def real_batch(n: int) -> torch.Tensor:
        batch = real_poses[np.searchsorted(critic_cdf, rng.random(n))]
        if cfg.augment_mirror:
            batch = augment.random_mirror(batch, rng)
        if cfg.augment_bone_lengths:
            batch = augment.vary_bone_lengths(batch, rng)
        return torch.from_numpy(batch.astype(np.float32))

    joint_weights = default_joint_weights()

    def told_cameras(angles: np.ndarray) -> torch.Tensor:
        """camera_condition for (elevation, roll) [n, 2]: given for a random share, with some error."""
        given = rng.random(len(angles)) < cfg.camera_given_fraction
        noisy = angles + np.deg2rad(cfg.camera_given_noise_deg) * rng.normal(size=angles.shape)
        return camera_condition(torch.from_numpy(noisy.astype(np.float32)), torch.from_numpy(given))

    def generator_batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalized 2D [n,17,2], joint weights [n,17], camera condition [n,3]: none for annotated 2D)."""
        n_mpii, n_given = int(round(n * shares[0])), int(round(n * shares[1]))
        n_projected = n - n_mpii - n_given
        parts, condition = [], torch.zeros(n, 3)
        if n_projected:
            idx = np.searchsorted(projection_cdf, rng.random(n_projected))
            projected = datasets.project_random_cameras(projection_world[idx], rng, noise_px=cfg.noise_px)
            parts.append((projected.keypoints_2d, projected.weights))
            if model_cfg.camera_input:
                condition[:n_projected] = told_cameras(camera_angles(projected.rotations[:, :2]))
        for count, keypoints, present in ((n_mpii, mpii_2d, mpii_weights), (n_given, given_2d, given_weights)):
            if count:
                pick = rng.integers(0, len(keypoints), count)
                parts.append((keypoints[pick], present[pick]))
        kp = np.concatenate([k for k, _ in parts]).astype(np.float32)
        weights = np.concatenate([w for _, w in parts]).astype(np.float32)
        normalized, _, _ = normalize_2d(torch.from_numpy(kp))
        return normalized, torch.from_numpy(weights) * joint_weights, condition

    # the 2D prior's real poses: MPII people with every joint annotated, and their mirror images
    complete = mpii_weights.min(axis=1) > 0 if cfg.weight_2d_prior > 0 else np.zeros(len(mpii_2d), bool)
    if cfg.weight_2d_prior > 0 and not complete.any():
        raise datasets.DataError("--weight-2d-prior needs MPII 2D poses: give a positive --mpii-fraction")
    real_2d = normalize_2d(torch.from_numpy(with_mirrored_2d(mpii_2d[complete], mpii_weights[complete])[0]))[0]

    def seen_from_random_cameras(pose: torch.Tensor) -> torch.Tensor:
        """Canonical poses [B,17,3] seen by random training cameras, orthographic, normalized."""
        rotations = torch.from_numpy(random_camera_rotations(len(pose), rng).astype(np.float32)).to(pose.device)
        return normalize_2d(pose @ rotations[:, :2].transpose(1, 2))[0]

    # ---- model and optimizers ---------------------------------------------------------------
    generator = PoseAndCamera(model_cfg).to(device)
    critic = Critic(model_cfg).to(device)
    critic_2d = Critic2D(model_cfg).to(device) if cfg.weight_2d_prior > 0 else None
    # the weights that are evaluated and shipped: the running average where one is kept
    averaged = copy.deepcopy(generator).requires_grad_(False) if cfg.ema_decay > 0 else None
    deployed = averaged if averaged is not None else generator
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_c2 = torch.optim.Adam(critic_2d.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)) if critic_2d else None
    milestones = [int(f * cfg.steps) for f in cfg.lr_decay_at]
    sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones, cfg.lr_decay)
    sched_c = torch.optim.lr_scheduler.MultiStepLR(opt_c, milestones, cfg.lr_decay)
    history: dict[str, list] = {"step": [], "critic": [], "wasserstein": [], "adversarial": [],
                                "reprojection": [], "camera": [], "view": [], "eval": []}
    start_step = 0
    if resume:
        state = load_checkpoint(Path(resume))
        generator.load_state_dict(state.get("generator_training", state["generator"]))
        if averaged is not None:
            averaged.load_state_dict(state["generator"])
        critic.load_state_dict(state["critic"])
        opt_g.load_state_dict(state["opt_generator"])
        opt_c.load_state_dict(state["opt_critic"])
        if critic_2d is not None:
            critic_2d.load_state_dict(state["critic_2d"])
            opt_c2.load_state_dict(state["opt_critic_2d"])
        sched_g.load_state_dict(state["sched_generator"])
        sched_c.load_state_dict(state["sched_critic"])
        history = state["history"]
        start_step = state["step"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {resume} at step {start_step}")

    def checkpoint_state(step: int) -> dict:
        return {"step": step, "model_config": model_cfg.to_dict(), "train_config": _jsonable(asdict(cfg)),
                "data": describe_data(cfg, shares), "generator": deployed.state_dict(), "critic": critic.state_dict(),
                **({"generator_training": generator.state_dict()} if averaged is not None else {}),
                **({"critic_2d": critic_2d.state_dict(), "opt_critic_2d": opt_c2.state_dict()} if critic_2d else {}),
                "opt_generator": opt_g.state_dict(), "opt_critic": opt_c.state_dict(),
                "sched_generator": sched_g.state_dict(), "sched_critic": sched_c.state_dict(),
                "history": history, "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "reference_inputs": torch.from_numpy(eval_set.keypoints_2d[:256].astype(np.float32)),
                "reference_poses": torch.from_numpy(eval_set.poses_camera[:256].astype(np.float32))}

    # ---- training loop ----------------------------------------------------------------------
    last_step = min(cfg.steps, cfg.stop_after) if cfg.stop_after else cfg.steps
    progress = tqdm(range(start_step, last_step), initial=start_step, total=cfg.steps, desc="train", unit="step")
    for step in progress:
        # critic: more steps than the generator keeps its Wasserstein estimate meaningful
        for _ in range(cfg.critic_steps):
            inputs, _, condition = generator_batch(cfg.batch_size)
            with torch.no_grad():
                fake, _ = generator(inputs.to(device), condition.to(device))
            n_reflected = int(round(cfg.batch_size * cfg.reflected_negatives))
            if n_reflected:
                fake[:n_reflected] = reflected_in_depth(real_batch(n_reflected)).to(device)
            n_limb = min(int(round(cfg.batch_size * cfg.limb_flip_negatives)), cfg.batch_size - n_reflected)
            if n_limb:
                fake[n_reflected:n_reflected + n_limb] = limb_flipped_in_depth(real_batch(n_limb), rng).to(device)
            loss_c, wasserstein = critic_loss(critic, real_batch(cfg.batch_size).to(device), fake, cfg.gradient_penalty)
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            opt_c.step()

        inputs, weights, condition = generator_batch(cfg.batch_size)
        inputs, weights, condition = inputs.to(device), weights.to(device), condition.to(device)
        pose, camera = generator(inputs, condition)
        loss_adv = -critic(pose).mean()
        loss_rep = reprojection_loss(reproject(pose, camera), inputs, weights)
        loss_cam = camera_loss(camera)
        loss_g = cfg.weight_adversarial * loss_adv + cfg.weight_reprojection * loss_rep + cfg.weight_camera * loss_cam
        if cfg.weight_camera_elevation > 0:
            loss_g = loss_g + cfg.weight_camera_elevation * camera_elevation_loss(camera, *cfg.camera_elevation_deg)
        if model_cfg.camera_input:
            loss_g = loss_g + cfg.weight_camera_given * given_camera_loss(camera, condition)
        loss_view = torch.zeros(())
        if cfg.weight_view_consistency > 0:
            rotations = random_camera_rotations(cfg.batch_size, rng).astype(np.float32)
            other_view = told_cameras(camera_angles(rotations[:, :2])).to(device) if model_cfg.camera_input else None
            loss_view = view_consistency_loss(generator, pose, torch.from_numpy(rotations).to(device),
                                              cfg.view_consistency_noise_px, cfg.view_consistency_dropout, other_view)
            loss_g = loss_g + cfg.weight_view_consistency * loss_view
        loss_2d = torch.zeros(())
        if critic_2d is not None:  # the 2D prior: one critic step, then the generator's term
            real = real_2d[rng.integers(0, len(real_2d), cfg.batch_size)].to(device)
            loss_c2, _ = critic_loss(critic_2d, real, seen_from_random_cameras(pose.detach()), cfg.gradient_penalty)
            opt_c2.zero_grad(set_to_none=True)
            loss_c2.backward()
            opt_c2.step()
            loss_2d = -critic_2d(seen_from_random_cameras(pose)).mean()
            loss_g = loss_g + cfg.weight_2d_prior * loss_2d
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if averaged is not None:
            with torch.no_grad():
                for average, current in zip(averaged.parameters(), generator.parameters()):
                    average.lerp_(current, 1.0 - cfg.ema_decay)
        sched_g.step()
        sched_c.step()

        if step % 50 == 0:
            for key, value in (("critic", loss_c), ("wasserstein", wasserstein), ("adversarial", loss_adv),
                               ("reprojection", loss_rep), ("camera", loss_cam), ("view", loss_view),
                               ("prior_2d", loss_2d)):
                history.setdefault(key, []).append(float(value.detach()))
            history["step"].append(step)
            progress.set_postfix(W=f"{float(wasserstein):.3f}", rep=f"{loss_rep.item():.3f}", cam=f"{loss_cam.item():.3f}")
        if not all(math.isfinite(v.item()) for v in (loss_c, loss_g)):
            raise SystemExit(f"training diverged at step {step} (non-finite loss); lower --lr or raise --gradient-penalty")

        done = step + 1
        if done % cfg.eval_every == 0 or done == cfg.steps:
            metrics = evaluate_lifter(deployed, eval_set, device)
            history["eval"].append({"step": done, **metrics})
            tqdm.write(f"step {done}: " + ", ".join(f"{k} {v:.1f}" for k, v in metrics.items()))
            plot_history(history, out_dir / "training_curves.png")
        if done % cfg.checkpoint_every == 0 or done == last_step:
            save_checkpoint(out_dir / "checkpoint.pt", checkpoint_state(done))

    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    if last_step < cfg.steps:
        print(f"stopped at step {last_step} of {cfg.steps}; continue with --resume {out_dir / 'checkpoint.pt'}")
        return history
    if cfg.export_onnx:
        from export.onnx_export import export_checkpoint  # late import: export is optional for training
        report = export_checkpoint(out_dir / "checkpoint.pt", out_dir / "repnet.onnx")
        print(report.table())
    return history


def batch_shares(mpii: float, given: float, has_projections: bool) -> tuple[float, float]:
    """Shares of a generator batch from MPII and from given 2D; projections fill the rest, or,
    where there are none, MPII and given 2D share the batch in proportion."""
    if mpii < 0 or given < 0 or mpii + given > 1:
        raise datasets.DataError(f"--mpii-fraction {mpii} and --given-2d-fraction {given} must be >= 0 and "
                                 f"add up to at most 1")
    if has_projections:
        return mpii, given
    if mpii + given == 0:
        raise datasets.DataError("the generator has no 2D poses: give --projection-subjects, --projection-3d, "
                                 "--given-2d or a positive --mpii-fraction")
    return mpii / (mpii + given), given / (mpii + given)


def reflected_in_depth(poses: torch.Tensor) -> torch.Tensor:
    """Canonical poses mirrored in depth without swapping left and right: what a depth-flipped
    lift looks like (the same 2D projection from the front, an impossible body)."""
    return poses * torch.tensor([1.0, 1.0, -1.0])


def with_mirrored_2d(keypoints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D poses [N,17,2] and their joint weights [N,17], followed by their mirror images (x negated,
    left and right swapped; normalization centres every pose, so no image width is needed)."""
    return (np.concatenate([keypoints, mirror(keypoints)]),
            np.concatenate([weights, weights[:, list(MIRROR_PERMUTATION)]]))


# Limbs a single-view lift can turn the wrong way in depth: (joint the limb hangs from, joints that move).
FLIPPABLE_LIMBS: tuple[tuple[int, tuple[int, ...]], ...] = tuple(
    (JOINT_INDEX[root], tuple(JOINT_INDEX[j] for j in moved)) for root, moved in (
        ("left_shoulder", ("left_elbow", "left_wrist")), ("right_shoulder", ("right_elbow", "right_wrist")),
        ("left_elbow", ("left_wrist",)), ("right_elbow", ("right_wrist",)),
        ("left_hip", ("left_knee", "left_ankle")), ("right_hip", ("right_knee", "right_ankle")),
        ("left_knee", ("left_ankle",)), ("right_knee", ("right_ankle",))))


def limb_flipped_in_depth(poses: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Canonical poses [B,17,3] with one random limb each mirrored in depth for a random training
    camera: the limb is reflected in the plane through the joint it hangs from, across the camera's
    viewing direction, so the view is unchanged and bone lengths are kept; only its depth is wrong."""
    out = poses.clone()
    depth_axes = torch.from_numpy(random_camera_rotations(len(poses), rng)[:, 2].astype(np.float32))  # [B, 3]
    for i, limb in enumerate(rng.integers(0, len(FLIPPABLE_LIMBS), len(poses))):
        root, moved = FLIPPABLE_LIMBS[limb]
        offset = out[i, list(moved)] - out[i, root]
        out[i, list(moved)] -= 2.0 * (offset @ depth_axes[i]).unsqueeze(-1) * depth_axes[i]
    return out


def describe_data(cfg: TrainConfig, shares: tuple[float, float]) -> dict:
    def listed(subjects: tuple, sources: tuple) -> list[str]:
        return ([f"CMU mocap subjects {', '.join(subjects)}"] if subjects else []) + list(sources)

    mpii, given = shares
    projected = listed(cfg.projection_subjects, cfg.projection_3d)
    generator = ([f"projections of {' + '.join(projected)} (random cameras, {cfg.noise_px} px noise, "
                  f"{1 - mpii - given:.0%})"] if projected else []) + ([f"MPII ({mpii:.0%})"] if mpii else []) \
        + ([f"{' + '.join(cfg.given_2d)} ({given:.0%})"] if given else [])
    return {"critic_3d": " + ".join(listed(cfg.critic_subjects, cfg.critic_3d)),
            "generator_2d": " + ".join(generator),
            "held_out": f"CMU subjects {', '.join(cfg.test_subjects)}"}


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
    except (CheckpointError, datasets.DataError) as err:
        raise SystemExit(f"error: {err}")
