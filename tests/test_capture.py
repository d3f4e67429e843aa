"""Frame sources on real video files; only the physical webcam is stood in for (by a file played
at camera speed through cv2.VideoCapture: tests/videos.py), as the developers' guide allows."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.capture import CameraSource, SourceError, VideoSource, open_source
from tests.videos import FileWebcam, write_phone_video


@pytest.fixture(scope="module")
def walking_video(media_dir) -> Path:
    return media_dir / "pose_1.mp4"  # 576x576, 30 fps, 120 frames


def copy_with(tmp_path: Path, source: Path, name: str, edit) -> Path:
    data = bytearray(source.read_bytes())
    path = tmp_path / name
    path.write_bytes(bytes(edit(data)))
    return path


# --- video files ----------------------------------------------------------------------------------
def test_video_yields_every_frame_in_order_with_container_timestamps(walking_video):
    with VideoSource(walking_video) as video:
        assert video.size == (576, 576) and video.frame_count == 120 and video.fps == pytest.approx(30.0)
        frames = list(video)
    assert [f.index for f in frames] == list(range(120))
    times = np.array([f.time for f in frames])
    np.testing.assert_allclose(times, np.arange(120) / 30.0, atol=1e-3)
    assert all(f.image.shape == (576, 576, 3) and f.image.dtype == np.uint8 for f in frames)
    # The reader thread also makes MediaPipe's RGB copy: the same pixels, channels reversed.
    assert all(np.array_equal(f.rgb, f.image[:, :, ::-1]) for f in frames[:5])
    assert video.problem is None and video.frames_read == 120 and video.read_seconds > 0


def test_video_frames_are_distinct_real_images(walking_video):
    with VideoSource(walking_video) as video:
        frames = [f.image for _, f in zip(range(40), video)]
    assert frames[0].std() > 10  # not a blank frame
    assert np.abs(frames[0].astype(int) - frames[39].astype(int)).mean() > 1  # the person walks


def test_missing_video_is_a_one_line_error_naming_the_path(tmp_path):
    with pytest.raises(SourceError, match="video not found: .*nothere.mp4"):
        VideoSource(tmp_path / "nothere.mp4")


def test_a_folder_is_not_a_video(tmp_path):
    with pytest.raises(SourceError, match="is not a file"):
        VideoSource(tmp_path)


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a video\n" * 50])
def test_a_file_that_is_not_a_video_is_refused(tmp_path, content):
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="not a video OpenCV can read"):
        VideoSource(path)


def test_truncated_mp4_without_its_index_is_refused(tmp_path, walking_video):
    # pose_1.mp4 keeps its index (moov) at the end: cut off, nothing can be decoded at all.
    path = copy_with(tmp_path, walking_video, "cut.mp4", lambda d: d[: len(d) // 2])
    with pytest.raises(SourceError, match="truncated"):
        VideoSource(path)


def test_video_damaged_in_the_middle_skips_the_damage_and_counts_it(tmp_path, walking_video):
    """A stretch of undecodable frames is passed over (and counted), not the end of the video:
    the frames after it decode again (issue 17, item 10)."""
    def damage(data: bytearray) -> bytearray:
        middle = len(data) // 2
        data[middle:middle + 20000] = bytes(20000)  # zeros over a stretch of the encoded frames
        return data
    path = copy_with(tmp_path, walking_video, "damaged.mp4", damage)
    with VideoSource(path) as video:
        frames = list(video)
    assert 10 < len(frames) < 120 and video.frames_skipped > 0
    assert [f.index for f in frames] == list(range(len(frames)))
    assert len(frames) + video.frames_skipped <= 120 and video.problem is None


def test_truncated_avi_yields_the_frames_before_the_cut(tmp_path, walking_video):
    # An AVI keeps its header in front, so a cut-off copy still opens: the part before the cut is usable.
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (576, 576))
    with VideoSource(walking_video) as video:
        for frame in video:
            writer.write(frame.image)
    writer.release()
    cut = copy_with(tmp_path, full, "cut.avi", lambda d: d[: len(d) // 2])
    with VideoSource(cut) as video:
        frames = list(video)
    assert 30 < len(frames) < 120
    assert "damaged or truncated" in video.problem


def test_stopping_early_is_not_reported_as_damage(walking_video):
    with VideoSource(walking_video) as video:
        for frame in video:
            if frame.index == 10:
                break
    assert video.problem is None


# --- cameras ------------------------------------------------------------------------------------
def test_no_camera_at_index_is_a_one_line_error():
    with pytest.raises(SourceError, match="no camera at index 97") as error:
        open_source(camera=97)
    assert "\n" not in str(error.value)


def test_open_source_needs_exactly_one_input(walking_video):
    with pytest.raises(ValueError):
        open_source()
    with pytest.raises(ValueError):
        open_source(camera=0, video=walking_video)


def test_busy_camera_that_gives_no_frames_is_refused(walking_video):
    camera = FileWebcam(walking_video, fails=True)
    start = time.monotonic()
    with pytest.raises(SourceError, match="delivered no frame.*in use by another program"):
        CameraSource(0, capture=camera, open_timeout=0.3)
    assert time.monotonic() - start < 3.0
    assert camera.released


def test_camera_source_always_hands_out_the_newest_frame(walking_video):
    camera = FileWebcam(walking_video, fps=100.0)
    taken = []
    with CameraSource(0, capture=camera) as source:
        for frame in source:
            # What we got is the newest frame there was: nothing newer had been read yet.
            taken.append((frame.index, camera.delivered))
            time.sleep(0.05)  # a slow consumer (5 camera frames per step)
            if len(taken) == 8:
                break
    indices = [i for i, _ in taken]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert np.diff(indices).min() >= 2  # frames were skipped, not queued up
    for index, delivered in taken:
        assert delivered - 1 - index <= 1  # at most the frame being read right then was newer


def test_camera_that_stops_ends_the_iteration_cleanly_with_a_problem(walking_video):
    camera = FileWebcam(walking_video, fps=60.0, stop_after=12)
    with CameraSource(0, capture=camera, stall_timeout=0.3) as source:
        start = time.monotonic()
        frames = list(source)
        elapsed = time.monotonic() - start
    assert 1 <= len(frames) <= 12 and frames[-1].index <= 11
    assert elapsed < 3.0
    assert "camera 0 stopped delivering frames after 12" in source.problem
    times = [f.time for f in frames]
    assert times == sorted(times)


def test_closing_a_camera_source_stops_its_reader(walking_video):
    camera = FileWebcam(walking_video, fps=200.0)
    source = CameraSource(0, capture=camera)
    next(iter(source))
    source.close()
    assert camera.released
    assert not any(t.name == "camera-reader" and t.is_alive() for t in threading.enumerate())


# --- issue 17: phone videos, and names OpenCV would read as patterns -------------------------------
def test_a_phone_video_is_read_upright(tmp_path, media_dir):
    upright = cv2.imread(str(media_dir / "pose.jpg"))  # 1000 x 667, a person standing
    video = write_phone_video(tmp_path / "phone.mp4", upright)
    with VideoSource(video) as source:
        frames = [f.image for f in source]
    assert source.size == (1000, 666) and len(frames) == 6
    assert frames[0].shape == (666, 1000, 3)
    assert np.abs(frames[0].astype(int) - upright[:666].astype(int)).mean() < 10  # not sideways


def test_a_name_with_a_printf_pattern_is_the_file_of_that_name(tmp_path, media_dir):
    """`shot%03d.jpg` is one file here; OpenCV alone reads shot000.jpg, shot001.jpg, ... instead."""
    photo = cv2.imread(str(media_dir / "pose.jpg"))
    cv2.imwrite(str(tmp_path / "shot%03d.jpg"), photo)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"shot{i:03d}.jpg"), np.full_like(photo, 40 * i))
    with VideoSource(tmp_path / "shot%03d.jpg") as source:
        frames = [f.image for f in source]
    assert len(frames) == 1 and np.abs(frames[0].astype(int) - photo.astype(int)).mean() < 10
