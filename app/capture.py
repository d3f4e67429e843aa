"""Frame sources: a camera (newest frame only) or a video file (every frame, in order).

    with open_source(camera=None, video=Path("clip.mp4")) as source:
        for frame in source:          # Frame(index, time, image, rgb)
            ...
        source.problem                # None, or why the input ended early (damaged file, camera gone)

Both sources decode on a thread of their own, so decoding overlaps with inference; the reader
thread also makes the RGB copy MediaPipe needs, which keeps that work off MediaPipe's thread:
- CameraSource keeps only the NEWEST frame. A consumer slower than the camera skips frames (their
  indices show the gap) instead of working through a growing backlog of stale ones.
- VideoSource reads ahead a few frames into a bounded queue and yields every frame in order.
  Timestamps come from the container (CAP_PROP_POS_MSEC) and fall back to index / fps.

Faults become one-line SourceError messages at open time (no camera at that index, a camera that
opens but delivers nothing, a missing or unreadable video). Faults in the middle of a run (a
camera that stops, a video damaged half-way) end the iteration cleanly with `problem` set, so the
frames already read are still processed and saved.
"""
from __future__ import annotations

import glob
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from app.priority import lower_this_thread

cv2.setLogLevel(0)  # OpenCV's own warnings ("can't open camera by index") would duplicate ours
# FFmpeg prints a line per damaged packet; a damaged file is reported once, as `problem`.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

DEFAULT_FPS = 30.0            # when the container or camera does not say
VIDEO_PREFETCH = 4            # frames decoded ahead of inference (each 720p frame is 2.7 MB)
CAMERA_OPEN_TIMEOUT_S = 5.0   # a camera must deliver its first frame within this
CAMERA_STALL_TIMEOUT_S = 2.0  # no new frame for this long: the camera has stopped
# A damaged stretch of a video: undecodable frames in a row that are skipped before the video is
# taken to end there. A failed read at the true end returns at once, so trying costs nothing.
MAX_BAD_FRAMES_IN_A_ROW = 150


class SourceError(Exception):
    """The camera or video cannot be used; the message names the problem and what to do."""


@dataclass
class Frame:
    index: int          # position in the video (undecodable frames get none), or the camera's frame counter (gaps = skipped frames)
    time: float         # seconds from the start of the video / of the capture
    image: np.ndarray   # H x W x 3 uint8, BGR (OpenCV's order: drawing, video writing)
    rgb: np.ndarray | None = None  # the same image in RGB (MediaPipe's order), made by the reader thread
    # time.monotonic() when the frame was read (a camera) or decoded (a video): where the latency
    # from capture to display starts
    captured: float = field(default_factory=time.monotonic)


def _with_rgb(index: int, time_s: float, image: np.ndarray, captured: float | None = None) -> Frame:
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    rgb.flags.writeable = False  # lets MediaPipe wrap the buffer without copying it
    return Frame(index, time_s, image, rgb, time.monotonic() if captured is None else captured)


class VideoCaptureLike(Protocol):
    """What CameraSource needs from cv2.VideoCapture (a test may pass a stand-in for a webcam)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop_id: int) -> float: ...
    def release(self) -> None: ...


def _open_video(path: Path) -> tuple[cv2.VideoCapture, int | None]:
    """cv2.VideoCapture on the file at `path`, and the descriptor to close with it (or None).

    OpenCV reads a name with a printf pattern as a numbered image sequence (`shot%03d.jpg` is
    shot000.jpg, shot001.jpg, ...), not as the file of that name: such a file is opened through
    a descriptor's /proc/self/fd path, which has no '%'."""
    if "%" not in str(path):
        return cv2.VideoCapture(str(path)), None
    if not os.path.isdir("/proc/self/fd"):
        raise SourceError(f"{path}: OpenCV reads a name containing '%' as a numbered image sequence; "
                          "rename the file without '%'")
    fd = os.open(path, os.O_RDONLY)
    return cv2.VideoCapture(f"/proc/self/fd/{fd}"), fd


def _usable_fps(fps: float) -> float:
    return fps if np.isfinite(fps) and 0.1 <= fps <= 1000.0 else DEFAULT_FPS


class VideoSource:
    """Every frame of a video file, in order, decoded ahead on a reader thread."""

    def __init__(self, path: Path | str, prefetch: int = VIDEO_PREFETCH, start_frame: int = 0):
        """`start_frame`: begin there (one piece of a video split for parallel workers, app/batch.py);
        frames keep the index and timestamp a read from the start gives them."""
        self.path = Path(path)
        self.start_frame = start_frame
        if not self.path.exists():
            raise SourceError(f"video not found: {self.path} (check the path given to --video)")
        if not self.path.is_file():
            raise SourceError(f"{self.path} is not a file (--video needs a video file)")
        if not os.access(self.path, os.R_OK):
            raise SourceError(f"cannot read {self.path}: permission denied")
        self._capture, self._fd = _open_video(self.path)
        if not self._capture.isOpened():
            self._release()
            raise SourceError(f"{self.path} is not a video OpenCV can read "
                              "(not a video, an unknown format, or a truncated file)")
        # Phone videos are stored sideways with a rotation in the container: apply it, so that the
        # person stands upright for MediaPipe and in the annotated video.
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        if start_frame > 0:  # FFmpeg seeks to the key frame before and decodes up to this one: exact
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, start_frame)
        self.frames_skipped = 0  # undecodable frames passed over (a damaged stretch), reported by the caller
        self._last_msec = 0.0    # the latest container timestamp decoded
        start = time.perf_counter()
        first = self._read_decodable()
        if first is None:
            self._release()
            raise SourceError(f"{self.path} has no readable frames (an empty or damaged video)")
        self.fps = _usable_fps(self._capture.get(cv2.CAP_PROP_FPS))
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: int | None = int(count) if np.isfinite(count) and count > 0 else None
        self.size = (first.shape[1], first.shape[0])  # (width, height)
        self._first = (first, self._capture.get(cv2.CAP_PROP_POS_MSEC))
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_read = 0
        self.read_seconds = time.perf_counter() - start  # time spent decoding (the "capture" stage)
        self._reached_end = False   # the decoder ran out of frames (as opposed to being stopped)

    @property
    def problem(self) -> str | None:
        """Why the video ended before its announced length (a damaged or truncated file), else None."""
        if not self._reached_end or self.frame_count is None:
            return None
        # How far the decoder got: frames decoded and skipped, or the latest timestamp (the decoder
        # can lose more frames than it reports failed reads for).
        reached = max(self.start_frame + self.frames_read + self.frames_skipped, round(self._last_msec / 1000.0 * self.fps) + 1)
        if reached < self.frame_count - 1:  # containers may be off by one
            return (f"{self.path} could not be decoded past frame {self.frames_read} of {self.frame_count} "
                    "(the file is damaged or truncated)")
        return None

    def _read_decodable(self) -> np.ndarray | None:
        """The next frame that decodes, passing over up to MAX_BAD_FRAMES_IN_A_ROW that do not (one
        damaged frame ended the run although the rest of the video decoded); None at the end. The
        frames passed over count as skipped only once a later frame decodes: failures at the end
        are the end."""
        for failures in range(MAX_BAD_FRAMES_IN_A_ROW + 1):
            ok, image = self._capture.read()
            if ok and image is not None:
                self.frames_skipped += failures
                msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
                if np.isfinite(msec):
                    self._last_msec = max(self._last_msec, msec)
                return image
        return None

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoSource can be iterated only once")
        self._thread = threading.Thread(target=self._read_frames, name="video-reader", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item

    def _put(self, item: Frame | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _timestamp(self, index: int, msec: float, previous: float) -> float:
        # Containers give presentation times; some backends report 0 or go backwards on damaged
        # streams, and then the nominal frame rate is the better clock.
        t = msec / 1000.0
        if np.isfinite(t) and t >= 0.0 and (index == 0 or t > previous):
            return t
        return index / self.fps

    def _read_frames(self) -> None:
        lower_this_thread()  # four frames of read-ahead absorb the delay; MediaPipe has none
        index, previous = self.start_frame, -1.0
        try:
            image, msec = self._first
            while not self._stop.is_set():
                if index > self.start_frame:
                    start = time.perf_counter()
                    image = self._read_decodable()
                    msec = self._capture.get(cv2.CAP_PROP_POS_MSEC)
                    self.read_seconds += time.perf_counter() - start
                    if image is None:
                        self._reached_end = True
                        break
                previous = self._timestamp(index, msec, previous)
                start = time.perf_counter()
                frame = _with_rgb(index, previous, image)
                self.read_seconds += time.perf_counter() - start
                if not self._put(frame):
                    break
                index += 1
                self.frames_read = index - self.start_frame
        finally:
            self._first = None
            self._put(None)

    def _release(self) -> None:
        self._capture.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._release()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CameraSource:
    """Live frames from a camera; a reader thread keeps only the newest one.

    `capture` lets a test stand in for the physical webcam with any cv2.VideoCapture-like object.
    """

    def __init__(self, index: int, capture: VideoCaptureLike | None = None,
                 open_timeout: float = CAMERA_OPEN_TIMEOUT_S, stall_timeout: float = CAMERA_STALL_TIMEOUT_S):
        self.index = index
        self.stall_timeout = stall_timeout
        if capture is None:
            capture = cv2.VideoCapture(index)
        self._capture = capture
        if not capture.isOpened():
            capture.release()
            found = sorted(glob.glob("/dev/video*"))
            hint = f"cameras found: {', '.join(found)}" if found else "no camera device was found"
            raise SourceError(f"no camera at index {index} ({hint}); connect one or pass another --camera index")
        try:  # ask the driver not to queue frames (not every backend supports it)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # type: ignore[attr-defined]
        except Exception:
            pass
        self.fps = _usable_fps(capture.get(cv2.CAP_PROP_FPS))
        self._cond = threading.Condition()
        self._latest: Frame | None = None   # the newest frame, replaced by every read
        self._stop = threading.Event()
        self._reader_done = False
        self.frames_read = 0
        self.read_seconds = 0.0
        self._start = time.monotonic()
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._read_frames, name="camera-reader", daemon=True)
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None or self._reader_done, timeout=open_timeout)
            has_frame = self._latest is not None
        if not has_frame:
            self.close()
            raise SourceError(f"camera {index} opened but delivered no frame within {open_timeout:g} s "
                              "(is it in use by another program?); close that program or pick another --camera index")
        self.size = (self._latest.image.shape[1], self._latest.image.shape[0])

    @property
    def problem(self) -> str | None:
        """Why the camera stopped delivering frames in the middle of the run, else None."""
        return self._problem

    def _read_frames(self) -> None:
        last_ok = time.monotonic()
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                ok, image = self._capture.read()
                now = time.monotonic()
                if ok and image is not None:
                    frame = _with_rgb(self.frames_read, now - self._start, image, captured=now)
                    self.read_seconds += time.perf_counter() - start
                    with self._cond:
                        self._latest = frame
                        self.frames_read += 1
                        self._cond.notify_all()
                    last_ok = now
                elif now - last_ok > self.stall_timeout:
                    break
                else:
                    time.sleep(0.005)  # a failed read returns at once: do not spin
        finally:
            with self._cond:
                self._reader_done = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        last_index = -1
        while True:
            with self._cond:
                fresh = lambda: self._latest is not None and self._latest.index > last_index  # noqa: E731
                # A read that blocks (an unplugged USB camera) is caught here by the timeout too.
                self._cond.wait_for(lambda: fresh() or self._reader_done or self._stop.is_set(),
                                    timeout=self.stall_timeout)
                if self._stop.is_set():
                    return
                if not fresh():
                    self._problem = (f"camera {self.index} stopped delivering frames after {self.frames_read} "
                                     "(unplugged, or taken by another program?)")
                    return
                frame = self._latest
            last_index = frame.index
            yield frame

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=2.0)
        self._capture.release()

    def __enter__(self) -> "CameraSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(camera: int | None = None, video: Path | str | None = None) -> VideoSource | CameraSource:
    """A camera (by index) or a video file (by path): exactly one of the two."""
    if (camera is None) == (video is None):
        raise ValueError("give exactly one of camera and video")
    if video is not None:
        return VideoSource(video)
    if camera < 0:
        raise SourceError(f"camera index must be 0 or more, got {camera}")
    return CameraSource(camera)


def read_frames(path: Path | str) -> list[np.ndarray]:
    """Every frame of a short video file, decoded into memory in order (BGR), up to the first
    that does not decode: a clip to replay again and again, as the benchmarks and the tests do
    (a stand-in camera, a longer copy of a clip). Not for long videos: all frames are kept."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames
