"""Batches on a Ray cluster (run_demo --output-dir DIR --ray [ADDRESS]): the units of work of
app/batch_plan.py (a video, or a chunk of a long one) run as Ray tasks instead of local processes.

Each task is app.batch_unit.run_task, the same function the local worker processes run, so a video gives
the same results file either way. What differs is where files live: a task writes its results (and
annotated video) into a temporary folder on the node that ran it and returns the bytes, and the
driver writes them into the output folder; the output folder need not be shared with the cluster.
Planning, skipping finished videos, joining chunks and the markers are app.batch_plan's, on the driver.

The inputs are read by path on the nodes: the videos must be at the same path on every node (a
shared mount), or run on one machine. The code travels with the job (Ray's working_dir, the
repository without .git, .venv and what .gitignore leaves out); the nodes need the Python packages only
(requirements.txt and requirements-ray.txt). The lifter's ONNX file travels through the object store.

Why tasks and not Ray Data: a unit is a whole video or chunk through a stateful pipeline (tracker,
filters, camera lock in order), not a stream of independent rows; tasks map onto app.batch_plan's units
one to one and keep the outputs byte for byte those of a local run.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from app.batch_plan import (BatchError, BatchSettings, BatchSummary, Task, make_tasks, one_line, plan, settle,
                            start_jobs)
from app.batch_unit import run_task

REQUIREMENTS = "requirements-ray.txt"
REPO_ROOT = Path(__file__).resolve().parents[1]
# Left out of the code shipped to the nodes, beside .git, .venv and what .gitignore leaves out
# (Ray leaves those out itself): the nodes need the code and the models, not the pictures.
SHIPPED_EXCLUDES = ["docs/images"]


def import_ray():
    """The ray module, or BatchError naming the requirements file (Ray is optional)."""
    try:
        import ray
    except ImportError:
        raise BatchError(f"--ray needs Ray, which is not installed; install it with "
                         f".venv/bin/python -m pip install -r {REQUIREMENTS}") from None
    return ray


def runtime_env() -> dict:
    """The job's runtime environment: this checkout's code, so every node runs the driver's version."""
    return {"working_dir": str(REPO_ROOT), "excludes": SHIPPED_EXCLUDES}


def connect(ray, address: str) -> bool:
    """Join the cluster at `address` ("": RAY_ADDRESS, else a new local instance on this machine;
    "auto": the cluster started on this machine by `ray start`). Returns whether this call connected
    (and so should disconnect); a caller that connected already keeps its connection."""
    if ray.is_initialized():
        return False
    # MediaPipe's log lines stay in the node logs, Ray's own INFO lines off the terminal
    options = {"runtime_env": runtime_env(), "log_to_driver": False, "logging_level": logging.WARNING}
    if not address and not os.environ.get("RAY_ADDRESS"):
        options["include_dashboard"] = False  # a new instance: nobody looks at its dashboard
    try:
        ray.init(address=address or None, **options)
    except Exception as error:  # ConnectionError, a refused token, a version mismatch...
        raise BatchError(f"cannot reach the Ray cluster{' at ' + address if address else ''} "
                         f"({one_line(error)}); start one with `ray start --head`") from None
    return True


# --- on the nodes -----------------------------------------------------------------------------------
_lifters: dict = {}  # per worker process: Ray reuses its workers, so a model loads once, not per unit


def _lifter(model: bytes | None):
    from core.lifter import Lifter
    key = None if model is None else hash(model)
    if key not in _lifters:
        if model is None:
            _lifters[key] = Lifter()
        else:
            path = Path(tempfile.mkdtemp(prefix="repnet-model.")) / "lifter.onnx"
            path.write_bytes(model)
            _lifters[key] = Lifter(path)
    return _lifters[key]


def ray_unit(task: Task, settings: BatchSettings, model: bytes | None) -> dict:
    """Runs on a node: one unit through app.batch_unit.run_task into a temporary folder; returns its
    outcome (or the one-line error) and the bytes of what it wrote, a failed unit's partial
    results included, as the local workers leave them."""
    with tempfile.TemporaryDirectory(prefix="repnet-unit.") as folder:
        local = replace(task, results=Path(folder) / f"results{task.results.suffix}",
                        annotated=Path(folder) / "annotated.mp4" if task.annotated is not None else None)
        outcome, error = None, None
        try:
            if not task.path.exists():
                import socket
                raise FileNotFoundError(f"{task.path} is not on the node {socket.gethostname()}; the videos must be "
                                        "at the same path on every node (a shared mount)")
            outcome = run_task(local, _lifter(model), settings, threading.Event(), lambda frames: None)
        except Exception as failure:
            error = one_line(failure)
        files = {kind: path.read_bytes() for kind, path in (("results", local.results), ("annotated", local.annotated))
                 if path is not None and path.is_file()}
    return {"outcome": outcome, "error": error, "files": files}


# --- on the driver ----------------------------------------------------------------------------------
def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.ray.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_locked(videos: list[Path], settings: BatchSettings, stop_event: threading.Event, tqdm) -> BatchSummary:
    """app.batch.run_batch's work on Ray (called with the output folder locked). At most
    settings.workers units run at once (0: as many as the cluster has CPUs), longest first."""
    ray = import_ray()
    disconnect = connect(ray, settings.ray or "")
    try:
        if settings.workers <= 0:
            settings.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return _run(ray, videos, settings, stop_event, tqdm)
    finally:
        if disconnect:
            ray.shutdown()


def _run(ray, videos: list[Path], settings: BatchSettings, stop_event: threading.Event, tqdm) -> BatchSummary:
    started = time.monotonic()
    jobs, settled = plan(videos, settings)
    start_jobs(jobs, settings)
    tasks = make_tasks(jobs, settings)
    summary = BatchSummary(outcomes=[j.outcome for j in jobs] + settled)
    remaining = {number: len(job.tasks) for number, job in enumerate(jobs)}
    model = ray.put(Path(settings.model).read_bytes()) if settings.model else None
    # One CPU per unit: MediaPipe keeps about one core busy. No retries: a unit that crashed its
    # worker would crash the next one too; it fails alone, as in a local batch.
    unit = ray.remote(num_cpus=1, max_retries=0)(ray_unit)
    waiting = sorted(tasks, key=lambda t: -t.expected)
    running: dict = {}  # object ref -> task
    bar = tqdm(total=sum(t.expected for t in tasks) or None, unit="frame", disable=not settings.progress,
               dynamic_ncols=True, leave=False, desc=f"0/{len(jobs)} videos (Ray)")

    def end_task(task: Task, result: dict | None, failure: str | None) -> None:
        job = jobs[task.video]
        if result is not None:
            for kind, data in result["files"].items():
                _write_atomically(task.results if kind == "results" else task.annotated, data)
            failure = result["error"]
            if failure is None:
                job.finished[task.id] = result["outcome"]
                summary.frames_processed += result["outcome"]["frames"]
                bar.update(result["outcome"]["frames"])
        if failure is not None:
            job.failed = job.failed or failure
        remaining[task.video] -= 1
        if remaining[task.video] == 0:
            settle(job, settings, interrupted=False)
            bar.set_description(f"{sum(j.outcome.status != 'pending' for j in jobs)}/{len(jobs)} videos (Ray)")
            if job.outcome.status == "failed":
                bar.write(f"failed: {job.outcome.video}: {job.outcome.message}")

    try:
        while (waiting or running) and not stop_event.is_set():
            while waiting and len(running) < settings.workers:
                task = waiting.pop(0)
                # absolute: the task runs in the shipped copy of the code, not in the driver's folder
                running[unit.remote(replace(task, path=task.path.absolute()), settings, model)] = task
            ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in ready:
                task = running.pop(ref)
                try:
                    end_task(task, ray.get(ref), None)
                except ray.exceptions.RayError as error:  # the worker or its node died
                    end_task(task, None, f"the Ray task failed: {one_line(getattr(error, 'cause', None) or error)}")
    except KeyboardInterrupt:  # only where the caller installed no handler of its own
        stop_event.set()
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        for task in [*running.values(), *waiting]:  # never ran, or stopped: interrupted
            remaining[task.video] -= 1
            if remaining[task.video] == 0:
                settle(jobs[task.video], settings, True)
        bar.close()
    summary.interrupted = stop_event.is_set()
    summary.seconds = time.monotonic() - started
    return summary
