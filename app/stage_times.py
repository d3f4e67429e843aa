"""Where a frame's time goes: wall and CPU seconds per stage of the pipeline, for the run's
summary (RunSummary.stage_ms, stage_cpu_ms) and the benchmarks."""
from __future__ import annotations

import time

STAGES = ("capture", "mediapipe", "mapping", "occlusion", "smoothing", "lifter", "drawing", "writing")


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
        """Add the wall and CPU time since `started` (a `clocks()` reading) to `stage`; returns
        the reading it took, to start the next stage from."""
        now = clocks()
        self.add(stage, now[0] - started[0], now[1] - started[1])
        return now

    def mean_ms(self) -> dict[str, float]:
        return {s: 1000.0 * self.total[s] / self.count[s] for s in STAGES if self.count[s]}

    def mean_cpu_ms(self) -> dict[str, float]:
        return {s: 1000.0 * self.cpu_total[s] / self.cpu_count[s] for s in STAGES if self.cpu_count[s]}


def clocks() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds."""
    return time.perf_counter(), time.thread_time()
