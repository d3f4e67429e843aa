"""Regenerate docs/images/viewer.png: a real photo or video through MediaPipe, the H36M-17 mapping
and the shipped lifter, drawn as the annotated video draws it (2D overlay beside the rendered 3D view);
or, with --screen, docs/images/screen.png: the screen as the live demo shows it (both windows tiled).

    python docs/make_screenshot.py [--image PATH] [--model models/repnet.onnx] [--output PATH] [--height 480]
    python docs/make_screenshot.py --video pose_squats.mp4 --frames 0 10   # frames side by side, as the app
                                                                            # lifts them (camera lock included)
    xvfb-run -a -s "-screen 0 1600x900x24" python docs/make_screenshot.py --screen --video pose_squats.mp4 \
        --frames 40 --output docs/images/screen.png    # the video played in the viewer up to frame 40
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from app.draw import draw_annotated
from app.viewer import Viewer

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_IMAGE = (Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data"))
                 / "media" / "tfjs_models_pose_detection" / "pose.jpg")


def fit_height(image_bgr: np.ndarray, height: int) -> np.ndarray:
    width = round(image_bgr.shape[1] * height / image_bgr.shape[0])
    return cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA)


def screenshot(image_bgr: np.ndarray, keypoints_2d: np.ndarray, visibility: np.ndarray,
               pose_3d: np.ndarray, camera: np.ndarray, joints_world: np.ndarray | None = None,
               camera_pose: np.ndarray | None = None) -> np.ndarray:
    """The 2D overlay beside the default 3D view (4:3, the photo's height), BGR; the person in the
    room where world space placed them (a video), else stood in front of the camera (a photo)."""
    height = image_bgr.shape[0]
    with Viewer(width=round(height * 4 / 3), height=height, visible=False) as viewer:
        viewer.update(image_bgr, keypoints_2d, visibility, pose_3d, camera, fps=0.0,
                      joints_world=joints_world, camera_pose=camera_pose)
        return draw_annotated(image_bgr, keypoints_2d, visibility, viewer.render_3d())


def screen(lifter, video: Path, last_frame: int) -> np.ndarray:
    """The X screen's picture of the two tiled windows after playing `video` up to `last_frame`
    in the viewer as the demo does (status line included), BGR, cut to the windows."""
    import time
    from app.capture import VideoSource
    from app.display import grab_screen
    from app.estimator import PoseEstimator
    from app.keypoints import PoseDetector
    if not os.environ.get("DISPLAY"):
        sys.exit("--screen needs a display: run it under xvfb-run -a -s \"-screen 0 1600x900x24\"")
    estimator = PoseEstimator(lifter, PoseDetector())
    try:
        with VideoSource(video) as source, Viewer(visible=True, frame_size=source.size) as viewer:
            for frame in source:
                r = estimator.estimate(frame.image, frame.index, frame.time)
                viewer.update(frame.image, r.keypoints_2d, r.visibility, r.pose_3d, r.camera, source.fps,
                              estimator.status() or "camera lock off", joints_world=r.joints_world,
                              camera_pose=r.camera_pose, latency_ms=None, time_s=frame.time)
                if frame.index >= last_frame:
                    break
            for _ in range(5):  # Qt and GLFW paint on the next turns of their event loops
                viewer.hold()
                time.sleep(0.02)
            x, y, width, height = viewer.panel_rect
            view = viewer.render_3d()
            shot = grab_screen()
    finally:
        estimator.close()
    return shot[: max(y + height, view.shape[0]), : x + width + view.shape[1]]


def video_frames(lifter, video: Path, frames: list[int], height: int) -> list[np.ndarray]:
    """Screenshots of the given frames, every frame before them lifted in order as the app does."""
    from app.keypoints import PoseDetector
    from app.estimator import PoseEstimator
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    estimator = PoseEstimator(lifter, PoseDetector())
    pictures = []
    try:
        for index in range(frames[-1] + 1):
            ok, image = capture.read()
            if not ok:
                sys.exit(f"{video} has only {index} frames")
            image = fit_height(image, height)
            result = estimator.estimate(image, index, index / fps)
            if index in frames:
                if result.pose_3d is None:
                    sys.exit(f"no lifted person in frame {index} of {video}")
                pictures.append(screenshot(image, result.keypoints_2d, result.visibility, result.pose_3d,
                                           result.camera, result.joints_world, result.camera_pose))
    finally:
        estimator.close()
        capture.release()
    return pictures


def main() -> None:
    from app.keypoints import PoseDetector
    from core.lifter import DEFAULT_MODEL_PATH, Lifter
    from core.contract import ModelContractError
    from app.mapping import mediapipe_to_h36m

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "docs" / "images" / "viewer.png")
    parser.add_argument("--height", type=int, default=480, help="height of the picture in pixels")
    parser.add_argument("--video", type=Path, help="draw frames of this video instead of --image")
    parser.add_argument("--frames", type=int, nargs="+", default=[0], help="with --video: the frames to draw")
    parser.add_argument("--screen", action="store_true",
                        help="with --video: the whole screen of the live demo at the last of --frames")
    args = parser.parse_args()
    try:
        lifter = Lifter(args.model)
    except ModelContractError as error:
        sys.exit(str(error))
    if args.screen:
        if not args.video:
            sys.exit("--screen needs --video")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.output), screen(lifter, args.video, max(args.frames)))
        print(f"wrote {args.output}")
        return
    if args.video:
        pictures = video_frames(lifter, args.video, sorted(args.frames), args.height)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.output), np.concatenate(pictures, axis=1))
        print(f"wrote {args.output}")
        return
    image = cv2.imread(str(args.image))
    if image is None:
        sys.exit(f"cannot read {args.image}")
    image = fit_height(image, args.height)
    with PoseDetector() as detector:
        found = detector.detect(image)
    if found is None:
        sys.exit(f"MediaPipe found nobody in {args.image}")
    keypoints, visibility = mediapipe_to_h36m(found.landmarks, found.visibility)
    lifted = lifter.lift(keypoints)
    if not lifted.valid[0]:
        sys.exit("the lifter rejected the keypoints")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), screenshot(image, keypoints, visibility, lifted.pose_3d[0], lifted.camera[0]))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
