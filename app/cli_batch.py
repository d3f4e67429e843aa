"""The command line's batches (--output-dir): every video through worker processes or Ray tasks
(app/batch.py), headless; one line per failed video and a summary line."""
from __future__ import annotations

import argparse
import sys
import threading

from app import stop_signals
from app.arguments import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Failure, estimator_settings
from app.cli_checks import check_signals, import_app, load_lifter
from app.native_logs import NativeLogFilter

BATCH_MODULES = ("app.batch", "app.batch_plan", "core.lifter", "core.contract", "app.estimator")


def run_batch_command(args: argparse.Namespace, prog: str) -> int:
    """Exit 1 if any video failed, 130/143 if interrupted."""
    import_app(BATCH_MODULES)
    from app.batch import run_batch
    from app.batch_plan import BatchError, BatchSettings, expand_videos
    try:
        if args.ray is not None:  # before any output is touched: Ray is optional
            from app.ray_batch import import_ray
            import_ray()
        videos = expand_videos(args.video)
    except BatchError as error:
        raise Failure(str(error), EXIT_BAD_INPUT) from None
    load_lifter(args.model)  # refused here, once, rather than in every worker
    check_signals()
    settings = BatchSettings(output_dir=args.output_dir, fmt=args.format, save_videos=args.save_videos,
                             workers=args.workers or 0, chunks=args.chunks, max_frames=args.max_frames,
                             model=args.model, estimator=estimator_settings(args),
                             progress=not args.no_progress and sys.stderr.isatty(), ray=args.ray)
    stop = stop_signals.stop_on_signal(threading.Event())
    with NativeLogFilter():  # the workers inherit the filtered stderr
        try:
            summary = run_batch(videos, settings, stop)
        except BatchError as error:
            raise Failure(str(error), EXIT_BAD_INPUT) from None
    for outcome in summary.outcomes:
        if outcome.status == "failed":
            print(f"{prog}: error: {outcome.video}: {outcome.message}", file=sys.stderr)
    counts = ", ".join(f"{summary.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")
                       if summary.count(s) or s in ("done", "failed"))
    print(f"{len(summary.outcomes)} videos: {counts}; {summary.frames} frames in {summary.seconds:.1f} s "
          f"({summary.fps:.1f} FPS) on {settings.workers} {'Ray tasks at once' if args.ray is not None else 'workers'}; "
          f"results in {settings.output_dir}")
    if summary.interrupted or stop_signals.received:
        print(f"{prog}: interrupted; finished videos are kept and skipped on a rerun", file=sys.stderr)
        return stop_signals.interrupted_code() or EXIT_INTERRUPTED
    return EXIT_FAILURE if summary.count("failed") else EXIT_OK
