"""Thread priorities: MediaPipe sets the pipeline's pace, so the threads around it yield to it.

On two cores MediaPipe's graph (two threads handing work to each other) shares the machine with
the video decoder and the lifter. Those two have queues to absorb delays, MediaPipe has not: a
frame it waits for a core is a frame lost. So they run at a lower priority (a nice value of their
own; Linux gives each thread one); what that gains is measured in docs/pipeline.md. The main
thread, which draws what the user sees, keeps its priority.
"""
from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICENESS = 10   # added to the process's nice value for decoder and lifter threads


def lower_this_thread(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Lower the calling thread's scheduling priority by `niceness`. Linux only (elsewhere a
    thread id is not a process id, and the call would miss or hit something else); returns
    whether it was done. Raising niceness needs no privileges."""
    if not sys.platform.startswith("linux"):
        return False
    thread_id = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + niceness))
    except OSError:
        return False
    return True
