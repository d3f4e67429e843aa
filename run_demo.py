#!/usr/bin/env python3
"""RepNet Live: your 3D pose from a webcam or a video, in real time.

    python run_demo.py --camera 0                              # webcam, Open3D viewer
    python run_demo.py --video clip.mp4 --output poses.json    # a video, as fast as it goes
    python run_demo.py --video clip.mp4 --no-viewer --output poses.npz --save-video annotated.mp4

Exit codes: 0 success; 1 a failure while running (the input broke off, the disk filled up, a
missing library), with the frames done so far saved; 2 bad arguments or unreadable input
(nothing is processed); 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, at any moment, with
the frames done so far saved.
Every failure is reported as one line, never as a traceback.
"""
from __future__ import annotations

import _signal  # signal's C core: no imports of its own, so the handlers are in place ~10 ms sooner
import os
import sys

# SIGINT and SIGTERM are recorded, never raised, from the program's first lines on: an exception
# raised wherever a signal lands surfaced inside MediaPipe's and protobuf's imports as a traceback,
# was swallowed (exit 0), or broke an import so that the user was told to reinstall. Each step of
# the start-up checks the record, and the processing loop stops at the next frame boundary. (Before
# this file's first line runs, while the interpreter starts, Python's defaults still apply.)
_signals_received: list[int] = []
_stop_events: list = []  # threading.Events the first signal sets: the running loop's stop flag
FORCE_QUIT_SIGNALS = 3  # the third signal ends the process at once (the results keep their last save)


def _record_signal(signum: int, frame) -> None:
    _signals_received.append(signum)
    for event in _stop_events:
        event.set()
    if len(_signals_received) >= FORCE_QUIT_SIGNALS:  # a run that does not stop: die by the signal itself
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _record_signals() -> None:
    for signum in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(signum, _record_signal)


if __name__ == "__main__":  # not when imported (by the tests): pytest's own Ctrl-C must keep working
    _record_signals()

import threading  # noqa: E402  (after the signal handlers, on purpose: see above)


def _ensure_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr (`2>&-`) /dev/null. Python leaves sys.stderr None then
    (a crash at the first message), and the next file opened would take descriptor 2: the native
    libraries' log lines would be written into the results."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, closefd=False)


if __name__ == "__main__":
    _ensure_standard_streams()

import argparse  # noqa: E402  (after the signal handlers, on purpose)
import re  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
INTERRUPTED_CODES = (EXIT_INTERRUPTED, EXIT_TERMINATED)
PROG = "run_demo.py"
REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = REPO_ROOT / "models" / "repnet.onnx"

# Import name -> what to install when it is missing.
PIP_PACKAGES = {"cv2": "opencv-contrib-python", "mediapipe": "mediapipe==0.10.21", "numpy": "'numpy<2'",
                "onnxruntime": "onnxruntime", "tqdm": "tqdm", "open3d": "open3d-cpu==0.20.0"}
# Shared library (as named in the loader's message) -> Debian/Ubuntu package.
SYSTEM_PACKAGES = {"libusb-1.0": "libusb-1.0-0", "libGL.so": "libgl1", "libEGL": "libegl1",
                   "libX11": "libx11-6", "libudev": "libudev1", "libgomp": "libgomp1",
                   "libglib-2.0": "libglib2.0-0", "libgthread": "libglib2.0-0"}


class Failure(Exception):
    """Ends the program with one line on stderr and the given exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class OneLineArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints the whole usage; one line is enough
        raise Failure(f"{message} (see --help)", EXIT_BAD_INPUT)


def _number(parse: Callable[[str], float], allowed: Callable[[float], bool], expected: str,
            must_be: str) -> Callable[[str], float]:
    """An argparse type: `parse` the text, then check it with `allowed`; both failures are one
    line saying what was expected."""
    def check(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None
        if not allowed(value):
            raise argparse.ArgumentTypeError(f"must be {must_be}, got {text}")
        return value
    return check


INF = float("inf")
positive_int = _number(int, lambda v: v >= 1, "a whole number", "1 or more")
camera_index = _number(int, lambda v: 0 <= v < 2**31, "a camera number such as 0",  # OpenCV takes a C int
                       "0 or more (and below 2147483648)")
positive_float = _number(float, lambda v: 0.0 < v < INF, "a number", "a positive number")
non_negative_float = _number(float, lambda v: 0.0 <= v < INF, "a number", "0 or a positive number")
fraction = _number(float, lambda v: 0.0 <= v <= 1.0, "a number between 0 and 1", "between 0 and 1")
field_of_view = _number(float, lambda v: 1.0 <= v <= 170.0, "an angle in degrees such as 60", "between 1 and 170 degrees")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="3D human pose from a webcam or a video: MediaPipe Pose finds 2D keypoints, an ONNX "
                    "RepNet lifter turns them into a 3D skeleton and a camera, and an Open3D window shows both.",
        epilog="Output formats (--output, by extension): .json {\"joints\": [17 names], \"frames\": [{\"index\", "
               "\"time\", \"detected\", \"keypoints_2d\", \"visibility\", \"pose_3d\", \"camera\", \"root_world\", "
               "\"root_camera\", \"camera_pose\", \"foot_contact\"}]} with null where "
               "no person was found; .npz the same fields as arrays (NaN for null); .csv one row per frame.\n"
               "Viewer keys: P or space pause, R reset the view, Q or Esc quit.\n"
               "Exit codes: 0 success, 1 failure while running (partial results kept), 2 bad arguments or "
               "unreadable input or an output another run is writing, 130 interrupted by Ctrl-C and 143 by "
               "SIGTERM (partial results kept; a third signal ends the program at once).\n"
               "A DISPLAY that names no reachable X server is refused (exit 2) unless --no-viewer is given.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=camera_index, metavar="INDEX",
                        help="read the webcam with this index (0 is the first); runs in real time, always on the newest frame")
    source.add_argument("--video", type=Path, nargs="+", metavar="PATH",
                        help="read a video file (any format OpenCV reads), every frame, as fast as possible; "
                             "with --output-dir: several files, folders of videos or quoted glob patterns")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="write per-frame results to PATH: .json, .npz or .csv (the folder must exist); "
                             "saved every few seconds, so an interrupted run keeps what it did; or .bvh, an "
                             "animation for Blender and other tools, written at the end of the run")
    parser.add_argument("--save-video", type=Path, metavar="PATH",
                        help="write an annotated video (.mp4 or .avi): the frame with 2D keypoints beside the 3D view")
    parser.add_argument("--no-viewer", action="store_true",
                        help="run without windows (servers, CI); with --save-video the 3D view is rendered offscreen")
    parser.add_argument("--max-frames", type=positive_int, metavar="N",
                        help="stop after N frames")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, metavar="PATH",
                        help="the ONNX lifter (default: models/repnet.onnx)")
    parser.add_argument("--no-smoothing", action="store_true",
                        help="lift each frame's keypoints as MediaPipe gives them (no One Euro filter)")
    parser.add_argument("--min-cutoff", type=positive_float, default=None, metavar="HZ",
                        help="One Euro filter: cutoff at rest in Hz; lower = smoother but laggier (default 1.0)")
    parser.add_argument("--beta", type=non_negative_float, default=None, metavar="B",
                        help="One Euro filter: how fast the cutoff rises with speed, per image height per "
                             "second; higher = less lag in fast moves (default 5.0)")
    parser.add_argument("--visibility-threshold", type=fraction, default=None, metavar="V",
                        help="joints MediaPipe rates below V (0-1) are held at their last confident place "
                             "relative to the pelvis for up to half a second (default 0.5)")
    parser.add_argument("--camera-lock", choices=("auto", "off"), default="auto",
                        help="auto (default): lift every frame under the camera's elevation and roll, "
                             "estimated over the first seconds as the median of the lifter's own, and let go "
                             "when the camera moves; off: estimate the camera afresh in every frame")
    parser.add_argument("--fov", type=field_of_view, default=None, metavar="DEGREES",
                        help="the camera's field of view across the image's longer side, for placing the person "
                             "in the room (distance, root_world; default 60, a typical webcam)")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="with the viewer and --video: exit when the video ends (by default its last frame "
                             "stays on screen until you press Q or Esc)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch = parser.add_argument_group("batches (--output-dir): many videos, or one long one, on every core")
    batch.add_argument("--output-dir", type=Path, metavar="DIR",
                       help="process every --video in parallel worker processes and write DIR/<video name>.<format> "
                            "for each (the folder is created); finished videos are skipped on a rerun; headless")
    batch.add_argument("--format", choices=("json", "npz", "csv"), default="json",
                       help="results format in --output-dir (default json)")
    batch.add_argument("--save-videos", action="store_true",
                       help="also write DIR/<video name>.annotated.mp4 for each video")
    batch.add_argument("--workers", type=positive_int, metavar="N",
                       help="worker processes (default: one per core)")
    batch.add_argument("--chunks", type=positive_int, metavar="N",
                       help="split each video into N pieces run in parallel and joined (default: enough to keep "
                            "every worker busy when there are fewer videos than workers)")
    batch.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run the videos and chunks as tasks on a Ray cluster instead of local processes: "
                            "ADDRESS as `ray start` prints it, 'auto' for the one started on this machine, none: "
                            "$RAY_ADDRESS or a new local instance (needs requirements-ray.txt; --workers: units "
                            "at once, default the cluster's CPUs)")
    return parser


def describe_import_error(error: BaseException) -> str:
    """Which package to install, from an ImportError / OSError raised while importing a dependency."""
    text = str(error)
    for library, package in SYSTEM_PACKAGES.items():
        if library in text:
            return (f"a system library is missing ({text.split(':')[0].strip()}); "
                    f"install it with `apt-get install {package}`")
    name = (getattr(error, "name", None) or "").split(".")[0]
    if not name:
        match = re.search(r"No module named '([\w]+)", text)
        name = match.group(1) if match else ""
    if name:
        package = PIP_PACKAGES.get(name, name)
        return (f"the Python package '{name}' is missing; install it with `pip install {package}` "
                f"(or `pip install -r requirements.txt`)")
    return f"a dependency failed to load ({text}); reinstall with `pip install -r requirements.txt`"


class NativeLogFilter:
    """Keeps the C++ libraries' log lines (MediaPipe, TensorFlow Lite, absl) off the terminal, so
    that what the user sees is the progress bar and our own one-line messages. It sits between
    file descriptor 2 and the real stderr and passes every other byte straight through."""

    NOISE = re.compile(rb"^(?:[IWE]\d{4} \d\d:\d\d:\d\d|INFO: Created TensorFlow Lite|"
                       rb"WARNING: All log messages before absl::InitializeLog|"
                       rb"error: XDG_RUNTIME_DIR is invalid)")  # GLFW's, harmless
    NOISE_START = re.compile(rb"^(?:[IWE]\d{0,4}|INFO|WARNING|error)")  # an unfinished line that may become noise

    def __enter__(self) -> "NativeLogFilter":
        sys.stderr.flush()
        self._real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._read_end = read_end
        self._thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self._thread.start()
        return self

    def _emit(self, data: bytes) -> None:
        try:
            os.write(self._real, data)
        except OSError:
            pass

    def _pump(self) -> None:
        pending = b""
        while True:
            data = os.read(self._read_end, 65536)
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if not self.NOISE.match(line):
                    self._emit(line + b"\n")
            if pending and not self.NOISE_START.match(pending.lstrip(b"\r")):
                self._emit(pending)  # progress bars rewrite one line without ever ending it
                pending = b""
        if pending and not self.NOISE.match(pending):
            self._emit(pending)

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self._real, 2)  # drops the pipe's last writer: the pump sees the end and stops
        self._thread.join(timeout=2.0)
        os.close(self._read_end)
        os.close(self._real)


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


MAX_NON_FINITE_FRAMES = 30  # headless: frames in a row the model may answer NaN for a person in view


class BrokenModel(Exception):
    """The lifter answered NaN or inf for a person in view MAX_NON_FINITE_FRAMES frames in a row."""


def model_watch(lifter, model: Path, headless: bool) -> Callable:
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
            print(f"{PROG}: warning: the model {model} returned NaN or inf for a person in view; such frames are "
                  "saved without a pose (re-export it with `python -m export`, which verifies it)", file=sys.stderr)
        if headless and streak >= MAX_NON_FINITE_FRAMES:
            raise BrokenModel(f"the model {model} returned NaN or inf for {streak} frames in a row with a person in "
                              "view: it is broken; re-export it with `python -m export`, which verifies it")
    return watch


def interrupted_code() -> int | None:
    """128 + the first signal received (130 Ctrl-C, 143 SIGTERM), or None while none was."""
    return 128 + int(_signals_received[0]) if _signals_received else None


def check_signals() -> None:
    """Between the steps of the start-up: end the program if a signal arrived during the last one."""
    code = interrupted_code()
    if code is not None:
        raise Failure("interrupted", code)


def x_display_reachable(display: str) -> bool | None:
    """Whether the X server named by `display` accepts us; None where libX11 cannot be loaded (the
    viewer then reports what it finds). Xlib's own complaints (e.g. "Authorization required") go
    to /dev/null: the caller says it in one line."""
    import ctypes
    try:
        x11 = ctypes.CDLL("libX11.so.6")
    except OSError:
        return None
    x11.XOpenDisplay.argtypes, x11.XOpenDisplay.restype = [ctypes.c_char_p], ctypes.c_void_p
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        handle = x11.XOpenDisplay(display.encode())
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    if handle:
        x11.XCloseDisplay(handle)
    return bool(handle)


def estimator_settings(args: argparse.Namespace, settings_class: type):
    """The PoseEstimator's settings from the command line (settings_class: app.pipeline.EstimatorSettings,
    passed in because the app is imported only after the arguments were checked)."""
    settings = settings_class(smoothing=not args.no_smoothing, camera_lock=args.camera_lock)
    for name in ("min_cutoff", "beta", "visibility_threshold"):
        if getattr(args, name) is not None:
            setattr(settings, name, getattr(args, name))
    if args.fov is not None:
        settings.fov_deg = args.fov
    return settings


BATCH_ONLY = ("--workers", "--chunks", "--save-videos", "--format", "--ray")


def is_batch(args: argparse.Namespace) -> bool:
    """Whether --video asks for a batch (app/batch.py); refuses batch-only options without one."""
    import glob
    first = args.video[0]
    several = len(args.video) > 1 or first.is_dir() or (not first.exists() and glob.has_magic(str(first)))
    if several and args.output_dir is None:
        raise Failure("several videos, a folder or a pattern need --output-dir DIR (one results file per video)",
                      EXIT_BAD_INPUT)
    if args.output_dir is None:
        given = [o for o in BATCH_ONLY if getattr(args, o[2:].replace("-", "_")) not in (None, False, "json")]
        if given:
            raise Failure(f"{given[0]} needs --output-dir DIR", EXIT_BAD_INPUT)
        return False
    for option, value in (("--output", args.output), ("--save-video", args.save_video)):
        if value is not None:
            raise Failure(f"{option} names one file; with --output-dir use --format and --save-videos", EXIT_BAD_INPUT)
    return True


def _batch_main(args: argparse.Namespace) -> int:
    """--output-dir: every video through worker processes (app/batch.py), headless; one line per
    failed video and a summary. Exit 1 if any video failed, 130/143 if interrupted."""
    try:
        from app.batch import BatchError, BatchSettings, expand_videos, run_batch
        from core.lifter import Lifter
        from core.contract import ModelContractError
        from app.pipeline import EstimatorSettings
    except (ImportError, OSError) as error:
        raise Failure(describe_import_error(error), EXIT_FAILURE) from None
    try:
        if args.ray is not None:  # before any output is touched: Ray is optional
            from app.ray_batch import import_ray
            import_ray()
        videos = expand_videos(args.video)
        Lifter(args.model)  # refused here, once, rather than in every worker
    except BatchError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None
    except ModelContractError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None
    check_signals()
    settings = BatchSettings(output_dir=args.output_dir, fmt=args.format, save_videos=args.save_videos,
                             workers=args.workers or 0, chunks=args.chunks, max_frames=args.max_frames,
                             model=args.model, estimator=estimator_settings(args, EstimatorSettings),
                             progress=not args.no_progress and sys.stderr.isatty(), ray=args.ray)
    stop = threading.Event()
    _stop_events.append(stop)
    if _signals_received:
        stop.set()
    with NativeLogFilter():  # the workers inherit the filtered stderr
        try:
            summary = run_batch(videos, settings, stop)
        except BatchError as error:
            raise Failure(str(error), EXIT_BAD_INPUT) from None
    for outcome in summary.outcomes:
        if outcome.status == "failed":
            print(f"{PROG}: error: {outcome.video}: {outcome.message}", file=sys.stderr)
    counts = ", ".join(f"{summary.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")
                       if summary.count(s) or s in ("done", "failed"))
    print(f"{len(summary.outcomes)} videos: {counts}; {summary.frames} frames in {summary.seconds:.1f} s "
          f"({summary.fps:.1f} FPS) on {settings.workers} {'Ray tasks at once' if args.ray is not None else 'workers'}; "
          f"results in {settings.output_dir}")
    if summary.interrupted or _signals_received:
        print(f"{PROG}: interrupted; finished videos are kept and skipped on a rerun", file=sys.stderr)
        return interrupted_code() or EXIT_INTERRUPTED
    return EXIT_FAILURE if summary.count("failed") else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except Failure as failure:
        kind = "" if failure.code in INTERRUPTED_CODES else "error: "
        print(f"{PROG}: {kind}{failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:  # only where main() runs without our handlers (not the main thread)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return interrupted_code() or EXIT_INTERRUPTED
    except Exception as error:  # a bug of ours: still one line, with what is needed to report it
        print(f"{PROG}: error: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE


def _main(argv: list[str] | None) -> int:
    if threading.current_thread() is threading.main_thread():  # done already when run as a program
        _record_signals()
    args = build_parser().parse_args(argv)
    if args.video is not None:
        if is_batch(args):
            return _batch_main(args)
        args.video = args.video[0]
    elif args.output_dir is not None:
        raise Failure("--output-dir needs --video (a camera is one live stream)", EXIT_BAD_INPUT)
    if sys.platform.startswith("linux") and not args.no_viewer and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise Failure("no display to show the viewer on (DISPLAY is not set); "
                      "run with --no-viewer, or under `xvfb-run -a`", EXIT_BAD_INPUT)
    display = os.environ.get("DISPLAY")
    if sys.platform.startswith("linux") and not args.no_viewer and display \
            and x_display_reachable(display) is False:  # a stale DISPLAY: Open3D drew offscreen, silently
        raise Failure(f"cannot open the X display DISPLAY={display} (no X server there, or it refuses this user); "
                      "fix DISPLAY (e.g. `ssh -X`), run under `xvfb-run -a`, or run with --no-viewer", EXIT_BAD_INPUT)
    check_outputs_spare_inputs(args)
    check_signals()

    try:
        from app.capture import SourceError, open_source
        from app.keypoints import DetectorError, PoseDetector
        from core.lifter import Lifter
        from core.contract import ModelContractError
        from app.pipeline import EstimatorSettings, PoseEstimator, run
        from app.results import RESULT_SUFFIXES, VIDEO_CODECS, AnnotatedVideoWriter, OutputError, ResultsWriter, \
            check_output_path
        from app.output_lock import OutputInUse, OutputLock
        from app.bvh_export import BVH_SUFFIX, BvhWriter
    except (ImportError, OSError) as error:
        raise Failure(describe_import_error(error), EXIT_FAILURE) from None
    check_signals()

    # Everything that can be checked is checked before the first frame is processed.
    try:
        if args.output is not None:
            check_output_path(args.output, (*RESULT_SUFFIXES, BVH_SUFFIX))
        if args.save_video is not None:
            check_output_path(args.save_video, tuple(VIDEO_CODECS))
    except OutputError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None

    with ExitStack() as stack:
        # Two runs writing one file would replace each other's frames (and share the video's
        # temporary file): the second is refused while the first holds the lock.
        for option, path in (("--output", args.output), ("--save-video", args.save_video)):
            if path is not None:
                try:
                    stack.enter_context(OutputLock(path))
                except OutputInUse as error:
                    raise Failure(f"{error}; wait for it to finish or choose another {option} file",
                                  EXIT_BAD_INPUT) from None
        try:
            source = open_source(camera=args.camera, video=args.video)
        except SourceError as error:
            raise Failure(str(error), EXIT_BAD_INPUT) from None
        stack.callback(source.close)
        check_signals()
        try:
            lifter = Lifter(args.model)
        except ModelContractError as error:
            raise Failure(str(error), EXIT_BAD_INPUT) from None
        check_signals()

        show_progress = not args.no_progress and sys.stderr.isatty()  # decided before stderr becomes a pipe
        stack.enter_context(NativeLogFilter())
        settings = estimator_settings(args, EstimatorSettings)
        try:
            detector = PoseDetector()
        except (ImportError, OSError) as error:
            raise Failure(describe_import_error(error), EXIT_FAILURE) from None
        except DetectorError as error:
            raise Failure(str(error), EXIT_FAILURE) from None
        estimator = PoseEstimator(lifter, detector, settings)
        stack.callback(estimator.close)
        check_signals()

        viewer = None
        if not args.no_viewer or args.save_video is not None:
            try:
                from app.viewer import Viewer, ViewerError
            except (ImportError, OSError) as error:
                raise Failure(describe_import_error(error), EXIT_FAILURE) from None
            try:
                viewer = Viewer(visible=not args.no_viewer, frame_size=getattr(source, "size", None))
            except ViewerError as error:
                raise Failure(str(error), EXIT_FAILURE) from None
            stack.callback(viewer.close)
        check_signals()

        # The sinks are closed here rather than by the stack: their last flush runs even when the
        # loop failed, and a failure of that flush is reported like any other.
        results = None
        if args.output is not None:
            # A BVH header holds the frame count: it is written once, at the end, at the source's frame rate.
            results = BvhWriter(args.output, 1.0 / source.fps) if args.output.suffix.lower() == BVH_SUFFIX \
                else ResultsWriter(args.output)
        video = AnnotatedVideoWriter(args.save_video, fps=source.fps) if args.save_video is not None else None
        summary, error = None, None
        stop = threading.Event()  # set by a signal, including one that came before the loop began
        _stop_events.append(stop)
        if _signals_received:
            stop.set()
        try:
            summary = run(source, estimator, results=results, viewer=viewer, video_writer=video,
                          max_frames=args.max_frames, progress=show_progress,
                          on_result=model_watch(lifter, args.model, headless=args.no_viewer), interrupted=stop)
        except KeyboardInterrupt:  # not from our handlers; still an interruption
            error = Failure("interrupted", interrupted_code() or EXIT_INTERRUPTED)
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
        saved = f"; saved {results.frames_saved} frames to {results.path}" if results is not None else ""
        if error is not None:
            raise Failure(f"{error}{'' if results is None or results.failed else saved}", error.code)
        # A video's last frame stays on screen (results already saved) until the user quits;
        # it closed within a second of the end, too soon to look at. Scripts pass --exit-at-end.
        if viewer is not None and not args.no_viewer and args.video is not None and not args.exit_at_end \
                and summary.stopped_by == "end" and not _signals_received:
            print("the video has ended: press Q or Esc in the viewer to quit", flush=True)
            while not stop.is_set() and viewer.hold():
                pass

    line = (f"processed {summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} FPS), "
            f"person found in {summary.detected}")
    if results is not None:
        line += f"; results: {results.path}"
    if video is not None and video.frames_written:
        line += f"; video: {video.path}"
    print(line)
    skipped = getattr(source, "frames_skipped", 0)
    if skipped:
        print(f"{PROG}: warning: {skipped} damaged frames of {args.video} could not be decoded and were skipped",
              file=sys.stderr)
    # A signal during the last save is honoured too: the run never ends with 0 after one.
    if summary.stopped_by == "interrupt" or _signals_received:
        print(f"{PROG}: interrupted{saved}", file=sys.stderr)
        return interrupted_code() or EXIT_INTERRUPTED
    if summary.problem is not None:
        print(f"{PROG}: error: {summary.problem}{saved}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
