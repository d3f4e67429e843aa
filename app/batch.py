"""Many videos, and long ones, on every core: worker processes that each run the single-video
pipeline (app.pipeline.run with a PoseEstimator) on one unit of work at a time.

    videos = expand_videos(["clips/", "more/*.mp4", "one.mov"])
    summary = run_batch(videos, BatchSettings(output_dir=Path("poses"), fmt="json", workers=2))

Units of work. A video is one unit, or, when there are fewer videos than workers (one long video),
several chunks of consecutive frames. A chunk starts MediaPipe `warmup_s` before its first kept
frame and discards those warm-up frames: by the first kept frame MediaPipe's tracker has found the
person, and the occlusion rule, the One Euro filter, the camera lock and the world tracker hold the
state those seconds of video give them, so nothing restarts at a seam. The chunks' results (files
of the final format) are joined in order into one file whose frame indices and timestamps are those
of a sequential run; the seams are checked (no frame lost or repeated) before the file is written.
What still differs near a seam from a sequential run: docs/pipeline.md, "Batches".

Outputs in `output_dir`: `<video stem>.<fmt>`, and with `save_videos` `<stem>.annotated.mp4`
(annotated videos are not split into chunks). Beside them `.repnet-batch/<results name>.json`
records which input and settings each output came from and whether it was finished; a rerun skips
a video whose outputs are finished, newer than the input and made with the same settings, so an
interrupted batch resumes. A file of an output's name that no batch wrote is never overwritten:
that video fails with a message and the others go on.

Processes are started with "spawn": MediaPipe, onnxruntime and the pipeline's threads do not
survive fork(). A worker that dies (a crash in native code) fails its unit only; another worker
takes its place.
"""
from __future__ import annotations

import glob
import json
import math
import multiprocessing
import os
import queue
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2

from app.pipeline import EstimatorSettings

RESULT_FORMATS = ("json", "npz", "csv")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
ANNOTATED_SUFFIX = ".annotated.mp4"
STATE_DIR = ".repnet-batch"          # markers and chunk files, inside the output folder
WARMUP_S = 3.0                       # before each chunk: the camera lock locks after 2 s, the filters settle in 1 s
MIN_CHUNK_WARMUPS = 4                # auto chunking: a chunk is at least this many warm-ups long (<= 25% extra work)
PROGRESS_INTERVAL_S = 0.25           # workers report their frame counts this often


class BatchError(Exception):
    """Bad input for a batch (no videos found, names that collide, an unusable output folder):
    the message is one line saying what to do."""


@dataclass
class BatchSettings:
    output_dir: Path
    fmt: str = "json"                       # results format: json, npz or csv
    save_videos: bool = False               # also write <stem>.annotated.mp4
    workers: int = 0                        # worker processes; 0: one per core
    chunks: int | None = None               # pieces per video; None: as many as keep every worker busy
    warmup_s: float = WARMUP_S              # frames run before a chunk's first kept frame
    max_frames: int | None = None           # per video
    model: Path | None = None               # the ONNX lifter (None: the shipped one)
    estimator: EstimatorSettings = field(default_factory=EstimatorSettings)
    progress: bool = True                   # a progress bar on stderr
    ray: str | None = None                  # run the units as Ray tasks (app/ray_batch.py) on the cluster at
                                            # this address ("": RAY_ADDRESS or a new local instance); None: local processes


@dataclass
class VideoOutcome:
    video: Path
    results: Path
    status: str = "pending"                 # "done", "skipped", "failed", "interrupted"
    frames: int = 0                         # frames in the results file
    detected: int = 0
    message: str | None = None              # why it failed


@dataclass
class BatchSummary:
    outcomes: list[VideoOutcome]
    seconds: float = 0.0
    frames_processed: int = 0               # every frame a worker ran, warm-up frames included
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def frames(self) -> int:
        return sum(o.frames for o in self.outcomes if o.status == "done")

    @property
    def fps(self) -> float:
        """Frames of finished videos per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Task:
    """One unit of work: frames [start, stop) of a video, results kept from `keep_from` on."""
    id: int
    video: int                              # index into the batch's videos
    part: int                               # chunk number (0 for an unsplit video)
    path: Path
    results: Path                           # where the worker writes its results
    start: int = 0
    keep_from: int = 0
    stop: int | None = None                 # None: to the end (or max_frames)
    annotated: Path | None = None
    expected: int = 0                       # frames it will run, as far as the container says (progress)


# --- inputs and outputs ---------------------------------------------------------------------------
def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def expand_videos(items: list[str | Path]) -> list[Path]:
    """Files as given, the videos in a folder (by extension, sorted, not recursive), and glob
    patterns (sorted); each video once. Raises BatchError naming the first item that gives none."""
    videos: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise BatchError(f"no videos in the folder {path} (looked for {', '.join(VIDEO_SUFFIXES)})")
        elif path.exists():
            found = [path]
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
            if not found:
                raise BatchError(f"no files match the pattern '{text}'")
        else:
            raise BatchError(f"video not found: {path} (check the path given to --video)")
        videos += found
    unique, seen = [], set()
    for video in videos:
        key = os.path.realpath(video)
        if key not in seen:
            seen.add(key)
            unique.append(video)
    return unique


def output_names(video: Path, fmt: str) -> tuple[str, str]:
    return f"{video.stem}.{fmt}", f"{video.stem}{ANNOTATED_SUFFIX}"


def _marker_path(output_dir: Path, results_name: str) -> Path:
    return output_dir / STATE_DIR / f"{results_name}.json"


def _input_identity(video: Path) -> dict:
    stat = video.stat()
    return {"input": os.path.realpath(video), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _settings_identity(settings: BatchSettings) -> dict:
    """What changes the results: a rerun with other settings does not skip."""
    return {"max_frames": settings.max_frames, "model": os.path.realpath(settings.model) if settings.model else None,
            "estimator": asdict(settings.estimator)}


def _read_marker(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(path: Path, marker: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(marker, indent=1))
    os.replace(tmp, path)


def is_finished(video: Path, outputs: list[Path], marker: dict | None, settings: BatchSettings) -> bool:
    """Outputs complete (a batch finished them, says the marker), of this input and these settings,
    and newer than the input."""
    if marker is None or not marker.get("complete"):
        return False
    identity = _input_identity(video)
    if any(marker.get(k) != v for k, v in identity.items()) or marker.get("settings") != _settings_identity(settings):
        return False
    return all(p.is_file() and p.stat().st_mtime_ns >= identity["mtime_ns"] for p in outputs)


def _chunk_count(frames: int | None, fps: float, videos_to_do: int, settings: BatchSettings) -> int:
    if settings.save_videos or frames is None or frames <= 1:
        return 1  # annotated videos are not joined from pieces; a video of unknown length is not split
    if settings.chunks is not None:
        return max(1, min(settings.chunks, frames))
    if videos_to_do >= settings.workers:
        return 1
    wanted = math.ceil(settings.workers / videos_to_do)
    warmup = max(1, round(settings.warmup_s * fps))
    return max(1, min(wanted, frames // (MIN_CHUNK_WARMUPS * warmup)))


def _probe(video: Path) -> tuple[int | None, float]:
    """Frame count (None where the container does not say) and frame rate, without decoding."""
    capture = cv2.VideoCapture(str(video))
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0
    finally:
        capture.release()
    from app.capture import _usable_fps
    return (int(count) if count and count > 0 and math.isfinite(count) else None), _usable_fps(fps)


def split_frames(frames: int, chunks: int, warmup_frames: int) -> list[tuple[int, int, int | None]]:
    """(start, keep_from, stop) of each chunk: kept ranges [keep_from, stop) tile [0, frames)
    without gap or overlap; the last chunk runs to the end of the video (stop None), so a frame
    count the container underestimates loses nothing."""
    bounds = [round(k * frames / chunks) for k in range(chunks + 1)]
    out = []
    for k in range(chunks):
        keep_from = bounds[k]
        out.append((max(0, keep_from - warmup_frames), keep_from, bounds[k + 1] if k < chunks - 1 else None))
    return out


# --- the worker process ----------------------------------------------------------------------------
class _KeepFrom:
    """Results sink that drops the warm-up frames before a chunk's first kept frame."""

    def __init__(self, writer, keep_from: int):
        self.writer, self.keep_from = writer, keep_from
        self.kept = self.detected = 0

    def add(self, result) -> None:
        if result.index >= self.keep_from:
            self.writer.add(result)
            self.kept += 1
            self.detected += bool(result.detected)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def run_task(task: Task, lifter, settings: BatchSettings, stop, report: Callable[[int], None]) -> dict:
    """One unit of work in this process, through the single-video pipeline. Returns what the
    parent needs; raises on failure (the partial results stay in task.results)."""
    from app.capture import VideoSource
    from app.keypoints import PoseDetector
    from app.pipeline import PoseEstimator, run
    from app.results import AnnotatedVideoWriter, ResultsWriter

    source = VideoSource(task.path, start_frame=task.start)
    closers: list[Callable[[], None]] = [source.close]
    try:
        estimator = PoseEstimator(lifter, PoseDetector(), settings.estimator)
        closers.append(estimator.close)
        writer = ResultsWriter(task.results)
        sink = _KeepFrom(writer, task.keep_from)
        viewer = video = None
        if task.annotated is not None:
            from app.viewer import Viewer
            viewer = Viewer(visible=False, frame_size=source.size)
            closers.append(viewer.close)
            video = AnnotatedVideoWriter(task.annotated, fps=source.fps)
        limit = None if task.stop is None else task.stop - task.start
        if settings.max_frames is not None:
            limit = settings.max_frames - task.start if limit is None else min(limit, settings.max_frames - task.start)
        pending = [0, time.monotonic()]

        def counted(result) -> None:
            pending[0] += 1
            if time.monotonic() - pending[1] >= PROGRESS_INTERVAL_S:
                report(pending[0])
                pending[0], pending[1] = 0, time.monotonic()

        error = None
        try:
            summary = run(source, estimator, results=sink, viewer=viewer, video_writer=video,
                          max_frames=limit, progress=False, on_result=counted, interrupted=stop)
        except Exception as failure:
            error = failure
        report(pending[0])
        for closing in (video, writer):  # a failed run still saves what it computed
            if closing is not None:
                try:
                    closing.close()
                except Exception as failure:
                    error = error or failure
        if error is not None:
            raise error
        return {"kept": sink.kept, "detected": sink.detected, "frames": summary.frames,
                "stopped_by": summary.stopped_by, "problem": summary.problem,
                "first": task.keep_from, "skipped": getattr(source, "frames_skipped", 0)}
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                pass


def _worker_main(tasks, events, stop, settings: BatchSettings) -> None:
    # The parent handles Ctrl-C and tells the workers through `stop`; they finish their frame.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from core.lifter import Lifter
    lifter = None
    while not stop.is_set():
        task = tasks.get()
        if task is None:
            return
        events.put(("started", task.id, os.getpid()))
        try:
            if lifter is None:
                lifter = Lifter(settings.model) if settings.model else Lifter()
            outcome = run_task(task, lifter, settings, stop, lambda n: events.put(("progress", task.id, n)))
            events.put(("finished", task.id, outcome))
        except Exception as error:  # one unit failed: say why, take the next
            events.put(("failed", task.id, _one_line(error)))


# --- the parent ------------------------------------------------------------------------------------
@dataclass
class _Job:
    outcome: VideoOutcome
    marker: Path
    tasks: list[Task] = field(default_factory=list)
    finished: dict[int, dict] = field(default_factory=dict)  # task id -> outcome
    failed: str | None = None


def plan(videos: list[Path], settings: BatchSettings) -> tuple[list[_Job], list[VideoOutcome]]:
    """The jobs to run and the videos skipped or refused before running. Raises BatchError where
    two videos would write the same output or an output would replace an input."""
    by_name: dict[str, Path] = {}
    for video in videos:
        name = output_names(video, settings.fmt)[0]
        if name in by_name:
            raise BatchError(f"{by_name[name]} and {video} would both write {settings.output_dir / name}; "
                             "rename one or run them into different --output-dir folders")
        by_name[name] = video
    inputs = {os.path.realpath(v) for v in videos}
    jobs, settled = [], []
    for video in videos:
        results_name, annotated_name = output_names(video, settings.fmt)
        results = settings.output_dir / results_name
        outputs = [results] + ([settings.output_dir / annotated_name] if settings.save_videos else [])
        outcome = VideoOutcome(video, results)
        marker_path = _marker_path(settings.output_dir, results_name)
        marker = _read_marker(marker_path)
        if any(os.path.realpath(p) in inputs for p in outputs):
            raise BatchError(f"an output of {video} would replace the input video {outputs[0]}; "
                             "choose another --output-dir")
        if is_finished(video, outputs, marker, settings):
            outcome.status, outcome.frames = "skipped", int(marker.get("frames", 0))
            settled.append(outcome)
            continue
        ours = marker is not None and marker.get("input") == os.path.realpath(video)
        foreign = [p for p in outputs if p.exists() and not ours]
        if foreign:
            outcome.status = "failed"
            outcome.message = (f"{foreign[0]} already exists and no batch run wrote it for this video; "
                               "move it away or choose another --output-dir (it is not overwritten)")
            settled.append(outcome)
            continue
        jobs.append(_Job(outcome, marker_path))
    return jobs, settled


def _make_tasks(jobs: list[_Job], settings: BatchSettings) -> list[Task]:
    tasks: list[Task] = []
    for number, job in enumerate(jobs):
        video, results = job.outcome.video, job.outcome.results
        frames, fps = _probe(video)
        if frames is not None and settings.max_frames is not None:
            frames = min(frames, settings.max_frames)
        chunks = _chunk_count(frames, fps, len(jobs), settings)
        annotated = settings.output_dir / output_names(video, settings.fmt)[1] if settings.save_videos else None
        if chunks == 1:
            # no stop: a frame count the container underestimates must not cut the video short
            job.tasks = [Task(len(tasks), number, 0, video, results, annotated=annotated, expected=frames or 0)]
        else:
            warmup = max(1, round(settings.warmup_s * fps))
            job.tasks = [Task(len(tasks) + k, number, k, video,
                              settings.output_dir / STATE_DIR / f"{results.stem}.part{k}{results.suffix}",
                              start, keep_from, stop, expected=(stop or frames) - start)
                         for k, (start, keep_from, stop) in enumerate(split_frames(frames, chunks, warmup))]
        tasks += job.tasks
    return tasks


def _join_chunks(job: _Job) -> None:
    """Write the job's results file from its chunks, after checking that the kept frames continue
    each other exactly (no frame lost or repeated at a seam). Raises RuntimeError if not."""
    from app.results import ResultsWriter, read_results
    expected = 0
    for task in job.tasks:
        index = read_results(task.results)["index"]
        if len(index) and (index[0] != expected or (index[1:] - index[:-1] != 1).any()):
            raise RuntimeError(f"chunk {task.part} of {job.outcome.video} starts at frame {int(index[0])}, "
                               f"not {expected} (the container does not seek exactly); rerun with --chunks 1")
        expected += len(index)
    writer = ResultsWriter(job.outcome.results)
    try:
        for task in job.tasks:
            writer.add_part(task.results)
    finally:
        writer.close()


def _settle(job: _Job, settings: BatchSettings, interrupted: bool) -> None:
    """Every task of the job has ended: finish its outputs and its marker."""
    outcome = job.outcome
    chunked = len(job.tasks) > 1
    results = [job.finished.get(t.id) for t in job.tasks]
    if job.failed is None and not interrupted and all(results):
        problems = [r["problem"] for r in results if r["problem"]]
        stopped = [r for r in results if r["stopped_by"] == "interrupt"]
        if stopped:
            interrupted = True
        elif problems:
            job.failed = problems[0]
    if job.failed is None and not interrupted:
        try:
            if chunked:
                _join_chunks(job)
            outcome.status = "done"
            outcome.frames = sum(r["kept"] for r in results)
            outcome.detected = sum(r["detected"] for r in results)
        except Exception as error:
            job.failed = _one_line(error)
    if job.failed is not None:
        outcome.status, outcome.message = "failed", job.failed
    elif outcome.status != "done":
        outcome.status = "interrupted"
    if chunked:
        for task in job.tasks:
            try:
                task.results.unlink()
            except OSError:
                pass
    marker = _read_marker(job.marker) or {}
    marker.update(complete=outcome.status == "done", frames=outcome.frames)
    _write_marker(job.marker, marker)


def run_batch(videos: list[Path], settings: BatchSettings, stop_event: threading.Event | None = None) -> BatchSummary:
    """Process `videos` into settings.output_dir on settings.workers processes. A video that fails
    is reported in its outcome and the others go on. `stop_event` (set by the caller's signal
    handler) stops the workers at their next frame; what they finished is kept."""
    from tqdm import tqdm

    if settings.fmt not in RESULT_FORMATS:
        raise BatchError(f"unknown results format '{settings.fmt}'; use one of {', '.join(RESULT_FORMATS)}")
    if settings.workers <= 0 and settings.ray is None:  # on Ray: the cluster's CPUs, once connected
        settings.workers = default_workers()
    try:
        (settings.output_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BatchError(f"cannot create the output folder {settings.output_dir} ({error.strerror or error})") from None
    from app.output_lock import OutputInUse, OutputLock
    lock = OutputLock(settings.output_dir / STATE_DIR / "batch")
    try:
        lock.acquire()
    except OutputInUse as error:
        raise BatchError(f"another batch is writing into {settings.output_dir} ({error}); wait for it to finish "
                         "or choose another --output-dir") from None
    if settings.ray is not None:
        from app.ray_batch import run_locked as run_units
    else:
        run_units = _run_locked
    try:
        return run_units(videos, settings, stop_event or threading.Event(), tqdm)
    finally:
        lock.release()


def _start_jobs(jobs: list[_Job], settings: BatchSettings) -> None:
    """Markers written before any work: a killed batch leaves outputs the next run knows as its own."""
    for job in jobs:
        _write_marker(job.marker, {**_input_identity(job.outcome.video), "settings": _settings_identity(settings),
                                   "outputs": [job.outcome.results.name] + ([output_names(job.outcome.video, settings.fmt)[1]]
                                                                             if settings.save_videos else []),
                                   "complete": False, "frames": 0})


def _run_locked(videos: list[Path], settings: BatchSettings, stop_event: threading.Event, tqdm) -> BatchSummary:
    started = time.monotonic()
    jobs, settled = plan(videos, settings)
    _start_jobs(jobs, settings)
    tasks = _make_tasks(jobs, settings)
    summary = BatchSummary(outcomes=[j.outcome for j in jobs] + settled)
    by_id = {t.id: t for t in tasks}
    remaining = {number: len(job.tasks) for number, job in enumerate(jobs)}
    context = multiprocessing.get_context("spawn")
    task_queue, events, stop = context.Queue(), context.Queue(), context.Event()
    # Longest first, so that the last unit to finish is a short one.
    for task in sorted(tasks, key=lambda t: -t.expected):
        task_queue.put(task)
    count = min(settings.workers, len(tasks))
    for _ in range(count):
        task_queue.put(None)
    total_frames = sum(t.expected for t in tasks) or None
    bar = tqdm(total=total_frames, unit="frame", disable=not settings.progress, dynamic_ncols=True, leave=False,
               desc=f"0/{len(jobs)} videos")
    workers: dict[int, tuple] = {}  # pid -> (process, task id or None)

    def start_worker() -> None:
        process = context.Process(target=_worker_main, args=(task_queue, events, stop, settings), daemon=True)
        process.start()
        workers[process.pid] = (process, None)

    def end_task(task_id: int, outcome: dict | None, failure: str | None) -> None:
        task = by_id[task_id]
        job = jobs[task.video]
        if failure is not None:
            job.failed = job.failed or failure
        else:
            job.finished[task_id] = outcome
        remaining[task.video] -= 1
        if remaining[task.video] == 0:
            _settle(job, settings, interrupted=False)
            done = sum(1 for j in jobs if j.outcome.status != "pending")
            bar.set_description(f"{done}/{len(jobs)} videos")
            if job.outcome.status == "failed":
                bar.write(f"failed: {job.outcome.video}: {job.outcome.message}")

    def handle(kind: str, task_id: int, value) -> None:
        if kind == "started":
            if value in workers:
                workers[value] = (workers[value][0], task_id)
        elif kind == "progress":
            bar.update(value)
            summary.frames_processed += value
        elif task_id in unfinished:
            unfinished.discard(task_id)
            end_task(task_id, value if kind == "finished" else None, value if kind == "failed" else None)

    def drain() -> None:
        while True:
            try:
                handle(*events.get_nowait())
            except queue.Empty:
                return

    for _ in range(count):
        start_worker()
    unfinished = set(by_id)
    try:
        while unfinished:
            if stop_event.is_set() and not stop.is_set():
                stop.set()
            try:
                handle(*events.get(timeout=0.2))
                continue
            except queue.Empty:
                pass
            dead = [pid for pid, (process, _) in workers.items() if not process.is_alive()]
            if dead:
                drain()  # what a worker sent just before it ended comes first
            for pid in dead:
                process, holding = workers.pop(pid)
                if holding in unfinished:  # it died in native code: that unit fails, the rest go on
                    unfinished.discard(holding)
                    end_task(holding, None, f"the worker process died (exit code {process.exitcode})")
                if process.exitcode != 0 and unfinished and not stop.is_set():
                    start_worker()  # the dead one never took its end-of-work marker: the new one will
            if not workers:
                break  # stopped, or every worker gone: nobody is left to finish the rest
    except KeyboardInterrupt:  # only where the caller installed no handler of its own
        stop.set()
    finally:
        if unfinished:
            stop.set()
        # Read while they end: a worker cannot exit before what it sent has left its queue.
        deadline = time.monotonic() + 30.0
        while any(process.is_alive() for process, _ in workers.values()) and time.monotonic() < deadline:
            drain()
            time.sleep(0.05)
        for process, _ in workers.values():
            if process.is_alive():
                process.kill()
            process.join()
        drain()
        for task_id in sorted(unfinished):  # units that never ran, or whose worker was stopped
            task = by_id[task_id]
            remaining[task.video] -= 1
            if remaining[task.video] == 0:
                _settle(jobs[task.video], settings, True)
        bar.close()
    summary.interrupted = stop.is_set() or stop_event.is_set()
    summary.seconds = time.monotonic() - started
    return summary
