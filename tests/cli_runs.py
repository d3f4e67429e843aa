"""run_demo.py run as a user runs it, in a subprocess with no display: to completion (`demo`, under
this interpreter or a wrapper such as a file size limit) or started and left running (`start`) to be
interrupted (`ctrl_c_after_first_save`), and its one-line error read back. For the command-line
tests (tests/test_cli.py, tests/test_cli_faults.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT

RUN_DEMO = REPO_ROOT / "run_demo.py"


def headless_env() -> dict:
    """This process's environment without a display: run_demo.py's viewer would need one."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def demo(*args, timeout: float = 120, python: list[str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """run_demo.py with `args` (any objects, passed as strings), run to the end under `python`
    (default: this interpreter), from the repository root; stdout and stderr captured as text."""
    return subprocess.run([*(python or [sys.executable]), str(RUN_DEMO), *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout, env=kwargs.pop("env", headless_env()),
                          **kwargs)


def start(*args, env: dict | None = None) -> subprocess.Popen:
    """run_demo.py with `args`, started and left running (to be signalled, then communicate()d)."""
    return subprocess.Popen([sys.executable, str(RUN_DEMO), *map(str, args)], cwd=REPO_ROOT,
                            env=env or headless_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_file(path: Path, timeout: float, poll: float = 0.02) -> bool:
    """Until `path` exists (a running run's first periodic save, its lock) or `timeout` s have
    passed; whether it exists."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(poll)
    return path.exists()


def ctrl_c_after_first_save(child: subprocess.Popen, out: Path, delay: float = 0.0,
                            poll: float = 0.02) -> tuple[str, str]:
    """SIGINT (Ctrl-C) to a run from start(), `delay` s after its results file `out` first appears
    (its first periodic save; at most 60 s' wait); the run's (stdout, stderr) once it has ended. The
    run is killed on the way out whatever happens, so that a failing test leaves no process behind."""
    try:
        wait_for_file(out, 60, poll)
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        return child.communicate(timeout=60)
    finally:
        child.kill()


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The run's only stderr line, which must be run_demo.py's error message (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("run_demo.py: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def python_with_file_size_limit(limit: int) -> list[str]:
    """A `python` for demo(): this interpreter, but the kernel refuses to grow any file of the
    process past `limit` bytes (RLIMIT_FSIZE), which is a full disk as far as the run can tell."""
    return [sys.executable, "-c", "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
            "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"]
