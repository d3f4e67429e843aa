"""Frame rate of the whole pipeline against MediaPipe alone, per-stage times, and a long run.

    python benchmarks/bench_pipeline.py                 # both test videos, 300 frames each
    python benchmarks/bench_pipeline.py --long 10000    # 10,000 frames headless: memory and time per frame

For each video (looped by decoding the file again, so every frame is really decoded) it measures:
1. MediaPipe alone: Pose.process on frames decoded beforehand and already RGB, one after the
   other: the ceiling the pipeline is compared with;
2. the pipeline headless: app.pipeline.run with a .json results writer, as `--no-viewer --output`;
3. the pipeline with the Open3D viewer and its 2D window (under Xvfb; started here with xvfb-run
   when there is no DISPLAY).
Targets (issue 2): lifter < 1 ms/frame, own overhead (everything but MediaPipe) < 3 ms/frame,
headless >= 90% and with the viewer >= 75% of MediaPipe alone.

The long run samples the process's resident memory and the time per frame every 500 frames.
Figures are in docs/pipeline.md. The machine is shared: the 1-minute load average is printed so
that a figure taken beside other work can be recognised.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.capture import Frame, VideoSource, read_frames
from app.estimator import PoseEstimator
from app.keypoints import PoseDetector
from app.pipeline import run
from app.results_writer import ResultsWriter
from core.lifter import DEFAULT_MODEL_PATH, Lifter

REPO_ROOT = Path(__file__).resolve().parents[1]

MEDIA = Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data")) / "media" / "tfjs_models_pose_detection"
VIDEOS = ("pose_squats.mp4", "pose_1.mp4")


class LoopedVideo:
    """A real video file decoded again and again until `frames` frames (time keeps increasing)."""

    def __init__(self, path: Path, frames: int):
        self.path, self.frame_count = path, frames
        self.read_seconds, self.frames_read, self.problem = 0.0, 0, None
        with VideoSource(path) as probe:
            self.fps = probe.fps

    def __iter__(self):
        n, offset = 0, 0.0
        while n < self.frame_count:
            with VideoSource(self.path) as video:
                for frame in video:
                    yield Frame(n, offset + frame.time, frame.image, frame.rgb)
                    n += 1
                    if n >= self.frame_count:
                        break
            self.read_seconds += video.read_seconds
            self.frames_read += video.frames_read
            offset += video.frames_read / self.fps


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_seconds() -> float:
    """CPU time of this process, all threads: unlike wall time it hardly depends on other load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mediapipe_alone(path: Path, frames: int) -> dict:
    """FPS of MediaPipe Pose (same settings as PoseDetector) on pre-decoded RGB frames."""
    import mediapipe as mp
    rgb = [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in read_frames(path)]
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False) as pose:
        pose.process(rgb[0])  # graph start-up
        start, cpu = time.perf_counter(), cpu_seconds()
        for i in range(frames):
            pose.process(rgb[i % len(rgb)])
        return {"fps": frames / (time.perf_counter() - start), "cpu_ms": 1000 * (cpu_seconds() - cpu) / frames}


def pipeline(path: Path, frames: int, model: Path, with_viewer: bool) -> dict:
    estimator = PoseEstimator(Lifter(model), PoseDetector())
    viewer = None
    if with_viewer:
        from app.viewer import Viewer
        viewer = Viewer(visible=True)
    try:
        with tempfile.TemporaryDirectory() as folder, ResultsWriter(Path(folder) / "bench.json") as results:
            cpu = cpu_seconds()
            summary = run(LoopedVideo(path, frames), estimator, results=results, viewer=viewer, progress=False)
            cpu = cpu_seconds() - cpu
    finally:
        estimator.close()
        if viewer is not None:
            viewer.close()
    return {"fps": summary.fps, "drawn_fps": summary.drawn / summary.seconds, "stage_ms": summary.stage_ms,
            "stage_cpu_ms": summary.stage_cpu_ms,
            "cpu_ms": 1000 * cpu / summary.frames}


def viewer_under_xvfb(video: str, frames: int, model: Path) -> dict | None:
    """The viewer measurement in a child process under xvfb-run (when this one has no DISPLAY)."""
    if shutil.which("xvfb-run") is None:
        print("  (no DISPLAY and no xvfb-run: viewer figure skipped)")
        return None
    child = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", sys.executable, __file__, "--viewer-only",
         "--videos", video, "--frames", str(frames), "--model", str(model)],
        capture_output=True, text=True)
    for line in child.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    print(f"  viewer run failed: {child.stderr.strip().splitlines()[-1:]}")
    return None


def stage_line(stage_ms: dict) -> str:
    return "  ".join(f"{k} {v:.2f}" for k, v in stage_ms.items())


def fps_list(runs: list[dict]) -> str:
    return " ".join(f"{r['fps']:.1f}" for r in runs)


def best(runs: list[dict]) -> dict:
    """Other work on a shared machine only ever slows a run down: the fastest run is the fairest."""
    return max(runs, key=lambda r: r["fps"])


def compare(args) -> None:
    for name in args.videos:
        path = MEDIA / name
        with VideoSource(path) as probe:
            size, count = probe.size, probe.frame_count
        print(f"\n{name}: {size[0]}x{size[1]}, {count} frames in the file, looped to {args.frames}; "
              f"best of {args.repeats} interleaved runs")
        alone, headless, shown, loads = [], [], [], [load_average()]
        for _ in range(args.repeats):
            alone.append(mediapipe_alone(path, args.frames))
            headless.append(pipeline(path, args.frames, args.model, with_viewer=False))
            if not args.no_viewer:
                run_shown = (pipeline(path, args.frames, args.model, with_viewer=True) if os.environ.get("DISPLAY")
                             else viewer_under_xvfb(name, args.frames, args.model))
                if run_shown is not None:
                    shown.append(run_shown)
            loads.append(load_average())
        print(f"  1-minute load average during the runs: {min(loads):.2f} to {max(loads):.2f}")
        mp_fps = best(alone)["fps"]
        print(f"  MediaPipe alone            {mp_fps:6.1f} FPS  ({1000 / mp_fps:.2f} ms/frame, "
              f"CPU {best(alone)['cpu_ms']:.1f} ms/frame)   all runs: {fps_list(alone)}")
        h = best(headless)
        print(f"  pipeline headless          {h['fps']:6.1f} FPS  = {100 * h['fps'] / mp_fps:5.1f}% of MediaPipe alone "
              f"(target >= 90%), CPU {h['cpu_ms']:.1f} ms/frame   all runs: {fps_list(headless)}")
        print(f"    stage ms/frame, wall: {stage_line(h['stage_ms'])}")
        print(f"    stage ms/frame, CPU of the stage's thread: {stage_line(h['stage_cpu_ms'])}")
        off_thread = sum(v for k, v in h["stage_ms"].items() if k not in ("mediapipe", "capture"))
        print(f"    lifter {h['stage_cpu_ms'].get('lifter', float('nan')):.2f} ms/frame of CPU (target < 1), "
              f"{h['stage_ms'].get('lifter', float('nan')):.2f} ms wall (with waiting for a core); own overhead: "
              f"{1000 / h['fps'] - 1000 / mp_fps:.2f} ms/frame of wall time (target < 3); "
              f"mapping+occlusion+smoothing+lifter+writing {off_thread:.2f} ms/frame of work, "
              f"decoding {h['stage_ms'].get('capture', float('nan')):.2f}, both beside MediaPipe's thread")
        if shown:
            v = best(shown)
            print(f"  pipeline with viewer       {v['fps']:6.1f} FPS  = {100 * v['fps'] / mp_fps:5.1f}% of MediaPipe alone "
                  f"(target >= 75%), {v['drawn_fps']:.1f} FPS drawn, CPU {v['cpu_ms']:.1f} ms/frame "
                  f"(without the X server's)   all runs: "
                  f"{fps_list(shown)}")
            print(f"    stage ms/frame, wall: {stage_line(v['stage_ms'])}")
            print(f"    stage ms/frame, CPU of the stage's thread: {stage_line(v['stage_cpu_ms'])}")


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def long_run(args) -> None:
    path = MEDIA / "pose_1.mp4"
    samples = []
    start = [time.monotonic(), 0]

    def sample(result) -> None:
        if (result.index + 1) % 500 == 0:
            now = time.monotonic()
            per_frame = 1000 * (now - start[0]) / (result.index + 1 - start[1])
            samples.append((result.index + 1, resident_mb(), per_frame))
            print(f"  frame {result.index + 1:6d}  RSS {samples[-1][1]:7.1f} MB  {per_frame:6.2f} ms/frame "
                  f"(last 500)  load {load_average():.2f}", flush=True)
            start[0], start[1] = now, result.index + 1

    estimator = PoseEstimator(Lifter(args.model), PoseDetector())
    print(f"long run: {path.name} looped to {args.long} frames, headless, results to .json")
    with tempfile.TemporaryDirectory() as folder:
        with ResultsWriter(Path(folder) / "long.json") as results:
            summary = run(LoopedVideo(path, args.long), estimator, results=results, progress=False, on_result=sample)
        size = (Path(folder) / "long.json").stat().st_size / 1e6
    estimator.close()
    rss = [s[1] for s in samples]
    times = [s[2] for s in samples]
    print(f"{summary.frames} frames in {summary.seconds:.0f} s ({summary.fps:.1f} FPS); results file {size:.1f} MB")
    print(f"RSS: first sample {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, max {max(rss):.1f} MB")
    print(f"ms/frame: first 2000 frames {np.mean(times[:4]):.2f}, last 2000 {np.mean(times[-4:]):.2f}")
    print(f"stage ms/frame: {stage_line(summary.stage_ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300, help="frames per measurement")
    parser.add_argument("--videos", nargs="+", default=list(VIDEOS), help="file names in the media folder")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per measurement (the best counts)")
    parser.add_argument("--no-viewer", action="store_true", help="skip the viewer measurement")
    parser.add_argument("--long", type=int, metavar="N", help="instead: one headless run of N frames")
    parser.add_argument("--viewer-only", action="store_true", help=argparse.SUPPRESS)  # the xvfb-run child
    args = parser.parse_args()
    if args.viewer_only:
        print(json.dumps(pipeline(MEDIA / args.videos[0], args.frames, args.model, with_viewer=True)))
        return
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}; model {args.model}")
    if args.long:
        long_run(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
