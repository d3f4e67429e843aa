"""Evaluate a RepNet lifter on held-out poses with the field's metrics.

The 3D prediction lives in the canonical frame; the estimated camera rotates it into camera
coordinates, where it is compared with the ground truth (root-relative), as in the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models import datasets, metrics
from models.camera import rotation_from_camera
from models.repnet import MM_PER_METRE, PoseAndCamera, normalize_2d


@dataclass
class EvalSet:
    keypoints_2d: np.ndarray    # [N, 17, 2] pixels
    poses_camera: np.ndarray    # [N, 17, 3] mm, root-relative, camera frame
    weights: np.ndarray         # [N, 17] 1 where the 2D joint is present


def make_eval_set(poses_world: np.ndarray, n_frames: int, noise_px: float, seed: int) -> EvalSet:
    """Project held-out world poses through fixed random cameras with detector-like noise."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(poses_world), size=min(n_frames, len(poses_world)), replace=False))
    projected = datasets.project_random_cameras(poses_world[idx], rng, noise_px=noise_px)
    return EvalSet(projected.keypoints_2d, projected.poses_camera, projected.weights)


@torch.no_grad()
def predict_camera_frame(generator: PoseAndCamera, keypoints_2d: np.ndarray, device: torch.device | str = "cpu",
                         batch_size: int = 4096) -> np.ndarray:
    """Lift pixels [N,17,2] and rotate the canonical prediction into camera coordinates (mm)."""
    generator.eval()
    out = []
    for start in range(0, len(keypoints_2d), batch_size):
        kp = torch.from_numpy(np.ascontiguousarray(keypoints_2d[start:start + batch_size], dtype=np.float32))
        normalized, _, _ = normalize_2d(kp.to(device))
        pose, camera = generator(normalized)
        R, _ = rotation_from_camera(camera.cpu().numpy())
        out.append(np.einsum("nij,nkj->nki", R, pose.cpu().numpy().astype(np.float64) * MM_PER_METRE))
    generator.train()
    return np.concatenate(out)


def evaluate_lifter(generator: PoseAndCamera, eval_set: EvalSet, device: torch.device | str = "cpu") -> dict:
    """MPJPE (camera frame, root-relative), PA-MPJPE and PCK@150mm, in mm / %."""
    pred = predict_camera_frame(generator, eval_set.keypoints_2d, device)
    gt = eval_set.poses_camera
    errors = metrics.mpjpe_errors(pred, gt)
    return {"mpjpe": float(metrics.mean_error(errors)),
            "pa_mpjpe": float(metrics.pa_mpjpe(pred, gt)),
            "pck150": float(metrics.pck(errors, threshold=150.0))}
