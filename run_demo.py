#!/usr/bin/env python3
"""RepNet Live: your 3D pose from a webcam or a video, in real time.

    python run_demo.py --camera 0                              # webcam, Open3D viewer
    python run_demo.py --video clip.mp4 --output poses.json    # a video, as fast as it goes
    python run_demo.py --video clip.mp4 --no-viewer --output poses.npz --save-video annotated.mp4

The command line is app/cli.py (installed as the `repnet-live` command too); `--help` lists the
options, the output formats and the exit codes.
"""
import sys

if __name__ == "__main__":
    # SIGINT and SIGTERM are recorded, never raised, from this first line on (app/stop_signals.py
    # says why); not when imported, where pytest's own Ctrl-C must keep working.
    from app import stop_signals
    stop_signals.record()
    from app.cli import run_program
    sys.exit(run_program())
