"""The command line: a webcam or a video through the pipeline, or a batch of videos.

    python run_demo.py --camera 0                              # webcam, Open3D viewer
    python run_demo.py --video clip.mp4 --output poses.json    # a video, as fast as it goes
    repnet-live --video clip.mp4 --no-viewer --output poses.npz --save-video annotated.mp4

Exit codes: 0 success; 1 a failure while running (the input broke off, the disk filled up, a
missing library), with the frames done so far saved; 2 bad arguments or unreadable input
(nothing is processed); 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, at any moment, with
the frames done so far saved. Every failure is reported as one line, never as a traceback.

Everything that can be checked is checked before the first frame is processed: the arguments
(app/arguments.py, standard library only), the display, the outputs, the app's imports (a missing
package is named with its install command, app/install_hints.py), the input and the model. Each
step of the start-up checks whether a signal came (app/stop_signals.py). The run itself is
app.pipeline.run; a batch is app.batch.run_batch (app/cli_batch.py).
"""
from __future__ import annotations

import argparse
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

from app import stop_signals
from app.arguments import (EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, INTERRUPTED_CODES, PROG,
                           Failure, build_parser, estimator_settings, is_batch)
from app.cli_checks import (check_display, check_output_paths, check_outputs_spare_inputs, check_signals, import_app,
                            load_lifter)
from app.install_hints import describe_import_error
from app.native_logs import NativeLogFilter, ensure_standard_streams

MAX_NON_FINITE_FRAMES = 30  # headless: frames in a row the model may answer NaN for a person in view
# What a single run imports once its arguments are checked: a missing package is one line then.
APP_MODULES = ("app.capture", "app.keypoints", "core.lifter", "core.contract", "app.estimator", "app.pipeline",
               "app.results", "app.results_writer", "app.video_writer", "app.output_lock", "app.bvh_export")


def run_program(prog: str = PROG) -> int:
    """The whole program, as run_demo.py and the `repnet-live` command start it: signals recorded
    (run_demo.py did it on its first line already), closed standard streams replaced, main()."""
    stop_signals.record()
    ensure_standard_streams()
    return main(prog=prog)


def command() -> int:
    """The `repnet-live` console command (pyproject.toml)."""
    return run_program("repnet-live")


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run the command line `argv` (None: sys.argv[1:]); returns the exit code. Every failure is
    one line on stderr, prefixed with `prog`."""
    try:
        return _main(argv, prog)
    except Failure as failure:
        kind = "" if failure.code in INTERRUPTED_CODES else "error: "
        print(f"{prog}: {kind}{failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:  # only where main() runs without our handlers (not the main thread)
        print(f"{prog}: interrupted", file=sys.stderr)
        return stop_signals.interrupted_code() or EXIT_INTERRUPTED
    except Exception as error:  # a bug of ours: still one line, with what is needed to report it
        print(f"{prog}: error: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE


def _main(argv: list[str] | None, prog: str) -> int:
    if threading.current_thread() is threading.main_thread():  # done already when run as a program
        stop_signals.record()
    args = build_parser(prog).parse_args(argv)
    if args.video is not None:
        if is_batch(args):
            from app.cli_batch import run_batch_command
            return run_batch_command(args, prog)
        args.video = args.video[0]
    elif args.output_dir is not None:
        raise Failure("--output-dir needs --video (a camera is one live stream)", EXIT_BAD_INPUT)
    check_display(args)
    check_outputs_spare_inputs(args)
    check_signals()
    import_app(APP_MODULES)
    check_signals()
    return _run_one(args, prog)


# --- a broken model, seen while running ---------------------------------------------------------
class BrokenModel(Exception):
    """The lifter answered NaN or inf for a person in view MAX_NON_FINITE_FRAMES frames in a row."""


def model_watch(lifter, model: Path, headless: bool, prog: str = PROG) -> Callable:
    """run()'s on_result: warn once when the model answers NaN or inf for a person in view (the
    frame is saved without a pose); a headless run, which nobody watches, stops with BrokenModel
    after MAX_NON_FINITE_FRAMES such frames in a row."""
    warned, streak = False, 0

    def watch(result) -> None:
        nonlocal warned, streak
        if result.pose_3d is not None:
            streak = 0
        # lifter.non_finite_streak says the pose is missing because the model answered NaN or inf
        # (not because the keypoints were unusable); the lifter thread runs a few frames ahead.
        if result.pose_3d is not None or not result.detected or not lifter.non_finite_streak:
            return
        streak += 1
        if not warned:
            warned = True
            print(f"{prog}: warning: the model {model} returned NaN or inf for a person in view; such frames are "
                  "saved without a pose (re-export it with `python -m export`, which verifies it)", file=sys.stderr)
        if headless and streak >= MAX_NON_FINITE_FRAMES:
            raise BrokenModel(f"the model {model} returned NaN or inf for {streak} frames in a row with a person in "
                              "view: it is broken; re-export it with `python -m export`, which verifies it")
    return watch


# --- one webcam or video --------------------------------------------------------------------------
def _run_one(args: argparse.Namespace, prog: str) -> int:
    """The single run: everything opened in order (each step may end the program in one line),
    the pipeline run, the outputs closed, one line of summary."""
    check_output_paths(args)
    with ExitStack() as stack:
        _lock_outputs(args, stack)
        source = _open_source(args, stack)
        check_signals()
        lifter = load_lifter(args.model)
        check_signals()
        show_progress = not args.no_progress and sys.stderr.isatty()  # decided before stderr becomes a pipe
        stack.enter_context(NativeLogFilter())
        estimator = _start_estimator(args, lifter, stack)
        check_signals()
        viewer = _start_viewer(args, source, stack)
        check_signals()
        results, video = _open_sinks(args, source)
        stop = stop_signals.stop_on_signal(threading.Event())  # also when a signal came before the loop
        summary = _process(args, prog, source, estimator, lifter, viewer, results, video, stop, show_progress)
        # A video's last frame stays on screen (results already saved) until the user quits;
        # it closed within a second of the end, too soon to look at. Scripts pass --exit-at-end.
        if viewer is not None and not args.no_viewer and args.video is not None and not args.exit_at_end \
                and summary.stopped_by == "end" and not stop_signals.received:
            print("the video has ended: press Q or Esc in the viewer to quit", flush=True)
            while not stop.is_set() and viewer.hold():
                pass
    return _report(args, prog, summary, source, results, video)


def _lock_outputs(args: argparse.Namespace, stack: ExitStack) -> None:
    """Two runs writing one file would replace each other's frames (and share the video's
    temporary file): the second is refused while the first holds the lock."""
    from app.output_lock import OutputInUse, OutputLock
    for option, path in (("--output", args.output), ("--save-video", args.save_video)):
        if path is not None:
            try:
                stack.enter_context(OutputLock(path))
            except OutputInUse as error:
                raise Failure(f"{error}; wait for it to finish or choose another {option} file",
                              EXIT_BAD_INPUT) from None


def _open_source(args: argparse.Namespace, stack: ExitStack):
    from app.capture import SourceError, open_source
    try:
        source = open_source(camera=args.camera, video=args.video)
    except SourceError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None
    stack.callback(source.close)
    return source


def _start_estimator(args: argparse.Namespace, lifter, stack: ExitStack):
    """MediaPipe and the per-frame stages around the lifter."""
    from app.estimator import PoseEstimator
    from app.keypoints import DetectorError, PoseDetector
    settings = estimator_settings(args)
    try:
        detector = PoseDetector()
    except (ImportError, OSError) as error:
        raise Failure(describe_import_error(error), EXIT_FAILURE) from None
    except DetectorError as error:
        raise Failure(str(error), EXIT_FAILURE) from None
    estimator = PoseEstimator(lifter, detector, settings)
    stack.callback(estimator.close)
    return estimator


def _start_viewer(args: argparse.Namespace, source, stack: ExitStack):
    """The viewer's windows, or an invisible one for --save-video without them; None when neither."""
    if args.no_viewer and args.save_video is None:
        return None
    try:
        from app.viewer import Viewer, ViewerError
    except (ImportError, OSError) as error:
        raise Failure(describe_import_error(error), EXIT_FAILURE) from None
    try:
        viewer = Viewer(visible=not args.no_viewer, frame_size=getattr(source, "size", None))
    except ViewerError as error:
        raise Failure(str(error), EXIT_FAILURE) from None
    stack.callback(viewer.close)
    return viewer


def _open_sinks(args: argparse.Namespace, source) -> tuple:
    """(results writer or None, annotated video writer or None). A BVH header holds the frame
    count: a .bvh is written once, at the end, at the source's frame rate."""
    from app.bvh_export import BVH_SUFFIX, BvhWriter
    from app.results_writer import ResultsWriter
    from app.video_writer import AnnotatedVideoWriter
    results = None
    if args.output is not None:
        results = BvhWriter(args.output, 1.0 / source.fps) if args.output.suffix.lower() == BVH_SUFFIX \
            else ResultsWriter(args.output)
    video = AnnotatedVideoWriter(args.save_video, fps=source.fps) if args.save_video is not None else None
    return results, video


def _saved(results) -> str:
    return f"; saved {results.frames_saved} frames to {results.path}" if results is not None else ""


def _process(args: argparse.Namespace, prog: str, source, estimator, lifter, viewer, results, video,
             stop: threading.Event, show_progress: bool):
    """app.pipeline.run, then the sinks closed here rather than by the stack: their last flush
    runs even when the loop failed, and a failure of that flush is reported like any other.
    Returns the run's summary; a failure is one line saying what was saved."""
    from app.pipeline import run
    from app.results import OutputError
    summary, error = None, None
    try:
        summary = run(source, estimator, results=results, viewer=viewer, video_writer=video,
                      max_frames=args.max_frames, progress=show_progress,
                      on_result=model_watch(lifter, args.model, headless=args.no_viewer, prog=prog), interrupted=stop)
    except KeyboardInterrupt:  # not from our handlers; still an interruption
        error = Failure("interrupted", stop_signals.interrupted_code() or EXIT_INTERRUPTED)
    except BrokenModel as failure:
        error = Failure(str(failure), EXIT_FAILURE)
    except OutputError as failure:  # its message says what the file holds
        error = Failure(str(failure), EXIT_FAILURE)
    except Exception as failure:  # a stage crashed: say what, keep what was computed
        error = Failure(f"processing failed ({type(failure).__name__}: {failure})", EXIT_FAILURE)
    for sink in (video, results):
        if sink is None:
            continue
        try:
            sink.close()
        except OutputError as failure:
            error = error or Failure(str(failure), EXIT_FAILURE)
    if error is not None:
        raise Failure(f"{error}{'' if results is None or results.failed else _saved(results)}", error.code)
    return summary


def _report(args: argparse.Namespace, prog: str, summary, source, results, video) -> int:
    """The summary line, a warning for damaged frames, and the exit code."""
    line = (f"processed {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} FPS), "
            f"person found in {summary.detected}")
    if results is not None:
        line += f"; results: {results.path}"
    if video is not None and video.frames_written:
        line += f"; video: {video.path}"
    print(line)
    skipped = getattr(source, "frames_skipped", 0)
    if skipped:
        print(f"{prog}: warning: {skipped} damaged frames of {args.video} could not be decoded and were skipped",
              file=sys.stderr)
    # A signal during the last save is honoured too: the run never ends with 0 after one.
    if summary.stopped_by == "interrupt" or stop_signals.received:
        print(f"{prog}: interrupted{_saved(results)}", file=sys.stderr)
        return stop_signals.interrupted_code() or EXIT_INTERRUPTED
    if summary.problem is not None:
        print(f"{prog}: error: {summary.problem}{_saved(results)}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
