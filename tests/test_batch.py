"""Batches (app/batch.py, run_demo --output-dir): many videos on worker processes, one long video
split into chunks. Real processes, real MediaPipe on the shared videos, a few seconds each."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.batch import run_batch
from app.batch_plan import BatchSettings, expand_videos, split_frames
from app.results import read_results
from tests.conftest import REPO_ROOT

RUN_DEMO = REPO_ROOT / "run_demo.py"


def demo(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN_DEMO), *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def sequential(video: Path, output: Path, max_frames: int | None = None) -> None:
    """The single-video run, as `run_demo.py --video V --no-viewer --output O` does it."""
    from app.capture import VideoSource
    from app.keypoints import PoseDetector
    from core.lifter import Lifter
    from app.estimator import PoseEstimator
    from app.pipeline import run
    from app.results_writer import ResultsWriter
    with VideoSource(video) as source, ResultsWriter(output) as writer:
        estimator = PoseEstimator(Lifter(), PoseDetector())
        try:
            run(source, estimator, results=writer, max_frames=max_frames, progress=False)
        finally:
            estimator.close()


@pytest.mark.parametrize("frames,chunks,warmup", [(120, 3, 15), (65, 2, 100), (7, 7, 2), (3000, 2, 15), (10, 3, 0)])
def test_chunks_tile_the_video_without_gap_or_overlap(frames, chunks, warmup):
    pieces = split_frames(frames, chunks, warmup)
    kept = []
    for k, (start, keep_from, stop) in enumerate(pieces):
        assert start == max(0, keep_from - warmup)
        kept += list(range(keep_from, frames if stop is None else stop))
    assert kept == list(range(frames))
    assert pieces[-1][2] is None  # the last chunk reads to the real end, whatever the container claims


def test_expand_videos_takes_files_folders_and_patterns(tmp_path, media_dir):
    for name in ("pose_1.mp4", "pose_squats.mp4"):
        (tmp_path / name).symlink_to(media_dir / name)
    (tmp_path / "notes.txt").write_text("not a video")
    folder = expand_videos([tmp_path])
    assert [p.name for p in folder] == ["pose_1.mp4", "pose_squats.mp4"]
    assert [p.name for p in expand_videos([str(tmp_path / "pose_s*.mp4")])] == ["pose_squats.mp4"]
    # the same video named twice is processed once
    assert len(expand_videos([tmp_path / "pose_1.mp4", media_dir / "pose_1.mp4", tmp_path])) == 2


@pytest.mark.parametrize("args,message", [
    (["--video", "{media}"], "need --output-dir DIR"),
    (["--video", "{media}/pose_1.mp4", "--workers", "2"], "--workers needs --output-dir DIR"),
    (["--video", "{media}/*.nothing", "--output-dir", "{tmp}/out"], "no files match the pattern"),
    (["--video", "{media}/pose_1.mp4", "{tmp}/pose_1.mp4", "--output-dir", "{tmp}/out"], "would both write"),
    (["--video", "{media}", "--output-dir", "{tmp}/out", "--output", "{tmp}/x.json"], "--output names one file"),
    (["--video", "{media}", "--output-dir", "{tmp}/out", "--workers", "0"], "--workers: must be 1 or more"),
])
def test_batch_arguments_are_refused_in_one_line(tmp_path, media_dir, args, message):
    os.symlink(media_dir / "pose_squats.mp4", tmp_path / "pose_1.mp4")  # same name, another video
    result = demo(*[a.format(media=media_dir, tmp=tmp_path) for a in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out" / "pose_1.json").exists()


def test_folder_batch_reports_a_bad_video_goes_on_and_resumes(tmp_path, media_dir):
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for name in ("pose_1.mp4", "pose_squats.mp4"):
        (videos / name).symlink_to(media_dir / name)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))  # a video in name only
    out.mkdir()
    users_file = out / "mine.npz"
    (videos / "mine.mp4").write_bytes((media_dir / "pose_1.mp4").read_bytes())  # another file: not deduplicated
    users_file.write_bytes(b"someone's own file")  # mine.mp4 would write it: never overwritten

    result = demo("--video", videos, "--output-dir", out, "--format", "npz", "--max-frames", 8, "--workers", 2)
    assert result.returncode == 1, result.stderr  # some video failed
    assert "broken.mp4" in result.stderr and "mine.npz already exists" in result.stderr
    assert "4 videos: 2 done" in result.stdout and "2 failed" in result.stdout
    assert users_file.read_bytes() == b"someone's own file"
    for name in ("pose_1", "pose_squats"):
        data = read_results(out / f"{name}.npz")
        assert data["index"].tolist() == list(range(8)) and data["pose_3d"].shape == (8, 17, 3)
        assert data["detected"].all()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("pose_*.npz")}

    again = demo("--video", videos, "--output-dir", out, "--format", "npz", "--max-frames", 8)
    assert again.returncode == 1
    assert "2 skipped" in again.stdout and "0 done" in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("pose_*.npz")} == stamps  # not rewritten
    # other settings are other results: not skipped
    third = demo("--video", videos / "pose_1.mp4", "--output-dir", out, "--format", "npz", "--max-frames", 5)
    assert third.returncode == 0 and "1 done" in third.stdout
    assert len(read_results(out / "pose_1.npz")["index"]) == 5


def test_chunked_video_is_one_continuous_sequence_like_a_sequential_run(tmp_path, media_dir):
    """pose_1.mp4 (120 frames, 30 fps) in 3 chunks with a 0.5 s warm-up: seams at frames 40 and 80,
    whose chunks start MediaPipe at frames 25 and 65."""
    video = media_dir / "pose_1.mp4"
    sequential(video, tmp_path / "seq.csv")
    settings = BatchSettings(output_dir=tmp_path / "out", fmt="csv", workers=2, chunks=3, warmup_s=0.5,
                             progress=False)
    summary = run_batch([video], settings)
    assert [o.status for o in summary.outcomes] == ["done"], summary.outcomes
    chunked_file = tmp_path / "out" / "pose_1.csv"
    assert not list((tmp_path / "out" / ".repnet-batch").glob("*.part*"))  # chunk files are removed

    seq, par = read_results(tmp_path / "seq.csv"), read_results(chunked_file)
    # the same file layout, every frame once, in order, with the sequential run's indices and times
    assert chunked_file.read_text().splitlines()[0] == (tmp_path / "seq.csv").read_text().splitlines()[0]
    assert par["index"].tolist() == list(range(120)) == seq["index"].tolist()
    np.testing.assert_array_equal(par["time"], seq["time"])
    np.testing.assert_array_equal(par["detected"], seq["detected"])
    for name in ("keypoints_2d", "pose_3d", "camera", "root_world", "camera_pose"):
        assert par[name].shape == seq[name].shape
    # the first chunk is the sequential run itself; the others differ a little after their seams
    np.testing.assert_array_equal(par["pose_3d"][:40], seq["pose_3d"][:40])
    pose_gap = np.linalg.norm(par["pose_3d"] - seq["pose_3d"], axis=-1).mean(axis=-1)  # mm per frame
    pixel_gap = np.linalg.norm(par["keypoints_2d"] - seq["keypoints_2d"], axis=-1).mean(axis=-1)
    assert pose_gap.max() < 40.0, pose_gap.round(1)
    assert pixel_gap.max() < 5.0, pixel_gap.round(2)
    root_gap = np.linalg.norm(par["root_world"] - seq["root_world"], axis=-1)
    assert np.nanmax(root_gap) < 0.25, root_gap.round(3)  # metres: the world tracker does not jump


def test_chunks_whose_warmup_reaches_the_start_give_the_sequential_file_byte_for_byte(tmp_path, media_dir):
    """The default 3 s warm-up on 60 frames of a 30 fps video: every chunk starts at frame 0, so the
    joined file must be exactly the sequential one (json: the joining re-encodes nothing)."""
    video = media_dir / "pose_1.mp4"
    sequential(video, tmp_path / "seq.json", max_frames=60)
    summary = run_batch([video], BatchSettings(output_dir=tmp_path / "out", workers=2, chunks=2, max_frames=60,
                                               progress=False))
    assert summary.outcomes[0].status == "done" and summary.outcomes[0].frames == 60
    assert (tmp_path / "out" / "pose_1.json").read_bytes() == (tmp_path / "seq.json").read_bytes()


def test_save_videos_writes_one_annotated_video_per_video(tmp_path, media_dir):
    import cv2
    result = demo("--video", media_dir / "pose_1.mp4", "--output-dir", tmp_path / "out", "--save-videos",
                  "--max-frames", 4)
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(tmp_path / "out" / "pose_1.annotated.mp4"))
    try:
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
        assert capture.get(cv2.CAP_PROP_FRAME_WIDTH) > 576  # the frame beside the 3D view
    finally:
        capture.release()
    assert len(read_results(tmp_path / "out" / "pose_1.json")["index"]) == 4
