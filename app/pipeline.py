"""The loop: frames -> MediaPipe -> H36M-17 -> occlusion rule -> One Euro -> lifter -> results / viewer.

    estimator = PoseEstimator(Lifter(model_path), PoseDetector())
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
real-time throttling); a camera runs in real time, MediaPipe always taking its newest frame. When
the viewer shows the newest result at most MAX_DRAW_HZ times a second and skips the others
(every frame still goes to the results); with --save-video every frame is drawn.

Stopping: the end of the input, max_frames, the viewer's quit key, or Ctrl-C. In every case the
frames already computed reach the results before run() returns, and a fault in the input in the
middle of the run (a camera that stops, a damaged video) ends the loop with `summary.problem` set.
"""
from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm

from app.camera_lock import CameraLock, lift_under_lock
from app.capture import CameraSource, Frame, VideoSource
from app.keypoints import Keypoints2D, PoseDetector
from core.lifter import Lifter
from app.mapping import mediapipe_to_h36m
from app.priority import lower_this_thread
from app.occlusion import HOLD_SECONDS, VISIBILITY_THRESHOLD, OcclusionFilter
from app.results import AnnotatedVideoWriter, FrameResult, ResultsWriter
from app.smoothing import BETA, MIN_CUTOFF_HZ, OneEuroFilter
from app.world import DEFAULT_FOV_DEG, WorldTracker
from core.skeleton import NUM_JOINTS

STAGES = ("capture", "mediapipe", "mapping", "occlusion", "smoothing", "lifter", "drawing", "writing")
DETECTION_QUEUE = 2       # MediaPipe results waiting for the lifter thread
RESULT_QUEUE = 4          # finished frames waiting for the main thread
IDLE_REDRAW_S = 0.05      # the viewer keeps handling keys while no new frame arrives
MAX_DRAW_HZ = 30.0        # the viewer redraws at most this often; faster input is still fully processed


class StageTimes:
    """Per stage: total wall seconds, total CPU seconds of the thread that ran it (where measured),
    and count. Wall time includes waiting for a core; CPU time is the stage's own cost. Each stage
    is timed by one thread only, so no lock."""

    def __init__(self):
        self.total = dict.fromkeys(STAGES, 0.0)
        self.count = dict.fromkeys(STAGES, 0)
        self.cpu_total = dict.fromkeys(STAGES, 0.0)
        self.cpu_count = dict.fromkeys(STAGES, 0)

    def add(self, stage: str, seconds: float, cpu_seconds: float | None = None) -> None:
        self.total[stage] += seconds
        self.count[stage] += 1
        if cpu_seconds is not None:
            self.cpu_total[stage] += cpu_seconds
            self.cpu_count[stage] += 1

    def lap(self, stage: str, started: tuple[float, float]) -> tuple[float, float]:
        """Add the wall and CPU time since `started` (a `_clocks()` reading) to `stage`; returns
        the reading it took, to start the next stage from."""
        now = _clocks()
        self.add(stage, now[0] - started[0], now[1] - started[1])
        return now

    def mean_ms(self) -> dict[str, float]:
        return {s: 1000.0 * self.total[s] / self.count[s] for s in STAGES if self.count[s]}

    def mean_cpu_ms(self) -> dict[str, float]:
        return {s: 1000.0 * self.cpu_total[s] / self.cpu_count[s] for s in STAGES if self.cpu_count[s]}


def _clocks() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds."""
    return time.perf_counter(), time.thread_time()


@dataclass
class EstimatorSettings:
    smoothing: bool = True
    min_cutoff: float = MIN_CUTOFF_HZ              # One Euro, Hz
    beta: float = BETA                             # One Euro, per image height per second
    visibility_threshold: float = VISIBILITY_THRESHOLD
    hold_seconds: float = HOLD_SECONDS
    camera_lock: str = "auto"                      # "auto": lift under the camera once it is known (app/camera_lock.py)
    fov_deg: float = DEFAULT_FOV_DEG               # the camera's horizontal field of view (app/world.py)


class PoseEstimator:
    """One frame in, one FrameResult out: MediaPipe, H36M mapping, occlusion rule, smoothing, lifting.

    The occlusion rule and the filter keep state across frames; both start afresh whenever the
    person is lost, so a new person never inherits the last one's positions.
    """

    def __init__(self, lifter: Lifter, detector: PoseDetector, settings: EstimatorSettings | None = None,
                 times: StageTimes | None = None):
        self.lifter = lifter
        self.detector = detector
        self.settings = settings or EstimatorSettings()
        self.times = times if times is not None else StageTimes()
        self.occlusion = OcclusionFilter(self.settings.visibility_threshold, self.settings.hold_seconds)
        self.smoother = OneEuroFilter(self.settings.min_cutoff, self.settings.beta)
        # the camera stays locked across frames without a person: they do not move the camera
        self.camera_lock = (CameraLock() if self.settings.camera_lock == "auto" and lifter.can_lift_under_camera
                            else None)
        self.world = WorldTracker(self.settings.fov_deg)  # keeps its camera across frames without a person
        # onnxruntime's first run allocates its buffers: do it now, not in the first frame.
        warm_up = np.stack([np.arange(NUM_JOINTS) * 10.0, np.arange(NUM_JOINTS) * 5.0], axis=1)
        self.lifter.process(warm_up)
        if self.camera_lock is not None:
            self.lifter.process(warm_up, np.zeros(2))

    def reset(self) -> None:
        self.occlusion.reset()
        self.smoother.reset()
        self.world.forget_person()

    def process(self, image_bgr: np.ndarray, index: int, time_s: float) -> FrameResult:
        """Both halves on one frame (the pipeline runs them on two threads)."""
        return self.lift(self.detect(image_bgr), index, time_s, image_bgr.shape[0], image_bgr.shape[1])

    def detect(self, image_bgr: np.ndarray, image_rgb: np.ndarray | None = None) -> Keypoints2D | None:
        """MediaPipe on one frame: the 33 landmarks in pixels, or None when nobody is found."""
        start = time.perf_counter()
        found = self.detector.process(image_bgr, image_rgb)
        self.times.add("mediapipe", time.perf_counter() - start)
        return found

    def lift(self, found: Keypoints2D | None, index: int, time_s: float, image_height: int,
             image_width: int | None = None) -> FrameResult:
        """Mapping, occlusion rule, smoothing and lifting. Frames must come in order (filter state)."""
        if found is None:
            self.reset()
            return FrameResult(index, time_s, detected=False)
        mark = _clocks()
        keypoints, visibility = mediapipe_to_h36m(found.landmarks, found.visibility)
        mark = self.times.lap("mapping", mark)

        keypoints, held = self.occlusion(keypoints, visibility, time_s)
        mark = self.times.lap("occlusion", mark)

        if self.settings.smoothing:
            # Filter in image heights so that the One Euro parameters do not depend on resolution.
            height = float(image_height)
            keypoints = self.smoother(keypoints / height, time_s) * height
        mark = self.times.lap("smoothing", mark)

        lifted = lift_under_lock(self.lifter, self.camera_lock, keypoints, time_s)
        valid = bool(lifted.valid[0])
        result = FrameResult(index, time_s, detected=True,
                             keypoints_2d=keypoints.astype(np.float32), visibility=visibility.astype(np.float32),
                             pose_3d=lifted.pose_3d[0] if valid else None, camera=lifted.camera[0] if valid else None,
                             held=held)
        if valid and image_width is not None:  # world space needs the image's centre and width (~0.1 ms)
            placed = self.world.update(result.pose_3d, result.camera, keypoints, (image_width, image_height), time_s)
            result.root_world, result.root_camera = placed.root_world, placed.root_camera
            result.camera_pose, result.foot_contact = placed.camera_pose, placed.foot_contact
            result.joints_world = placed.joints_world
        self.times.lap("lifter", mark)
        return result

    def status(self) -> str:
        """One line for the screen: whether the camera is locked (and where), or nothing."""
        return self.camera_lock.state.describe() if self.camera_lock is not None else ""

    def close(self) -> None:
        self.detector.close()


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

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class _Failure:
    """An exception travelling down the queues to the main thread, which raises it."""

    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()  # the end of a stage's output


def _annotated_frame(viewer, frame: Frame, result: FrameResult, fps: float, status: str = "") -> np.ndarray:
    """The --save-video picture: the frame with its 2D keypoints beside the rendered 3D view."""
    from app.draw import compose_side_by_side, draw_fps, draw_keypoints_2d
    left = draw_fps(draw_keypoints_2d(frame.image, result.keypoints_2d, result.visibility), fps, status=status)
    return compose_side_by_side(left, viewer.render_3d())


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
    times = estimator.times
    summary = RunSummary()
    detections: queue.Queue = queue.Queue(maxsize=DETECTION_QUEUE)
    done: queue.Queue = queue.Queue(maxsize=RESULT_QUEUE)
    stop = threading.Event()
    own_signals = interrupted is None
    if interrupted is None:  # Ctrl-C / SIGTERM: finish cleanly at the next frame boundary
        interrupted = threading.Event()
    stopped_by = ["end"]

    def detect_frames() -> None:  # thread 1: MediaPipe, the slowest stage, never waits for the others' work
        try:
            for n, frame in enumerate(source, start=1):
                if stop.is_set():
                    break
                detections.put((frame, estimator.detect(frame.image, frame.rgb)))
                if max_frames is not None and n >= max_frames:
                    stopped_by[0] = "max_frames"
                    break
        except BaseException as error:
            detections.put(_Failure(error))
        finally:
            detections.put(_DONE)

    def lift_frames() -> None:  # thread 2: mapping, occlusion, smoothing, lifter, in frame order
        lower_this_thread()  # its queue absorbs the delay; MediaPipe's thread sets the pace
        failed = False
        while True:
            item = detections.get()
            if isinstance(item, tuple):
                if failed:  # only drain until the MediaPipe thread has stopped
                    continue
                frame, found = item
                try:
                    item = (frame, estimator.lift(found, frame.index, frame.time, *frame.image.shape[:2]))
                except BaseException as error:
                    stop.set()
                    failed, item = True, _Failure(error)
            done.put(item)
            if item is _DONE:
                return

    def record(result: FrameResult) -> None:
        start = _clocks()
        if results is not None:
            results.add(result)
        times.lap("writing", start)
        summary.frames += 1
        summary.detected += bool(result.detected)
        bar.update(1)
        if on_result is not None:
            on_result(result)

    def show(frame: Frame, result: FrameResult, fps: float) -> bool:
        """Update the viewer's windows; False once the user asked to quit."""
        return viewer.update(frame.image, result.keypoints_2d, result.visibility, result.pose_3d, result.camera, fps,
                             status=estimator.status())

    def draw(frame: Frame, result: FrameResult, fps: float) -> bool:
        start = time.perf_counter()
        keep_going = show(frame, result, fps)
        if video_writer is not None:
            video_writer.write(_annotated_frame(viewer, frame, result, fps, estimator.status()))
        times.add("drawing", time.perf_counter() - start)
        summary.drawn += 1
        while keep_going and viewer.paused and not interrupted.is_set():  # hold everything; the workers wait
            time.sleep(IDLE_REDRAW_S)
            keep_going = show(frame, result, 0.0)
        return keep_going

    total = getattr(source, "frame_count", None)
    if total is not None and max_frames is not None:
        total = min(total, max_frames)
    bar = tqdm(total=total, unit="frame", disable=None if progress is None else not progress,
               dynamic_ncols=True, leave=False)
    completions: deque[float] = deque(maxlen=30)
    failure: BaseException | None = None
    workers = [threading.Thread(target=detect_frames, name="mediapipe", daemon=True),
               threading.Thread(target=lift_frames, name="lifter", daemon=True)]
    # Frames taken off the queue but not yet recorded: an interrupt while one of them is drawn
    # must not lose the others.
    pending: deque = deque()
    previous_handlers = _stop_on_signals(interrupted, stop) if own_signals else {}
    start = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        finished = False
        newest: tuple[Frame, FrameResult] | None = None  # the latest result, drawn or not
        undrawn = False
        next_draw = 0.0
        while not finished and not interrupted.is_set():
            # Wait for results; with a result still to show, only until its drawing slot.
            timeout = IDLE_REDRAW_S if viewer is not None else 1.0
            if undrawn:
                timeout = max(0.0, next_draw - time.monotonic())
            try:
                pending.append(done.get(timeout=timeout))
                while True:
                    pending.append(done.get_nowait())
            except queue.Empty:
                pass
            batch = bool(pending)  # something arrived
            while pending and not interrupted.is_set():
                item = pending.popleft()
                if item is _DONE:
                    finished = True
                elif isinstance(item, _Failure):
                    failure = failure or item.error
                else:
                    record(item[1])
                    completions.append(time.monotonic())
                    if video_writer is not None:  # --save-video: every frame is drawn
                        if not draw(*item, _rate(completions)):
                            stopped_by[0], finished = "quit", True
                            break
                    elif viewer is not None:
                        newest, undrawn = item, True
            if newest is None or interrupted.is_set():
                continue
            # The viewer redraws at most MAX_DRAW_HZ times a second, always the newest result;
            # when nothing new comes it refreshes the last one so that its window answers keys.
            now = time.monotonic()
            if undrawn and now >= next_draw:
                keep_going = draw(*newest, _rate(completions))
                undrawn, next_draw = False, now + 1.0 / MAX_DRAW_HZ
            elif not batch and not undrawn:
                keep_going = show(*newest, _rate(completions))
            else:
                continue
            if not keep_going:
                stopped_by[0], finished = "quit", True
    except KeyboardInterrupt:
        stopped_by[0] = "interrupt"
    except BaseException as error:
        failure = failure or error
    finally:
        stop.set()
        try:
            # Frames already computed still go to the results, in order: first those already taken
            # off the queue, then the rest; the workers stop after their current frame.
            while pending or any(w.is_alive() for w in workers) or not done.empty():
                if pending:
                    item = pending.popleft()
                else:
                    try:
                        item = done.get(timeout=0.05)
                    except queue.Empty:
                        continue
                if isinstance(item, tuple) and failure is None:
                    try:
                        record(item[1])
                    except Exception as error:  # e.g. the disk filled up: report it, keep draining
                        failure = error
                elif isinstance(item, _Failure):
                    failure = failure or item.error
            for worker in workers:
                worker.join()
        finally:
            _restore_signals(previous_handlers)
        bar.close()
        summary.seconds = time.monotonic() - start
        if interrupted.is_set():
            stopped_by[0] = "interrupt"
        summary.stopped_by = stopped_by[0]
    if failure is not None:
        raise failure
    if summary.stopped_by == "end":
        summary.problem = source.problem
    if source.frames_read:
        times.total["capture"], times.count["capture"] = source.read_seconds, source.frames_read
    summary.stage_ms = times.mean_ms()
    summary.stage_cpu_ms = times.mean_cpu_ms()
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
