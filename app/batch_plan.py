"""Planning a batch (app/batch.py runs it): which videos, into which files, in which units of work,
and what a finished unit leaves behind.

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
"""
from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2

from app.estimator import EstimatorSettings

RESULT_FORMATS = ("json", "npz", "csv")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
ANNOTATED_SUFFIX = ".annotated.mp4"
STATE_DIR = ".repnet-batch"          # markers and chunk files, inside the output folder
WARMUP_S = 3.0                       # before each chunk: the camera lock locks after 2 s, the filters settle in 1 s
MIN_CHUNK_WARMUPS = 4                # auto chunking: a chunk is at least this many warm-ups long (<= 25% extra work)


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


def chunk_count(frames: int | None, fps: float, videos_to_do: int, settings: BatchSettings) -> int:
    if settings.save_videos or frames is None or frames <= 1:
        return 1  # annotated videos are not joined from pieces; a video of unknown length is not split
    if settings.chunks is not None:
        return max(1, min(settings.chunks, frames))
    if videos_to_do >= settings.workers:
        return 1
    wanted = math.ceil(settings.workers / videos_to_do)
    warmup = max(1, round(settings.warmup_s * fps))
    return max(1, min(wanted, frames // (MIN_CHUNK_WARMUPS * warmup)))


def probe(video: Path) -> tuple[int | None, float]:
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



def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --- planning and settling ---------------------------------------------------------------------
@dataclass
class Job:
    """A video being processed: its outcome, its marker, its units and what they answered."""
    outcome: VideoOutcome
    marker: Path
    tasks: list[Task] = field(default_factory=list)
    finished: dict[int, dict] = field(default_factory=dict)  # task id -> outcome
    failed: str | None = None


def plan(videos: list[Path], settings: BatchSettings) -> tuple[list[Job], list[VideoOutcome]]:
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
        jobs.append(Job(outcome, marker_path))
    return jobs, settled


def make_tasks(jobs: list[Job], settings: BatchSettings) -> list[Task]:
    tasks: list[Task] = []
    for number, job in enumerate(jobs):
        video, results = job.outcome.video, job.outcome.results
        frames, fps = probe(video)
        if frames is not None and settings.max_frames is not None:
            frames = min(frames, settings.max_frames)
        chunks = chunk_count(frames, fps, len(jobs), settings)
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


def start_jobs(jobs: list[Job], settings: BatchSettings) -> None:
    """Markers written before any work: a killed batch leaves outputs the next run knows as its own."""
    for job in jobs:
        _write_marker(job.marker, {**_input_identity(job.outcome.video), "settings": _settings_identity(settings),
                                   "outputs": [job.outcome.results.name] + ([output_names(job.outcome.video, settings.fmt)[1]]
                                                                             if settings.save_videos else []),
                                   "complete": False, "frames": 0})


def join_chunks(job: Job) -> None:
    """Write the job's results file from its chunks, after checking that the kept frames continue
    each other exactly (no frame lost or repeated at a seam). Raises RuntimeError if not."""
    from app.results import read_results
    from app.results_writer import ResultsWriter
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


def settle(job: Job, settings: BatchSettings, interrupted: bool) -> None:
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
                join_chunks(job)
            outcome.status = "done"
            outcome.frames = sum(r["kept"] for r in results)
            outcome.detected = sum(r["detected"] for r in results)
        except Exception as error:
            job.failed = one_line(error)
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
