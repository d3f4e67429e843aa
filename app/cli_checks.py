"""The command line's checks before anything is opened or run: signals between the steps of the
start-up, the app's imports (a missing package is one line naming what to install), the display,
the outputs (never one of the inputs, always writable) and the model's contract. Each failure is a
Failure: one line and an exit code."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import stop_signals
from app.arguments import EXIT_BAD_INPUT, EXIT_FAILURE, Failure
from app.display import x_display_reachable
from app.install_hints import describe_import_error


def check_signals() -> None:
    """Between the steps of the start-up: end the program if a signal arrived during the last one."""
    code = stop_signals.interrupted_code()
    if code is not None:
        raise Failure("interrupted", code)


def import_app(modules: tuple[str, ...]) -> None:
    """Import `modules` now: a missing package or system library is one line naming what to install."""
    import importlib
    try:
        for module in modules:
            importlib.import_module(module)
    except (ImportError, OSError) as error:
        raise Failure(describe_import_error(error), EXIT_FAILURE) from None


def check_display(args: argparse.Namespace) -> None:
    """The viewer needs a display that accepts us: a stale DISPLAY made Open3D draw offscreen, silently."""
    if not sys.platform.startswith("linux") or args.no_viewer:
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise Failure("no display to show the viewer on (DISPLAY is not set); "
                      "run with --no-viewer, or under `xvfb-run -a`", EXIT_BAD_INPUT)
    display = os.environ.get("DISPLAY")
    if display and x_display_reachable(display) is False:
        raise Failure(f"cannot open the X display DISPLAY={display} (no X server there, or it refuses this user); "
                      "fix DISPLAY (e.g. `ssh -X`), run under `xvfb-run -a`, or run with --no-viewer", EXIT_BAD_INPUT)


def same_file(a: Path, b: Path) -> bool:
    """Whether writing `a` would replace `b`: the same device and inode where both exist (symlinks,
    hard links, relative paths), else the same path once symlinks are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def check_outputs_spare_inputs(args: argparse.Namespace) -> None:
    """Refuse an output that names the input video, the model or the other output: writing it
    would destroy the user's file."""
    outputs = [(option, path) for option, path in (("--output", args.output), ("--save-video", args.save_video))
               if path is not None]
    inputs = [(what, path) for what, path in (("the input video", args.video), ("the model", args.model))
              if path is not None]
    if len(outputs) == 2 and same_file(outputs[0][1], outputs[1][1]):
        raise Failure("--output and --save-video name the same file; give each its own name", EXIT_BAD_INPUT)
    for option, output in outputs:
        for what, path in inputs:
            if same_file(output, path):
                raise Failure(f"{option} {output} is {what} ({path}) and would be overwritten; "
                              f"choose another {option} file", EXIT_BAD_INPUT)


def check_output_paths(args: argparse.Namespace) -> None:
    """The output files can be written (extension, folder, permissions)."""
    from app.bvh_export import BVH_SUFFIX
    from app.results import RESULT_SUFFIXES, OutputError, check_output_path
    from app.video_writer import VIDEO_SUFFIXES
    try:
        if args.output is not None:
            check_output_path(args.output, (*RESULT_SUFFIXES, BVH_SUFFIX))
        if args.save_video is not None:
            check_output_path(args.save_video, VIDEO_SUFFIXES)
    except OutputError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None


def load_lifter(model: Path):
    """The ONNX lifter; a file that breaks the contract is one line (exit 2)."""
    from core.contract import ModelContractError
    from core.lifter import Lifter
    try:
        return Lifter(model)
    except ModelContractError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None
