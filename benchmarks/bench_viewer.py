"""Per-frame cost of the viewer (figures in docs/viewer.md).

    python benchmarks/bench_viewer.py                                            # no DISPLAY: EGL offscreen
    xvfb-run -a -s "-screen 0 1280x1024x24" python benchmarks/bench_viewer.py   # X11, as in the tests

A person waving and walking through the room (world space: joints_world and camera_pose, so the
view follows, the grid moves and the trail grows) at 640x480, timed per call over --frames frames
after a warm-up: Viewer.update with the 3D view alone and with the 2D window and its status line
too (only where a display exists), for an invisible viewer (EGL offscreen) and a window (X11); the
2D drawing; and what --save-video adds per frame (render_3d, draw_annotated).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from app.draw import draw_annotated, draw_panel
from app.scene import stand_in_world
from app.viewer import KEYS_HELP, Viewer
from core.camera import rotation_about_x, rotation_about_y
from core.skeleton import JOINT_INDEX, NUM_JOINTS, REST_POSE


def moving_inputs(n: int, width: int, height: int):
    """Per frame: (pose mm, camera K, keypoints_2d px, visibility, joints_world m, camera_pose) for
    a waving, turning person walking to and fro in front of the camera."""
    rng = np.random.default_rng(0)
    for i in range(n):
        pose = REST_POSE.astype(np.float64).copy()
        wave = np.sin(i * 0.2)
        pose[JOINT_INDEX["left_elbow"]] += [60 * wave, -250 * (1 + wave), 0]
        pose[JOINT_INDEX["left_wrist"]] += [120 * wave, -500 * (1 + wave), 0]
        R = rotation_about_x(np.array(-0.2)) @ rotation_about_y(np.array(0.02 * i))
        K = R[:2] * 0.2
        keypoints = (pose @ K.T) + [width / 2, height / 2]
        visibility = rng.uniform(0.3, 1.0, NUM_JOINTS)
        joints_world, camera_pose = stand_in_world(pose / 1000.0, R)
        joints_world += [1.5 * np.sin(i * 0.01), 0.0, -1.5 * (1 - np.cos(i * 0.013))]  # about the room
        yield pose, K, keypoints, visibility, joints_world, camera_pose


def summary(name: str, seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"{name:<36} median {np.median(ms):6.2f} ms   p90 {np.percentile(ms, 90):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    frame = np.full((args.height, args.width, 3), 90, np.uint8)
    inputs = list(moving_inputs(args.frames + 20, args.width, args.height))
    display = os.environ.get("DISPLAY")
    print(f"DISPLAY={display or '(none: EGL offscreen)'}  {args.frames} frames at {args.width}x{args.height}")

    times: dict[str, list[float]] = {}

    def timed(name: str, i: int, call):
        t0 = time.perf_counter()
        value = call()
        if i >= 20:  # warm-up: first uploads and shader compilation
            times.setdefault(name, []).append(time.perf_counter() - t0)
        return value

    # visible=False renders offscreen with EGL even where a display exists (app/viewer.py).
    modes = [("offscreen", False)] + ([("window", True)] if display else [])
    for mode, visible in modes:
        with Viewer(args.width, args.height, visible=visible) as viewer:
            for i, (pose, K, keypoints, visibility, joints, camera_pose) in enumerate(inputs):
                world = {"joints_world": joints, "camera_pose": camera_pose, "time_s": i / 30.0}
                timed(f"{mode}: update, 3D only", i, lambda: viewer.update(None, None, None, pose, K, 30.0, **world))
                if viewer.has_panel:
                    timed(f"{mode}: update, 3D + 2D window", i,
                          lambda: viewer.update(frame, keypoints, visibility, pose, K, 30.0, "camera: estimating",
                                                latency_ms=40.0, **world))
                rendered = timed(f"{mode}: render_3d", i, viewer.render_3d)
    for i, (pose, K, keypoints, visibility, _, _) in enumerate(inputs):
        timed("draw_panel (2D keypoints + status)", i,
              lambda: draw_panel(frame, keypoints, visibility, 30.0, "camera: estimating", 40.0, KEYS_HELP))
        timed("draw_annotated (panel + 3D view)", i, lambda: draw_annotated(frame, keypoints, visibility, rendered, 30.0))
    for name, seconds in times.items():
        print(summary(name, seconds))


if __name__ == "__main__":
    main()
