"""2D drawing for the video panel and the annotated video (OpenCV only, no Open3D needed).

    panel = draw_panel(frame_bgr, keypoints_2d, visibility, fps, status, latency_ms, keys)  # the 2D window
    picture = draw_annotated(frame_bgr, keypoints_2d, visibility, viewer.render_3d(), fps)
                                                            # --save-video, the docs' and results' figures

The side colours are shared with the 3D viewer so that a bone has the same colour in both
panels: the person's left side is blue, the right side orange-red, the spine and head light grey.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from app.occlusion import VISIBILITY_THRESHOLD  # below it a joint is an estimate: drawn see-through
from core.skeleton import BONES, NUM_JOINTS, bone_side, joint_side

# RGB in [0, 1] (Open3D's convention); the 2D drawing converts them to 8-bit BGR.
SIDE_COLORS: dict[str, tuple[float, float, float]] = {
    "left": (0.15, 0.50, 1.00),
    "right": (1.00, 0.30, 0.10),
    "center": (0.85, 0.85, 0.85),
}


def _bgr(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in rgb[::-1])


BONE_COLORS_BGR = [_bgr(SIDE_COLORS[bone_side(bone)]) for bone in BONES]
JOINT_COLORS_BGR = [_bgr(SIDE_COLORS[joint_side(j)]) for j in range(NUM_JOINTS)]


ESTIMATE_OPACITY = 0.4   # joints below the visibility threshold (held or guessed): see-through, not hollow


def draw_keypoints_2d(frame_bgr: np.ndarray, keypoints_2d: np.ndarray | None,
                      visibility: np.ndarray | None = None,
                      threshold: float = VISIBILITY_THRESHOLD) -> np.ndarray:
    """A copy of the frame with the 17 keypoints [17, 2] (pixels) and their bones drawn on it.

    Visible joints are filled dots with thick bones. Joints whose visibility [17] is below
    `threshold` are estimates: placed by the occlusion rule (app/occlusion.py) where they were last
    seen, or MediaPipe's guess. They and their bones are drawn the same way but see-through
    (ESTIMATE_OPACITY over the frame), so they read as a dimmed part of the body rather than as
    hollow rings in empty space. Non-finite keypoints are left out. keypoints_2d None (no person)
    returns the plain copy.
    """
    out = np.array(frame_bgr, dtype=np.uint8, copy=True)
    if keypoints_2d is None:
        return out
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints_2d must have shape ({NUM_JOINTS}, 2), got {kp.shape}")
    vis = np.ones(NUM_JOINTS) if visibility is None else np.asarray(visibility, dtype=np.float64)
    if vis.shape != (NUM_JOINTS,):
        raise ValueError(f"visibility must have shape ({NUM_JOINTS},), got {vis.shape}")
    finite = np.isfinite(kp).all(axis=1)
    seen = finite & (vis >= threshold)
    # cv2 wants ints; far off-screen landmarks are clipped so they stay ints (cv2 clips lines).
    points = np.clip(np.nan_to_num(np.round(kp)), -1e5, 1e5).astype(np.int32)
    scale = max(1, round(min(out.shape[:2]) / 240))  # thicker strokes on larger frames
    bones = [(p, c, color) for (p, c), color in zip(BONES, BONE_COLORS_BGR) if finite[p] and finite[c]]
    estimated_bones = [bone for bone in bones if not (seen[bone[0]] and seen[bone[1]])]
    estimated_joints = [j for j in range(NUM_JOINTS) if finite[j] and not seen[j]]
    _draw_see_through(out, points, estimated_bones, estimated_joints, scale)
    _draw_parts(out, points, [bone for bone in bones if seen[bone[0]] and seen[bone[1]]],
                [j for j in range(NUM_JOINTS) if seen[j]], scale)
    return out


def _draw_parts(image: np.ndarray, points: np.ndarray, bones: list, joints: list, scale: int) -> None:
    for parent, child, color in bones:
        cv2.line(image, tuple(points[parent]), tuple(points[child]), color, 2 * scale, cv2.LINE_AA)
    for j in joints:
        cv2.circle(image, tuple(points[j]), 3 * scale, JOINT_COLORS_BGR[j], -1, cv2.LINE_AA)


def _draw_see_through(image: np.ndarray, points: np.ndarray, bones: list, joints: list, scale: int) -> None:
    """Draw the parts on a copy of the patch they cover, then blend that patch back: blending the
    whole frame would cost about a millisecond at 720p for a few small shapes."""
    used = sorted({j for bone in bones for j in bone[:2]} | set(joints))
    if not used:
        return
    margin = 3 * scale + 2
    low = np.maximum(points[used].min(axis=0) - margin, 0)
    high = np.minimum(points[used].max(axis=0) + margin + 1, [image.shape[1], image.shape[0]])
    if (high <= low).any():
        return  # entirely off the frame
    patch = image[low[1]:high[1], low[0]:high[0]]
    layer = patch.copy()
    _draw_parts(layer, points - low, bones, joints, scale)
    cv2.addWeighted(layer, ESTIMATE_OPACITY, patch, 1.0 - ESTIMATE_OPACITY, 0.0, dst=patch)


def draw_fps(frame_bgr: np.ndarray, fps: float, paused: bool = False, status: str = "",
             latency_ms: float | None = None) -> np.ndarray:
    """Write the status line in the top-left corner, in place; returns the frame: "12.3 FPS",
    then the latency from capture to display, "PAUSED" and a status such as the camera lock's.
    fps 0 (or not finite) means not measured yet, as on a run's first frame: the rate is left out
    then, rather than written as "0.0 FPS"; so is a latency that is None."""
    parts = [f"{fps:5.1f} FPS"] if np.isfinite(fps) and fps > 0 else []
    if latency_ms is not None and np.isfinite(latency_ms):
        parts.append(f"{latency_ms:.0f} ms latency")
    text = "  ".join(parts + (["PAUSED"] if paused else []) + ([status] if status else []))
    if text:
        _put_text(frame_bgr, text, top=True)
    return frame_bgr


def draw_keys(frame_bgr: np.ndarray, keys: str) -> np.ndarray:
    """Write `keys` (the viewer's key help) along the bottom-left edge, in place; returns the frame.
    The line never changes: it is drawn once per frame size and copied (0.05 ms, not 0.6 ms)."""
    if keys:
        strip, ink = _bottom_line(keys, frame_bgr.shape[0], frame_bgr.shape[1])
        np.copyto(frame_bgr[-len(strip):], strip, where=ink)
    return frame_bgr


@lru_cache(maxsize=8)
def _bottom_line(text: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The bottom rows of a height x width frame with `text` written on them, and where the ink is."""
    rows = min(height, 80)
    strip = np.zeros((rows, width, 3), np.uint8)
    ink = np.zeros((rows, width, 3), np.uint8)
    _put_text(strip, text, top=False, frame_height=height)
    _put_text(ink, text, top=False, frame_height=height, colors=((255, 255, 255), (255, 255, 255)))
    return strip, ink > 0


def _put_text(frame_bgr: np.ndarray, text: str, top: bool, frame_height: int | None = None,
              colors: tuple = ((0, 0, 0), (255, 255, 255))) -> None:
    """`text` along the top or bottom edge of a frame frame_height tall (default: frame_bgr's; a
    bottom strip of it can be drawn alone), sized to the frame and shrunk to fit its width."""
    height = frame_bgr.shape[0] if frame_height is None else frame_height
    scale = max(0.5, min(height, frame_bgr.shape[1]) / 800)
    width = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    if width > frame_bgr.shape[1] - 20:  # a narrow (portrait) frame: smaller letters, not a cut-off line
        scale *= (frame_bgr.shape[1] - 20) / width
    y = int(10 + 25 * scale) if top else frame_bgr.shape[0] - int(12 * scale) - 4
    # A dark outline under the white text keeps it readable on any background.
    cv2.putText(frame_bgr, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colors[0], 4, cv2.LINE_AA)
    cv2.putText(frame_bgr, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colors[1], 1, cv2.LINE_AA)


def compose_side_by_side(left_bgr: np.ndarray, right_rgb: np.ndarray) -> np.ndarray:
    """One BGR image: the annotated frame on the left, the 3D view (RGB, as render_3d returns it)
    on the right, scaled to the frame's height."""
    for name, image in (("left_bgr", left_bgr), ("right_rgb", right_rgb)):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{name} must be a uint8 H x W x 3 image, got {image.dtype} {image.shape}")
    right = cv2.cvtColor(right_rgb, cv2.COLOR_RGB2BGR)
    height = left_bgr.shape[0]
    if right.shape[0] != height:
        width = max(1, round(right.shape[1] * height / right.shape[0]))
        right = cv2.resize(right, (width, height), interpolation=cv2.INTER_AREA)
    return np.hstack([left_bgr, right])


def draw_panel(frame_bgr: np.ndarray, keypoints_2d: np.ndarray | None, visibility: np.ndarray | None,
               fps: float | None = None, status: str = "", latency_ms: float | None = None,
               keys: str = "") -> np.ndarray:
    """The 2D panel: a copy of the frame with its keypoints, and where `fps` is given (not on still
    figures) the status line (draw_fps) and the key help along the bottom (the live window's)."""
    panel = draw_keypoints_2d(frame_bgr, keypoints_2d, visibility)
    if fps is None:
        return panel
    return draw_keys(draw_fps(panel, fps, status=status, latency_ms=latency_ms), keys)


def draw_annotated(frame_bgr: np.ndarray, keypoints_2d: np.ndarray | None, visibility: np.ndarray | None,
                   view_rgb: np.ndarray, fps: float | None = None, status: str = "") -> np.ndarray:
    """The annotated picture (--save-video, and the figures of the docs): the 2D panel beside the
    3D view (RGB, as Viewer.render_3d returns it), one BGR image."""
    return compose_side_by_side(draw_panel(frame_bgr, keypoints_2d, visibility, fps, status), view_rgb)
