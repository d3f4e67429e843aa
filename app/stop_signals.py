"""SIGINT and SIGTERM recorded, never raised, from a program's first lines on.

An exception raised wherever a signal lands surfaced inside MediaPipe's and protobuf's imports as
a traceback, was swallowed (exit 0), or broke an import so that the user was told to reinstall.
So the command line records the signals instead: each step of its start-up checks the record, and
the processing loop stops at the next frame boundary (the stop events registered here are set).
The third signal ends the process at once, by the signal itself, for a run that does not stop.

Only the signal module's C core is imported (no imports of its own): run_demo.py installs the
handlers before anything else, about 10 ms sooner than `import signal` would allow.
"""
from __future__ import annotations

import _signal
import os

FORCE_QUIT_SIGNALS = 3  # the third signal ends the process at once (the results keep their last save)

received: list[int] = []  # the signals recorded so far, in order
_stop_events: list = []   # threading.Events the first signal sets: the running loops' stop flags


def _record(signum: int, frame) -> None:
    received.append(signum)
    for event in _stop_events:
        event.set()
    if len(received) >= FORCE_QUIT_SIGNALS:  # a run that does not stop: die by the signal itself
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def record() -> None:
    """From now on SIGINT and SIGTERM are recorded rather than raised (main thread only)."""
    for signum in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(signum, _record)


def stop_on_signal(event):
    """Set `event` (a threading.Event) at the first signal, or now if one came already; returns it."""
    _stop_events.append(event)
    if received:
        event.set()
    return event


def interrupted_code() -> int | None:
    """128 + the first signal received (130 Ctrl-C, 143 SIGTERM), or None while none was."""
    return 128 + int(received[0]) if received else None
