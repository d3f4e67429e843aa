"""One unit of work of a batch (a video, or a chunk of a long one) through the single-video
pipeline in this process: the same function for the local worker processes (app/batch.py) and
the Ray tasks (app/ray_batch.py), so a video gives the same results file either way."""
from __future__ import annotations

import time
from typing import Callable

from app.batch_plan import BatchSettings, Task

PROGRESS_INTERVAL_S = 0.25           # workers report their frame counts this often


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


def run_task(task: Task, lifter, settings: BatchSettings, stop, report: Callable[[int], None]) -> dict:
    """One unit of work in this process, through the single-video pipeline. Returns what the
    parent needs; raises on failure (the partial results stay in task.results)."""
    from app.capture import VideoSource
    from app.keypoints import PoseDetector
    from app.estimator import PoseEstimator
    from app.pipeline import run
    from app.results_writer import ResultsWriter
    from app.video_writer import AnnotatedVideoWriter

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
