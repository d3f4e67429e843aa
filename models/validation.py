"""Held-out validation during training: held-out world poses seen through fixed random cameras
with the detector-like 2D noise (models.data.projection), lifted into the camera frame and scored.

models.train and models.baseline report these figures as they train (history, curves). The
command-line evaluation on the field's protocols (evaluation.held_out) lifts checkpoints with the
same predict_camera_frame, so a checkpoint is lifted one way wherever it is scored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core import metrics
from core.camera import rotation_from_camera
from core.skeleton import MM_PER_METRE
from models.data import projection
from models.data.projection import DETECTOR_LIKE
from models.repnet import PoseAndCamera, lift, normalize_2d

BATCH = 4096


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
