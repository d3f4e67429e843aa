"""The loop: frames -> MediaPipe -> H36M-17 -> occlusion rule -> One Euro -> lifter -> results / viewer.

    estimator = PoseEstimator(Lifter(model_path), PoseDetector())     # app/estimator.py
    summary = run(source, estimator, results=writer, viewer=viewer, max_frames=None)

The stages overlap on threads of their own; MediaPipe, the video decoder, onnxruntime and Open3D
all spend their time in C code that releases the GIL:

    reader thread (app/capture.py)  decodes frame t+2
    "mediapipe" thread              MediaPipe on frame t+1          (~20 ms: the pace setter)
    "lifter" thread                 mapping, occlusion, smoothing, lifter on frame t
    main thread                     results.add, viewer / annotated video for frame t-1

MediaPipe (about one core's work) never waits for the rest, so on two cores the pipeline runs at
nearly MediaPipe's own rate as long as the other stages leave it room. Results are only appended on the main thread (the writer's own
thread rewrites the file now and then). Video files run as fast as the slowest stage allows (no
real-time throttling); a camera runs in real time, MediaPipe always taking its newest frame. The
viewer shows the newest result at most MAX_DRAW_HZ times a second and skips the others
(every frame still goes to the results); with --save-video every frame is drawn.

Stopping: the end of the input, max_frames, the viewer's quit key, or Ctrl-C. In every case the
frames already computed reach the results before run() returns, and a fault in the input in the
middle of the run (a camera that stops, a damaged video) ends the loop with `summary.problem` set.
"""
from __future__ import annotations

import queue
from array import array
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm

from app.capture import CameraSource, Frame, VideoSource
from app.draw import draw_annotated
from app.estimator import PoseEstimator
from app.priority import lower_this_thread
from app.results import FrameResult
from app.results_writer import ResultsWriter
from app.stage_times import clocks
from app.video_writer import AnnotatedVideoWriter

DETECTION_QUEUE = 2       # MediaPipe results waiting for the lifter thread
RESULT_QUEUE = 4          # finished frames waiting for the main thread
IDLE_REDRAW_S = 0.05      # the viewer keeps handling keys while no new frame arrives
MAX_DRAW_HZ = 30.0        # the viewer redraws at most this often; faster input is still fully processed
LATENCY_SHOWN_OVER = 15   # the status line shows the median latency of the last frames drawn


@dataclass
class RunSummary:
    frames: int = 0                 # frames processed (all of them went to the results)
    detected: int = 0               # frames with a person
    drawn: int = 0                  # frames shown by the viewer (it skips frames when behind)
    seconds: float = 0.0            # wall time of the loop
    stopped_by: str = "end"         # "end", "max_frames", "quit" (viewer key), "interrupt" (Ctrl-C)
    problem: str | None = None      # the input failed part-way (damaged video, camera gone)
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean wall time per frame
    stage_cpu_ms: dict[str, float] = field(default_factory=dict)  # mean CPU time per frame, where measured
    # per frame the viewer drew: from the frame's capture (a camera's read, a video's decoding) to
    # the viewer's update() returning with it on screen (8 bytes a frame: a day's webcam run is 20 MB)
    latency_ms: array = field(default_factory=lambda: array("d"))

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _Failure:
    """An exception travelling down the queues to the main thread, which raises it."""

    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()  # the end of a stage's output


def run(source: VideoSource | CameraSource, estimator: PoseEstimator, *,
        results: ResultsWriter | None = None, viewer=None, video_writer: AnnotatedVideoWriter | None = None,
        max_frames: int | None = None, progress: bool | None = None,
        on_result: Callable[[FrameResult], None] | None = None,
        interrupted: threading.Event | None = None) -> RunSummary:
    """Run the loop until the input ends, max_frames, the viewer's quit key or Ctrl-C.

    `interrupted`: where the caller handles SIGINT and SIGTERM itself (run_demo.py records them
    from its first line on), the event its handler sets; the loop then installs no handlers and
    stops at the next frame boundary once it is set, also when it was set before the loop began.

    `viewer` is an app.viewer.Viewer (or None for headless); `video_writer` needs a viewer to
    render the 3D half. `progress`: a tqdm bar on stderr (None: only where stderr is a terminal). Sinks are used, not closed: the caller owns them. Raises the first error
    of a stage (e.g. OutputError on a full disk) after the computed frames were handed to `results`.
    """
    if video_writer is not None and viewer is None:
        raise ValueError("video_writer needs a viewer to render the 3D view")
    return _Run(source, estimator, results, viewer, video_writer, max_frames, on_result, interrupted).run(progress)


class _Run:
    """One run of the loop. Two worker threads (MediaPipe; the lifter's stages) feed the main
    thread, which records every result and keeps the viewer on the newest; at the end, however it
    came, the frames already computed are recorded before run() returns."""

    def __init__(self, source, estimator: PoseEstimator, results, viewer, video_writer, max_frames: int | None,
                 on_result: Callable[[FrameResult], None] | None, interrupted: threading.Event | None):
        self.source, self.estimator, self.times = source, estimator, estimator.times
        self.results, self.viewer, self.video_writer = results, viewer, video_writer
        self.max_frames, self.on_result = max_frames, on_result
        self.summary = RunSummary()
        self.detections: queue.Queue = queue.Queue(maxsize=DETECTION_QUEUE)
        self.done: queue.Queue = queue.Queue(maxsize=RESULT_QUEUE)
        self.stop = threading.Event()  # the workers stop after their current frame
        self.own_signals = interrupted is None
        # Ctrl-C / SIGTERM: finish cleanly at the next frame boundary
        self.interrupted = interrupted if interrupted is not None else threading.Event()
        self.stopped_by = "end"
        self.failure: BaseException | None = None
        self.completions: deque[float] = deque(maxlen=30)  # when the last results were recorded (the rate)
        # Frames taken off the queue but not yet recorded: an interrupt while one of them is drawn
        # must not lose the others.
        self.pending: deque = deque()
        self.newest: tuple[Frame, FrameResult] | None = None  # the latest result, drawn or not
        self.undrawn = False
        self.next_draw = 0.0
        self.recent_latency: deque[float] = deque(maxlen=LATENCY_SHOWN_OVER)  # for the status line
        self.bar = None

    def run(self, progress: bool | None) -> RunSummary:
        self.bar = self._progress_bar(progress)
        workers = [threading.Thread(target=self._detect_frames, name="mediapipe", daemon=True),
                   threading.Thread(target=self._lift_frames, name="lifter", daemon=True)]
        previous_handlers = _stop_on_signals(self.interrupted, self.stop) if self.own_signals else {}
        start = time.monotonic()
        for worker in workers:
            worker.start()
        try:
            self._main_loop()
        except KeyboardInterrupt:
            self.stopped_by = "interrupt"
        except BaseException as error:
            self.failure = self.failure or error
        finally:
            self.stop.set()
            try:
                self._record_the_rest(workers)
            finally:
                _restore_signals(previous_handlers)
            self.bar.close()
            self.summary.seconds = time.monotonic() - start
            if self.interrupted.is_set():
                self.stopped_by = "interrupt"
            self.summary.stopped_by = self.stopped_by
        if self.failure is not None:
            raise self.failure
        return self._finish()

    def _progress_bar(self, progress: bool | None) -> tqdm:
        total = getattr(self.source, "frame_count", None)
        if total is not None and self.max_frames is not None:
            total = min(total, self.max_frames)
        return tqdm(total=total, unit="frame", disable=None if progress is None else not progress,
                    dynamic_ncols=True, leave=False)

    # --- the worker threads -------------------------------------------------------------------------
    def _detect_frames(self) -> None:
        """Thread 1: MediaPipe, the slowest stage, never waits for the others' work."""
        try:
            for n, frame in enumerate(self.source, start=1):
                if self.stop.is_set():
                    break
                self.detections.put((frame, self.estimator.detect(frame.image, frame.rgb)))
                if self.max_frames is not None and n >= self.max_frames:
                    self.stopped_by = "max_frames"
                    break
        except BaseException as error:
            self.detections.put(_Failure(error))
        finally:
            self.detections.put(_DONE)

    def _lift_frames(self) -> None:
        """Thread 2: mapping, occlusion, smoothing, lifter, in frame order."""
        lower_this_thread()  # its queue absorbs the delay; MediaPipe's thread sets the pace
        failed = False
        while True:
            item = self.detections.get()
            if isinstance(item, tuple):
                if failed:  # only drain until the MediaPipe thread has stopped
                    continue
                frame, found = item
                try:
                    item = (frame, self.estimator.lift(found, frame.index, frame.time, *frame.image.shape[:2]))
                except BaseException as error:
                    self.stop.set()
                    failed, item = True, _Failure(error)
            self.done.put(item)
            if item is _DONE:
                return

    # --- the main thread ----------------------------------------------------------------------------
    def _main_loop(self) -> None:
        """Until the input ends, the quit key or a signal: record every result as it arrives and
        keep the viewer on the newest."""
        finished = False
        while not finished and not self.interrupted.is_set():
            arrived = self._receive()
            finished = self._record_arrivals()
            if self.newest is not None and not self.interrupted.is_set():
                finished = self._refresh_view(arrived) or finished

    def _receive(self) -> bool:
        """Wait for results (with one still to show, only until its drawing slot) and take all
        that are there; returns whether any arrived."""
        timeout = IDLE_REDRAW_S if self.viewer is not None else 1.0
        if self.undrawn:
            timeout = max(0.0, self.next_draw - time.monotonic())
        try:
            self.pending.append(self.done.get(timeout=timeout))
            while True:
                self.pending.append(self.done.get_nowait())
        except queue.Empty:
            pass
        return bool(self.pending)

    def _record_arrivals(self) -> bool:
        """Record what arrived, in order (with --save-video every frame is drawn too); returns
        whether the run is over (the input ended, or the user quit)."""
        finished = False
        while self.pending and not self.interrupted.is_set():
            item = self.pending.popleft()
            if item is _DONE:
                finished = True
            elif isinstance(item, _Failure):
                self.failure = self.failure or item.error
            else:
                self._record(item[1])
                self.completions.append(time.monotonic())
                if self.video_writer is not None:  # --save-video: every frame is drawn
                    if not self._draw(*item, _rate(self.completions)):
                        self.stopped_by = "quit"
                        return True
                elif self.viewer is not None:
                    self.newest, self.undrawn = item, True
        return finished

    def _refresh_view(self, arrived: bool) -> bool:
        """The viewer redraws at most MAX_DRAW_HZ times a second, always the newest result; when
        nothing new comes it refreshes the last one so that its window answers keys. Returns
        whether the user quit."""
        now = time.monotonic()
        if self.undrawn and now >= self.next_draw:
            keep_going = self._draw(*self.newest, _rate(self.completions))
            self.undrawn, self.next_draw = False, now + 1.0 / MAX_DRAW_HZ
        elif not arrived and not self.undrawn:
            keep_going = self._show(*self.newest, _rate(self.completions))
        else:
            return False
        if not keep_going:
            self.stopped_by = "quit"
        return not keep_going

    def _record(self, result: FrameResult) -> None:
        start = clocks()
        if self.results is not None:
            self.results.add(result)
        self.times.lap("writing", start)
        self.summary.frames += 1
        self.summary.detected += bool(result.detected)
        self.bar.update(1)
        if self.on_result is not None:
            self.on_result(result)

    def _show(self, frame: Frame, result: FrameResult, fps: float) -> bool:
        """Update the viewer's windows; False once the user asked to quit."""
        latency = float(np.median(self.recent_latency)) if self.recent_latency else None
        return self.viewer.update(frame.image, result.keypoints_2d, result.visibility, result.pose_3d, result.camera,
                                  fps, status=self._status(), joints_world=result.joints_world,
                                  camera_pose=result.camera_pose, latency_ms=latency, time_s=frame.time)

    def _status(self) -> str:
        """The camera lock's state for the status line; it says so where the lock is off."""
        return self.estimator.status() or "camera lock off"

    def _draw(self, frame: Frame, result: FrameResult, fps: float) -> bool:
        """Show the frame, and write it to the annotated video; while paused, hold everything
        (the workers wait). False once the user asked to quit."""
        start = time.perf_counter()
        keep_going = self._show(frame, result, fps)
        latency_ms = (time.monotonic() - frame.captured) * 1000.0  # now on screen
        self.summary.latency_ms.append(latency_ms)
        self.recent_latency.append(latency_ms)
        if self.video_writer is not None:
            self.video_writer.write(draw_annotated(frame.image, result.keypoints_2d, result.visibility,
                                                   self.viewer.render_3d(), fps, self._status()))
        self.times.add("drawing", time.perf_counter() - start)
        self.summary.drawn += 1
        while keep_going and self.viewer.paused and not self.interrupted.is_set():
            time.sleep(IDLE_REDRAW_S)
            keep_going = self._show(frame, result, 0.0)
        return keep_going

    # --- the end ------------------------------------------------------------------------------------
    def _record_the_rest(self, workers: list[threading.Thread]) -> None:
        """Frames already computed still go to the results, in order: first those already taken
        off the queue, then the rest; the workers stop after their current frame."""
        while self.pending or any(w.is_alive() for w in workers) or not self.done.empty():
            if self.pending:
                item = self.pending.popleft()
            else:
                try:
                    item = self.done.get(timeout=0.05)
                except queue.Empty:
                    continue
            if isinstance(item, tuple) and self.failure is None:
                try:
                    self._record(item[1])
                except Exception as error:  # e.g. the disk filled up: report it, keep draining
                    self.failure = error
            elif isinstance(item, _Failure):
                self.failure = self.failure or item.error
        for worker in workers:
            worker.join()

    def _finish(self) -> RunSummary:
        """The summary of a run that ended without an error: the input's problem, the stage times."""
        summary = self.summary
        if summary.stopped_by == "end":
            summary.problem = self.source.problem
        if self.source.frames_read:
            self.times.total["capture"], self.times.count["capture"] = self.source.read_seconds, self.source.frames_read
        summary.stage_ms = self.times.mean_ms()
        summary.stage_cpu_ms = self.times.mean_cpu_ms()
        return summary


def _stop_on_signals(interrupted: threading.Event, stop: threading.Event) -> dict:
    """While the loop runs, SIGINT and SIGTERM only set `interrupted` (and `stop`); the main loop
    ends at the next frame boundary. An exception raised at an arbitrary point would lose frames
    already taken off the queue, or count a frame that never reached the results. A second signal
    raises KeyboardInterrupt as before, for a run that does not stop. Returns the handlers it
    replaced ({} off the main thread, where Python allows no handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, frame) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        stop.set()

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _rate(completions: deque) -> float:
    if len(completions) < 2 or completions[-1] <= completions[0]:
        return 0.0
    return (len(completions) - 1) / (completions[-1] - completions[0])
