"""Latency from a frame's capture to its 3D pose on screen, with the viewer (figures in docs/viewer.md).

    python benchmarks/bench_latency.py                         # starts xvfb-run itself where there is no DISPLAY
    python benchmarks/bench_latency.py --video pose_squats.mp4 --fps 30 --seconds 20

What a person in front of a webcam feels. A webcam stand-in (PacedVideo: the frames of a video
file delivered at --fps in real time, read() blocking until the next one is due, as a camera's
does) feeds app.capture.CameraSource, which keeps only the newest frame; app.pipeline.run runs
MediaPipe, the lifter, world space and the viewer (the 3D window and the 2D window with its
status line, tiled on the screen at the video's size) and records for every frame drawn the time
from the camera's read to the viewer's update() returning with it on screen
(RunSummary.latency_ms). Printed: p50, p95 and max latency; frames processed and drawn per
second; and MediaPipe's own time per frame on the same frames, alone, for the issue's target
(p95 at most twice that).

A second run plays the file as fast as it goes (VideoSource, every frame in order): there the
read-ahead and the queues between the stages fill up, so the latency includes waiting that buys
throughput; it is printed for comparison, not as what a person at a camera feels.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data")) / "media" / "tfjs_models_pose_detection"


class PacedVideo:
    """A webcam stand-in for app.capture.CameraSource: a video file's frames, looped, delivered
    at `fps` in real time (a late reader gets the next frame at once, never a burst of old ones)."""

    def __init__(self, path: Path, fps: float):
        from app.capture import read_frames
        self._frames = read_frames(path)
        if not self._frames:
            sys.exit(f"cannot read {path}")
        self.fps, self.delivered = fps, 0
        self._next_due = time.monotonic()

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        return False

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_due = max(self._next_due + 1.0 / self.fps, time.monotonic())
        image = self._frames[self.delivered % len(self._frames)].copy()
        self.delivered += 1
        return True, image

    def release(self) -> None:
        pass


def mediapipe_ms(path: Path, frames: int) -> float:
    """Median milliseconds of MediaPipe Pose (PoseDetector's settings) per frame, alone."""
    from app.keypoints import PoseDetector
    capture = cv2.VideoCapture(str(path))
    images = []
    while len(images) < frames:
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        images.append(image)
    capture.release()
    times = []
    with PoseDetector() as detector:
        detector.detect(images[0])  # graph start-up
        for image in images:
            start = time.perf_counter()
            detector.detect(image)
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def measure(source, frame_size: tuple[int, int], model: Path, max_frames: int):
    from app.estimator import PoseEstimator
    from app.keypoints import PoseDetector
    from app.pipeline import run
    from app.viewer import Viewer
    from core.lifter import Lifter
    estimator = PoseEstimator(Lifter(model), PoseDetector())
    try:
        with Viewer(visible=True, frame_size=frame_size) as viewer:
            summary = run(source, estimator, viewer=viewer, max_frames=max_frames, progress=False)
    finally:
        estimator.close()
    return summary


def report(name: str, summary, mp_ms: float) -> None:
    latency = np.asarray(summary.latency_ms[10:])  # the first frames include the windows' first paint
    p50, p95 = np.percentile(latency, [50, 95])
    print(f"{name}: {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} FPS processed, "
          f"{summary.drawn / summary.seconds:.1f} FPS drawn)")
    print(f"  capture to display: p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {latency.max():.1f} ms over "
          f"{len(latency)} frames drawn; p95 = {p95 / mp_ms:.2f} x MediaPipe's own {mp_ms:.1f} ms (target <= 2)")
    print("  stage ms/frame: " + "  ".join(f"{k} {v:.2f}" for k, v in summary.stage_ms.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default="pose_1.mp4", help="a file in the media folder")
    parser.add_argument("--fps", type=float, default=30.0, help="the webcam stand-in's frame rate")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the camera run")
    parser.add_argument("--frames", type=int, default=300, help="frames of the as-fast-as-it-goes file run")
    parser.add_argument("--model", type=Path, default=None, help="the ONNX lifter (default: the shipped one)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        if shutil.which("xvfb-run") is None:
            sys.exit("no DISPLAY and no xvfb-run: the latency is measured with the viewer's windows")
        sys.exit(subprocess.call(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, *sys.argv]))
    from app.capture import CameraSource, VideoSource
    from core.lifter import DEFAULT_MODEL_PATH
    model = args.model or DEFAULT_MODEL_PATH
    path = MEDIA / args.video
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs; DISPLAY={os.environ['DISPLAY']}; {path.name}; load average {load:.2f}")
    mp_ms = mediapipe_ms(path, 150)
    print(f"MediaPipe alone: {mp_ms:.1f} ms per frame (median of 150)")
    camera = CameraSource(0, capture=PacedVideo(path, args.fps))
    try:
        summary = measure(camera, camera.size, model, int(args.seconds * args.fps))
    finally:
        camera.close()
    report(f"webcam stand-in at {args.fps:g} FPS", summary, mp_ms)
    with VideoSource(path) as video:
        summary = measure(video, video.size, model, args.frames)
    report("the file as fast as it goes", summary, mp_ms)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
