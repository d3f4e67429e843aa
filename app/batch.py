"""Many videos, and long ones, on every core: worker processes that each run the single-video
pipeline (app.pipeline.run with a PoseEstimator) on one unit of work at a time.

    videos = expand_videos(["clips/", "more/*.mp4", "one.mov"])            # app/batch_plan.py
    summary = run_batch(videos, BatchSettings(output_dir=Path("poses"), fmt="json", workers=2))

What the units are, where their outputs go and how a rerun resumes: app/batch_plan.py. A unit
runs through app/batch_unit.py; with `settings.ray` the units are Ray tasks (app/ray_batch.py)
instead of local processes.

Processes are started with "spawn": MediaPipe, onnxruntime and the pipeline's threads do not
survive fork(). A worker that dies (a crash in native code) fails its unit only; another worker
takes its place.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from pathlib import Path

from app.batch_plan import (RESULT_FORMATS, STATE_DIR, BatchError, BatchSettings, BatchSummary, default_workers,
                            make_tasks, one_line, plan, settle, start_jobs)
from app.batch_unit import run_task


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


# --- local worker processes -------------------------------------------------------------------
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
            events.put(("failed", task.id, one_line(error)))


def _run_locked(videos: list[Path], settings: BatchSettings, stop_event: threading.Event, tqdm) -> BatchSummary:
    started = time.monotonic()
    jobs, settled = plan(videos, settings)
    start_jobs(jobs, settings)
    tasks = make_tasks(jobs, settings)
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
            settle(job, settings, interrupted=False)
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
                settle(jobs[task.video], settings, True)
        bar.close()
    summary.interrupted = stop.is_set() or stop_event.is_set()
    summary.seconds = time.monotonic() - started
    return summary
