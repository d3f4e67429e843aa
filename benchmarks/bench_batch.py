"""Batches on every core (app/batch.py) against MediaPipe alone on one stream.

    python benchmarks/bench_batch.py                        # a folder of videos, and one long video
    python benchmarks/bench_batch.py --seams --long-frames 600 --chunks 4   # how frames near a seam differ
    python benchmarks/bench_batch.py --ray                  # the same work on a local Ray instance

1. A folder of videos: `--copies` copies of each shared test video (pose_1.mp4 and pose_squats.mp4),
   written to a temporary folder, through run_batch with one worker per core. Total frames per
   second, wall clock from the call to the last results file (worker start-up included).
2. One long video: the squat clip repeated to `--long-frames` frames (a temporary file), split into
   chunks by run_batch (auto: one per worker).
Both against MediaPipe alone on one stream of the same videos (bench_pipeline.mediapipe_alone:
pre-decoded RGB frames, one after the other). Targets (issue 16): 1.7x and 1.6x on 2 cores.

--ray runs the same folder and long video through local worker processes and through Ray tasks
on a local Ray instance with as many CPUs as workers (started before the clock starts), and prints
the ratio (target, issue 16: Ray within 20% of the local processes).

--seams also runs the long video sequentially (one worker, one chunk) and prints how far the
chunked results are from it, by distance from the nearest seam. The 1-minute load average is
printed: on a machine busy with other work the ratios are lower than on an idle one.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from app.batch import run_batch
from app.batch_plan import WARMUP_S, BatchSettings, default_workers, expand_videos, split_frames
from app.capture import read_frames
from app.results import read_results
from bench_pipeline import MEDIA, mediapipe_alone  # beside this file: the script's folder is on sys.path

REPO_ROOT = Path(__file__).resolve().parents[1]

BASELINE_FRAMES = 200


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def repeated_video(source: Path, frames: int, out: Path) -> Path:
    """`source` played again and again up to `frames` frames, at its frame rate (mp4v)."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    images = read_frames(source)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (images[0].shape[1], images[0].shape[0]))
    for i in range(frames):
        writer.write(images[i % len(images)])
    writer.release()
    return out


def baseline_fps(videos: list[Path]) -> float:
    """MediaPipe alone on one stream of these videos, weighted by their frame counts."""
    speeds = {}
    for video in videos:
        key = video.name.split("_copy")[0]
        if key not in speeds:
            speeds[key] = mediapipe_alone(video, BASELINE_FRAMES)["fps"]
    counts = [(frame_count(v), speeds[v.name.split("_copy")[0]]) for v in videos]
    return sum(n for n, _ in counts) / sum(n / fps for n, fps in counts)


def batch_fps(videos: list[Path], out: Path, workers: int, chunks: int | None = None) -> tuple[float, object]:
    summary = run_batch(videos, BatchSettings(output_dir=out, workers=workers, chunks=chunks, fmt="npz",
                                              progress=False))
    failed = [o for o in summary.outcomes if o.status != "done"]
    if failed:
        raise SystemExit(f"bench_batch: {failed[0].video} {failed[0].status}: {failed[0].message}")
    return summary.fps, summary


def seams_report(long_video: Path, chunked: Path, sequential: Path, frames: int, chunks: int, fps: float) -> None:
    par, seq = read_results(chunked), read_results(sequential)
    assert par["index"].tolist() == seq["index"].tolist() == list(range(len(seq["index"])))
    seams = np.array([keep for _, keep, _ in split_frames(frames, chunks, 0)][1:])
    # frames since the last seam passed (inf before the first one: the first chunk is the sequential run)
    distance = np.array([i - seams[seams <= i].max() if (seams <= i).any() else np.inf for i in range(frames)])
    pose = np.linalg.norm(par["pose_3d"] - seq["pose_3d"], axis=-1).mean(-1)
    pixels = np.linalg.norm(par["keypoints_2d"] - seq["keypoints_2d"], axis=-1).mean(-1)
    root = np.linalg.norm(par["root_world"] - seq["root_world"], axis=-1)
    print(f"  seams at frames {seams.tolist()} ({fps:g} fps, {WARMUP_S:g} s warm-up); "
          "chunked minus sequential, mean (max) per frame:")
    for low, high in [(0, 1), (1, 5), (5, 15), (15, 50), (50, 150), (150, np.inf), (np.inf, None)]:
        mask = distance == np.inf if high is None else (distance >= low) & (distance < high)
        if not mask.any():
            continue
        label = ("before the first seam" if high is None else
                 f"{low:g}-{high - 1:g} after a seam" if high < np.inf else f">= {low:g} after a seam")
        print(f"    {label:>22} ({mask.sum():4d} frames): "
              f"pose_3d {np.nanmean(pose[mask]):6.2f} ({np.nanmax(pose[mask]):6.2f}) mm, "
              f"keypoints_2d {np.nanmean(pixels[mask]):5.2f} ({np.nanmax(pixels[mask]):5.2f}) px, "
              f"root_world {100 * np.nanmean(root[mask]):5.2f} ({100 * np.nanmax(root[mask]):5.2f}) cm")
    # A jump: the step from the frame before a seam to the seam's frame, against the same step in
    # the sequential run (what a viewer of the joined sequence would see).
    for name, unit, scale in (("pose_3d", "mm", 1.0), ("root_world", "cm", 100.0)):
        steps = [(np.nanmean(np.linalg.norm(par[name][s] - par[name][s - 1], axis=-1)) * scale,
                  np.nanmean(np.linalg.norm(seq[name][s] - seq[name][s - 1], axis=-1)) * scale) for s in seams]
        print(f"    step into each seam's frame, {name}: " + ", ".join(f"{a:.1f} (sequential {b:.1f})" for a, b in steps)
              + f" {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each shared video in the folder (default 4)")
    parser.add_argument("--long-frames", type=int, default=3000, help="length of the long video (default 3000)")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--chunks", type=int, default=None, help="chunks of the long video (default: auto)")
    parser.add_argument("--seams", action="store_true", help="only the long video, against a sequential run")
    parser.add_argument("--ray", action="store_true", help="local worker processes against Ray tasks, same work")
    args = parser.parse_args()
    from app.native_logs import NativeLogFilter  # MediaPipe's C++ log lines, from every worker, off the terminal
    with NativeLogFilter():
        measure_ray(args) if args.ray else measure(args)


def measure_ray(args: argparse.Namespace) -> None:
    """The folder and the long video, each through local processes and through Ray (same workers, same
    chunks, same outputs); Ray's start-up is outside the clock, its first tasks' imports inside."""
    from app.ray_batch import import_ray, runtime_env
    ray = import_ray()
    print(f"{args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    try:
        with tempfile.TemporaryDirectory(prefix="bench_batch.") as tmp:
            tmp = Path(tmp)
            folder = tmp / "folder"
            folder.mkdir()
            for name in ("pose_1.mp4", "pose_squats.mp4"):
                for copy in range(args.copies):
                    shutil.copy(MEDIA / name, folder / f"{Path(name).stem}_copy{copy}.mp4")
            long_video = repeated_video(MEDIA / "pose_squats.mp4", args.long_frames, tmp / "squats_long.mp4")
            for label, videos, chunks in (("folder", expand_videos([folder]), None), ("long video", [long_video], args.chunks)):
                speeds = {}
                for way, address in (("local processes", None), ("Ray tasks", "")):
                    out = tmp / f"out_{label.replace(' ', '_')}_{address is None}"
                    summary = run_batch(videos, BatchSettings(output_dir=out, workers=args.workers, chunks=chunks,
                                                              fmt="npz", progress=False, ray=address))
                    failed = [o for o in summary.outcomes if o.status != "done"]
                    if failed:
                        raise SystemExit(f"bench_batch: {failed[0].video} {failed[0].status}: {failed[0].message}")
                    speeds[way] = summary.fps
                    print(f"{label}, {way}: {summary.frames} frames, {summary.fps:.1f} FPS in {summary.seconds:.1f} s")
                print(f"{label}: Ray / local processes {speeds['Ray tasks'] / speeds['local processes']:.2f}x "
                      "(target at least 0.8x)")
    finally:
        ray.shutdown()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def measure(args: argparse.Namespace) -> None:
    print(f"{args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="bench_batch.") as tmp:
        tmp = Path(tmp)
        squat = MEDIA / "pose_squats.mp4"
        long_video = repeated_video(squat, args.long_frames, tmp / "squats_long.mp4")
        if not args.seams:
            folder = tmp / "folder"
            folder.mkdir()
            for name in ("pose_1.mp4", "pose_squats.mp4"):
                for copy in range(args.copies):  # copies, not links: the batch counts a file once
                    shutil.copy(MEDIA / name, folder / f"{Path(name).stem}_copy{copy}.mp4")
            videos = expand_videos([folder])
            alone = baseline_fps(videos)
            fps, summary = batch_fps(videos, tmp / "out_folder", args.workers)
            print(f"folder: {len(videos)} videos, {summary.frames} frames: {fps:.1f} FPS in {summary.seconds:.1f} s; "
                  f"MediaPipe alone on one stream {alone:.1f} FPS: {fps / alone:.2f}x (target 1.7x)")
        alone = mediapipe_alone(squat, BASELINE_FRAMES)["fps"]
        fps, summary = batch_fps([long_video], tmp / "out_long", args.workers, args.chunks)
        print(f"long video: {summary.frames} frames: {fps:.1f} FPS in {summary.seconds:.1f} s "
              f"({summary.frames_processed - summary.frames} warm-up frames); MediaPipe alone on one stream "
              f"{alone:.1f} FPS: {fps / alone:.2f}x (target 1.6x)")
        if args.seams:
            start = time.monotonic()
            seq_fps, _ = batch_fps([long_video], tmp / "out_seq", 1, 1)
            print(f"  sequential (1 worker): {seq_fps:.1f} FPS in {time.monotonic() - start:.1f} s")
            chunks = args.chunks or summary_chunks(args.workers)
            seams_report(long_video, tmp / "out_long" / "squats_long.npz", tmp / "out_seq" / "squats_long.npz",
                         summary.frames, chunks, cv2.VideoCapture(str(squat)).get(cv2.CAP_PROP_FPS))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def summary_chunks(workers: int) -> int:
    return workers  # auto chunking of a single long video: one chunk per worker


if __name__ == "__main__":
    main()
