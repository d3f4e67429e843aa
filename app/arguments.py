"""The command line's options (run_demo.py, repnet-live): the parser, the checks on each value,
the exit codes and the one-line failure every error becomes.

Standard library only: `--help` and bad arguments are answered before numpy, MediaPipe or
Open3D is imported (and where they are missing).
"""
from __future__ import annotations

import argparse
import glob
from pathlib import Path
from typing import Callable

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
INTERRUPTED_CODES = (EXIT_INTERRUPTED, EXIT_TERMINATED)
PROG = "run_demo.py"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "repnet.onnx"  # core.lifter's, without numpy
BATCH_ONLY = ("--workers", "--chunks", "--save-videos", "--format", "--ray")


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


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="3D human pose from a webcam or a video: MediaPipe Pose finds 2D keypoints, an ONNX "
                    "RepNet lifter turns them into a 3D skeleton and a camera, and an Open3D window shows both.",
        epilog="Outputs: --output writes per-frame results as .json, .npz or .csv (by extension) or a .bvh "
               "animation; docs/outputs.md describes every field.\n"
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


def is_batch(args: argparse.Namespace) -> bool:
    """Whether --video asks for a batch (app/batch.py); refuses batch-only options without one."""
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


def estimator_settings(args: argparse.Namespace):
    """The PoseEstimator's settings (app.estimator.EstimatorSettings) from the command line: the
    options given, the settings' own defaults for the rest. Imported here, not at the top: the app
    is imported only after the arguments were checked."""
    from app.estimator import EstimatorSettings
    given = {"min_cutoff": args.min_cutoff, "beta": args.beta, "visibility_threshold": args.visibility_threshold,
             "fov_deg": args.fov}
    return EstimatorSettings(smoothing=not args.no_smoothing, camera_lock=args.camera_lock,
                             **{name: value for name, value in given.items() if value is not None})
