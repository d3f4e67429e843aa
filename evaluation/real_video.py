"""Checks on real video, where no ground truth exists: is the 3D believable for a real person?

    python -m evaluation.real_video --model models/repnet.onnx [--model other.onnx] [--camera-lock off]

Every video and photo in the shared media folder goes through the app's own 2D stage (MediaPipe,
the H36M mapping, the occlusion rule and the One Euro filter: app.pipeline.PoseEstimator) once;
each lifter then lifts those keypoints as the app does, with the camera lock unless it is off.
Per clip:

  camera elevation / roll spread   standard deviation over the clip, degrees; every shared clip is
                                   filmed by a camera that does not move, so it should be ~0
  MediaPipe 3D distance            PA-MPJPE (12 limb joints, mm) to MediaPipe's own world landmarks
                                   (BlazePose GHUM, trained with 3D supervision): a reference, not
                                   the truth, but a lifter far from it is far from the person
  impossible joints                share of frames with a knee bending backwards or a knee or elbow
                                   folded flat (models.augment.joint_angles_valid)
  bone asymmetry                   mean |left - right| / mean over the four limb bones, %
  jitter                           mean joint acceleration, m/s^2, in the camera frame

and for the squat clip the 3D knee angles at the bottom of the squats and when she stands.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core import metrics
from models.augment import joint_angles_valid
from core.camera import camera_angles, rotation_from_camera
from core.skeleton import JOINT_INDEX, NUM_JOINTS

# Hips, knees, ankles, shoulders, elbows, wrists: the joints both MediaPipe and the lifter place
# from the body itself (pelvis, spine, neck and head top are derived differently by each).
LIMB_JOINTS: tuple[int, ...] = tuple(JOINT_INDEX[f"{side}_{j}"] for side in ("left", "right")
                                     for j in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"))
PAIRED_BONES = (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"))
VIDEO_SUFFIXES = (".mp4", ".gif", ".avi", ".mov", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SQUAT_CLIP = "pose_squats.mp4"


@dataclass
class Clip:
    """A clip's 2D as the app computes it, with MediaPipe's 3D beside it (frames with a person)."""
    name: str
    fps: float
    times: np.ndarray            # [F] seconds
    keypoints_2d: np.ndarray     # [F, 17, 2] pixels, after the occlusion rule and smoothing
    mediapipe_3d: np.ndarray     # [F, 17, 3] mm, MediaPipe's world landmarks mapped to H36M-17
    is_video: bool


def media_files(media_root: Path) -> list[Path]:
    """The videos and photos under the shared media folder, in a stable order."""
    return sorted(p for p in media_root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES)


def read_clip(path: Path) -> Clip:
    """Run the app's 2D stage over a video or a photo."""
    from app.capture import VideoSource
    from app.keypoints import PoseDetector
    from core.lifter import Lifter
    from app.mapping import mediapipe_to_h36m
    from app.pipeline import PoseEstimator

    is_video = path.suffix.lower() in VIDEO_SUFFIXES
    if is_video:  # the app's own reader: container timestamps, rotation metadata applied
        with VideoSource(path) as video:
            fps = video.fps
            frames = [(frame.time, frame.image) for frame in video]
    else:
        fps, frames = 1.0, [(0.0, cv2.imread(str(path)))]
    if not frames or frames[0][1] is None:
        raise ValueError(f"{path}: no frames could be read")
    estimator = PoseEstimator(Lifter(), PoseDetector())
    times, keypoints, world = [], [], []
    try:
        for index, (time_s, image) in enumerate(frames):
            found = estimator.detect(image)
            result = estimator.lift(found, index, time_s, image.shape[0])
            if not result.detected or found.world_landmarks is None:
                continue
            world_h36m, _ = mediapipe_to_h36m(found.world_landmarks, found.visibility)
            times.append(time_s)
            keypoints.append(result.keypoints_2d)
            world.append(world_h36m * 1000.0)
    finally:
        estimator.close()
    if not keypoints:
        raise ValueError(f"{path}: MediaPipe found nobody")
    return Clip(path.name, fps, np.asarray(times), np.stack(keypoints).astype(np.float64),
                np.stack(world).astype(np.float64), is_video)


def lift_clip(model: Path, clip: Clip, camera_lock: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(canonical poses [F,17,3] mm, cameras [F,2,3]) as the app lifts the clip's frames in order."""
    from app.camera_lock import CameraLock, lift_under_lock
    from core.lifter import Lifter

    lifter = Lifter(model)
    lock = CameraLock() if camera_lock and lifter.can_lift_under_camera and clip.is_video else None
    poses, cameras = [], []
    for t, keypoints in zip(clip.times, clip.keypoints_2d):
        lifted = lift_under_lock(lifter, lock, keypoints, float(t))
        poses.append(lifted.pose_3d[0])
        cameras.append(lifted.camera[0])
    return np.stack(poses).astype(np.float64), np.stack(cameras).astype(np.float64)


def knee_angles(poses: np.ndarray) -> np.ndarray:
    """[F, 2] degrees between thigh and shin (180 straight) for the right and left knee."""
    out = []
    for side in ("right", "left"):
        hip, knee, ankle = (poses[:, JOINT_INDEX[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
        a, b = hip - knee, ankle - knee
        cos = (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-9)
        out.append(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return np.stack(out, axis=1)


def squat_phases(keypoints_2d: np.ndarray, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Frames at the bottom of the squats and standing, from the 2D alone: the pelvis lowest and
    highest in the image (the top and bottom `share` of its range), as a person would pick them."""
    height = keypoints_2d[:, JOINT_INDEX["pelvis"], 1]
    low, high = height.min(), height.max()
    return height >= high - share * (high - low), height <= low + share * (high - low)


def bone_asymmetry(poses: np.ndarray) -> float:
    """Mean |left - right| / their mean over thigh, shin, upper arm and forearm, percent."""
    ratios = []
    for parent, child in PAIRED_BONES:
        lengths = [np.linalg.norm(poses[:, JOINT_INDEX[f"{s}_{child}"]] - poses[:, JOINT_INDEX[f"{s}_{parent}"]],
                                  axis=-1) for s in ("left", "right")]
        ratios.append(np.abs(lengths[0] - lengths[1]) / np.maximum((lengths[0] + lengths[1]) / 2, 1e-9))
    return float(np.mean(ratios) * 100)


def check_clip(model: Path, clip: Clip, camera_lock: bool = True) -> dict:
    """The checks of the module docstring for one lifter on one clip."""
    poses, cameras = lift_clip(model, clip, camera_lock)
    limbs = np.zeros((len(poses), NUM_JOINTS))
    limbs[:, list(LIMB_JOINTS)] = 1.0
    distance = metrics.mean_error(metrics.pa_mpjpe_errors(poses, clip.mediapipe_3d, limbs), limbs)
    report = {"clip": clip.name, "frames": int(len(poses)), "mediapipe_pa_mm": float(distance),
              "impossible_joints_pct": float(100 * (1 - joint_angles_valid(poses).mean())),
              "bone_asymmetry_pct": bone_asymmetry(poses)}
    if clip.is_video and len(poses) >= 3:
        angles = np.degrees(camera_angles(cameras))
        R, _ = rotation_from_camera(cameras)
        in_camera = np.einsum("nij,nkj->nki", R, poses) / 1000.0
        acceleration = np.diff(in_camera, n=2, axis=0) * clip.fps ** 2
        report.update({"elevation_std_deg": float(angles[:, 0].std()), "roll_std_deg": float(angles[:, 1].std()),
                       "elevation_range_deg": float(np.ptp(angles[:, 0])),
                       "elevation_median_deg": float(np.median(angles[:, 0])),
                       "jitter_m_s2": float(np.linalg.norm(acceleration, axis=-1).mean())})
    if clip.name == SQUAT_CLIP:
        bottom, standing = squat_phases(clip.keypoints_2d)
        knees = knee_angles(poses)
        report.update({"knee_bottom_deg": [float(np.median(knees[bottom, k])) for k in range(2)],
                       "knee_bottom_max_deg": float(knees[bottom].max()),
                       "knee_standing_deg": [float(np.median(knees[standing, k])) for k in range(2)],
                       "knee_standing_min_deg": float(knees[standing].min())})
    return report


def summarize(reports: list[dict]) -> dict:
    """Means over the clips (and over the videos for the camera and jitter figures)."""
    videos = [r for r in reports if "elevation_std_deg" in r]
    mean = lambda key, rows: float(np.mean([r[key] for r in rows])) if rows else float("nan")  # noqa: E731
    return {"mediapipe_pa_mm": mean("mediapipe_pa_mm", reports),
            "impossible_joints_pct": mean("impossible_joints_pct", reports),
            "bone_asymmetry_pct": mean("bone_asymmetry_pct", reports),
            "elevation_std_deg": mean("elevation_std_deg", videos), "roll_std_deg": mean("roll_std_deg", videos),
            "jitter_m_s2": mean("jitter_m_s2", videos)}


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: one row per model and clip."""
    lines = ["| model | clip | frames | MediaPipe 3D distance (mm) | elevation std / range (deg) | roll std (deg) "
             "| impossible joints | bone asymmetry | jitter (m/s^2) | knees bottom / standing (deg) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model, reports in results.items():
        for r in reports:
            camera = (f"{r['elevation_std_deg']:.1f} / {r['elevation_range_deg']:.0f}" if "elevation_std_deg" in r
                      else "photo")
            roll = f"{r['roll_std_deg']:.1f}" if "roll_std_deg" in r else ""
            jitter = f"{r['jitter_m_s2']:.2f}" if "jitter_m_s2" in r else ""
            knees = (f"{r['knee_bottom_max_deg']:.0f} max / {r['knee_standing_min_deg']:.0f} min"
                     if "knee_bottom_max_deg" in r else "")
            lines.append(f"| {model} | {r['clip']} | {r['frames']} | {r['mediapipe_pa_mm']:.1f} | {camera} | {roll} "
                         f"| {r['impossible_joints_pct']:.1f}% | {r['bone_asymmetry_pct']:.1f}% | {jitter} | {knees} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from models.data import default_data_root
    parser = argparse.ArgumentParser(prog="python -m evaluation.real_video", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="an ONNX lifter (repeatable)")
    parser.add_argument("--media", type=Path, default=None, help="folder of videos and photos "
                        "(default: the data root's media/)")
    parser.add_argument("--camera-lock", choices=("auto", "off"), default="auto")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    media = args.media or default_data_root() / "media"
    files = media_files(media) if media.is_dir() else []
    if not files:
        print(f"error: no videos or photos under {media} (pass --media or set REPNET_DATA)", file=sys.stderr)
        return 2
    for model in args.model:
        if not model.is_file():
            print(f"error: model not found: {model}", file=sys.stderr)
            return 2
    clips = [read_clip(path) for path in files]
    results = {str(m): [check_clip(m, clip, args.camera_lock == "auto") for clip in clips] for m in args.model}
    print(table(results))
    for model, reports in results.items():
        print(f"{model}: " + ", ".join(f"{k} {v:.2f}" for k, v in summarize(reports).items()))
    if args.json:
        args.json.write_text(json.dumps({"camera_lock": args.camera_lock, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
