"""The whole loop for real: video -> MediaPipe -> mapping -> smoothing -> ONNX lifter -> result files,
and with the Open3D viewer under Xvfb. Kept to a few dozen frames (MediaPipe is ~20 ms a frame)."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.capture import CameraSource, VideoSource
from app.keypoints import PoseDetector
from core.lifter import DEFAULT_MODEL_PATH, Lifter
from app.mapping import mediapipe_to_h36m
from app.estimator import EstimatorSettings, PoseEstimator
from app.pipeline import MAX_DRAW_HZ, run
from app.priority import BACKGROUND_NICENESS
from app.results import read_results
from app.results_writer import ResultsWriter
from app.stage_times import STAGES
from app.video_writer import AnnotatedVideoWriter
from core.skeleton import JOINT_INDEX, NUM_JOINTS
from tests.videos import FileWebcam

J = JOINT_INDEX


@pytest.fixture(scope="module")
def lifter() -> Lifter:
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip(f"the shipped lifter {DEFAULT_MODEL_PATH} is missing")
    return Lifter()


@pytest.fixture
def estimator(lifter):
    estimator = PoseEstimator(lifter, PoseDetector())
    yield estimator
    estimator.close()


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """An MJPG .avi: every frame decodes back almost exactly, so the test knows what each frame shows."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
def test_decoder_and_lifter_threads_yield_to_mediapipe(media_dir, estimator):
    """The video reader and the lifter run at a lower priority than MediaPipe's thread and the
    main thread (app/priority.py): they have queues to absorb a delay, MediaPipe has not."""
    seen = {}

    def look(_result) -> None:  # runs on the main thread while the workers are alive
        for thread in threading.enumerate():
            if thread.name in ("video-reader", "lifter", "mediapipe") and thread.is_alive():
                seen[thread.name] = os.getpriority(os.PRIO_PROCESS, thread.native_id)

    with VideoSource(media_dir / "pose_1.mp4") as source:
        run(source, estimator, max_frames=6, progress=False, on_result=look)
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen["mediapipe"] == own
    assert seen["video-reader"] == seen["lifter"] == min(19, own + BACKGROUND_NICENESS)


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_video_run_writes_every_frame_and_reads_back(tmp_path, media_dir, estimator, suffix):
    out = tmp_path / f"squats{suffix}"
    with VideoSource(media_dir / "pose_squats.mp4") as source, ResultsWriter(out) as results:
        summary = run(source, estimator, results=results, max_frames=8, progress=False)
    assert summary.frames == 8 and summary.detected == 8 and summary.stopped_by == "max_frames"
    assert summary.problem is None and summary.fps > 0
    assert set(summary.stage_ms) == set(STAGES) - {"drawing"}
    # The lifter thread's stages and the writing also report their own CPU time, never above the wall time.
    assert set(summary.stage_cpu_ms) == {"mapping", "occlusion", "smoothing", "lifter", "writing"}
    assert all(0 < summary.stage_cpu_ms[s] <= summary.stage_ms[s] + 0.05 for s in summary.stage_cpu_ms)
    data = read_results(out)
    np.testing.assert_array_equal(data["index"], np.arange(8))
    np.testing.assert_allclose(data["time"], np.arange(8) / 5.0, atol=1e-3)  # a 5 fps video
    assert data["detected"].all()
    kp, pose, camera = data["keypoints_2d"], data["pose_3d"], data["camera"]
    assert np.isfinite(kp).all() and np.isfinite(pose).all() and np.isfinite(camera).all()
    assert ((kp[..., 0] > 0) & (kp[..., 0] < 720) & (kp[..., 1] > 0) & (kp[..., 1] < 1280)).all()
    assert (kp[:, J["head"], 1] < kp[:, J["pelvis"], 1]).all()  # upright in the image
    np.testing.assert_allclose(pose[:, J["pelvis"]], 0.0, atol=1e-3)  # the contract: pelvis at the origin
    assert (np.abs(pose) < 3000).all()  # millimetres: a human-sized skeleton


def test_frames_without_a_person_give_detected_false_and_nulls(tmp_path, media_dir, estimator):
    person = cv2.resize(cv2.imread(str(media_dir / "pose.jpg")), (600, 400))
    nobody = np.full_like(person, 90)
    video = write_video(tmp_path / "gap.avi", [person] * 3 + [nobody] * 3 + [person] * 3)
    out = tmp_path / "gap.json"
    with VideoSource(video) as source, ResultsWriter(out) as results:
        summary = run(source, estimator, results=results, progress=False)
    assert summary.frames == 9 and summary.detected == 6 and summary.stopped_by == "end"
    frames = json.loads(out.read_text())["frames"]
    assert [f["detected"] for f in frames] == [True] * 3 + [False] * 3 + [True] * 3
    for f in frames[3:6]:
        assert f["keypoints_2d"] is None and f["visibility"] is None and f["pose_3d"] is None and f["camera"] is None
    for f in frames[:3] + frames[6:]:
        assert np.array(f["pose_3d"]).shape == (NUM_JOINTS, 3)


def test_without_smoothing_the_keypoints_are_mediapipes(media_dir, lifter):
    with VideoSource(media_dir / "pose_1.mp4") as source:
        first = next(iter(source)).image
    with PoseDetector() as detector:
        found = detector.detect(first)
    expected, visibility = mediapipe_to_h36m(found.landmarks, found.visibility)
    assert visibility.min() >= 0.5  # so the occlusion rule leaves every joint alone
    raw = PoseEstimator(lifter, PoseDetector(), EstimatorSettings(smoothing=False))
    try:
        result = raw.estimate(first, 0, 0.0)
    finally:
        raw.close()
    np.testing.assert_allclose(result.keypoints_2d, expected, atol=1e-3)


def test_smoothing_calms_the_keypoints_of_a_real_video(media_dir, lifter):
    def keypoints(smoothing: bool) -> np.ndarray:
        estimator = PoseEstimator(lifter, PoseDetector(), EstimatorSettings(smoothing=smoothing))
        collected = []
        try:
            with VideoSource(media_dir / "pose_1.mp4") as source:
                run(source, estimator, max_frames=30, progress=False,
                    on_result=lambda r: collected.append(r.keypoints_2d))
        finally:
            estimator.close()
        return np.array(collected)
    raw, smooth = keypoints(False), keypoints(True)
    jitter = lambda kp: np.abs(np.diff(kp, n=2, axis=0)).mean()  # noqa: E731  frame-to-frame acceleration
    assert jitter(smooth) < 0.6 * jitter(raw)
    assert np.abs(smooth - raw).mean() < 10.0  # but it follows the person (pixels, 576x576 video)


def test_camera_run_ends_cleanly_when_the_camera_stops(tmp_path, media_dir, estimator):
    camera = FileWebcam(media_dir / "pose_1.mp4", fps=30.0, stop_after=20)
    out = tmp_path / "camera.npz"
    with CameraSource(0, capture=camera, stall_timeout=0.5) as source, ResultsWriter(out) as results:
        summary = run(source, estimator, results=results, progress=False)
    assert summary.stopped_by == "end" and "stopped delivering frames" in summary.problem
    data = read_results(out)
    assert 1 <= len(data["index"]) == summary.frames <= 20
    assert (np.diff(data["index"]) >= 1).all() and (np.diff(data["time"]) > 0).all()
    assert data["detected"].mean() > 0.8


def test_ctrl_c_keeps_every_frame_already_computed(tmp_path, media_dir, estimator):
    out = tmp_path / "interrupted.json"
    seen = []

    def press_ctrl_c(result):
        seen.append(result.index)
        if len(seen) == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT; Python raises KeyboardInterrupt in the main thread

    with VideoSource(media_dir / "pose_1.mp4") as source, ResultsWriter(out) as results:
        summary = run(source, estimator, results=results, progress=False, on_result=press_ctrl_c)
    assert summary.stopped_by == "interrupt"
    assert 5 <= summary.frames < 120
    # Everything MediaPipe finished reached the file, in order, with nothing skipped.
    assert summary.frames == estimator.times.count["mediapipe"]
    frames = json.loads(out.read_text())["frames"]
    assert [f["index"] for f in frames] == list(range(summary.frames))


def test_viewer_run_with_annotated_video(tmp_path, media_dir, estimator, x_display):
    from app.viewer import Viewer
    out = tmp_path / "annotated.mp4"
    results = []
    with VideoSource(media_dir / "pose_squats.mp4") as source, Viewer(width=320, height=240, visible=True) as viewer:
        video = AnnotatedVideoWriter(out, fps=source.fps)
        summary = run(source, estimator, viewer=viewer, video_writer=video, max_frames=6, progress=False,
                      on_result=results.append)
        video.close()
        # The viewer showed the person where world space put them, and the pelvis's path.
        np.testing.assert_allclose(viewer.meshes.joint_centres(), results[-1].joints_world)
        np.testing.assert_allclose(viewer.meshes.trail_points(), [r.root_world for r in results])
    assert summary.frames == summary.drawn == 6 and "drawing" in summary.stage_ms
    # Capture to display, per frame drawn: positive, and under a second on a 6-frame run.
    assert len(summary.latency_ms) == 6 and all(0 < ms < 1000 for ms in summary.latency_ms)
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 6
    ok, image = capture.read()
    capture.release()
    # 720 x 1280 frame on the left, the 320 x 240 render scaled to 1280 high on the right (even width).
    assert ok and image.shape[0] == 1280 and image.shape[1] == (720 + round(320 * 1280 / 240)) // 2 * 2
    render = image[:, 720:]
    background = np.median(render.reshape(-1, 3), axis=0)
    assert (np.abs(render.astype(int) - background).max(axis=-1) > 40).mean() > 0.002  # a skeleton was drawn
    left = image[:, :720]
    assert left.std() > 20  # the video frame itself


def test_viewer_quit_key_stops_the_run(media_dir, estimator, x_display):
    from app.viewer import Viewer

    with VideoSource(media_dir / "pose_1.mp4") as source, Viewer(width=320, height=240, visible=True) as viewer:
        def press_q(result):
            if result.index == 3:
                viewer.key_callbacks[ord("Q")](None)
        summary = run(source, estimator, viewer=viewer, progress=False, on_result=press_q)
    assert summary.stopped_by == "quit" and summary.frames < 40
    assert 1 <= summary.drawn <= summary.seconds * MAX_DRAW_HZ + 1  # redraws are capped, frames are not
