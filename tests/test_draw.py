"""The 2D drawing (app/draw.py, OpenCV only): pixels of the drawn keypoints, estimates and text."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.draw import (BONE_COLORS_BGR, ESTIMATE_OPACITY, JOINT_COLORS_BGR, SIDE_COLORS, compose_side_by_side,
                      draw_fps, draw_keypoints_2d, draw_panel)
from app.occlusion import OcclusionFilter
from core.skeleton import BONES, JOINT_INDEX, NUM_JOINTS, PELVIS

GREY = 100  # a background that is neither black nor white, so that see-through shows as a blend


def left_leg(ankle_visibility: float) -> tuple[np.ndarray, np.ndarray]:
    kp = np.full((NUM_JOINTS, 2), np.nan)
    hip, knee, ankle = JOINT_INDEX["left_hip"], JOINT_INDEX["left_knee"], JOINT_INDEX["left_ankle"]
    kp[[hip, knee, ankle]] = [[200, 80], [200, 240], [200, 400]]  # (x, y) pixels
    kp[JOINT_INDEX["right_hip"]] = [440, 80]
    visibility = np.ones(NUM_JOINTS)
    visibility[ankle] = ankle_visibility
    return kp, visibility


def blend(color: tuple[int, int, int], background: int = GREY) -> np.ndarray:
    return ESTIMATE_OPACITY * np.asarray(color) + (1 - ESTIMATE_OPACITY) * background


def test_visible_joints_are_filled_dots_with_thick_bones_and_nan_joints_are_left_out():
    frame = np.zeros((480, 640, 3), np.uint8)
    kp, visibility = left_leg(1.0)
    out = draw_keypoints_2d(frame, kp, visibility)
    assert not frame.any()  # the input is left alone
    hip = JOINT_INDEX["left_hip"]
    left_bgr = JOINT_COLORS_BGR[hip]
    assert tuple(out[80, 200]) == left_bgr and tuple(out[84, 200]) == left_bgr  # a filled dot
    assert tuple(out[160, 200]) == left_bgr  # on the hip-knee bone
    assert tuple(out[80, 440]) == JOINT_COLORS_BGR[JOINT_INDEX["right_hip"]] != left_bgr
    assert (out[160, 190:210] > 0).any(axis=1).sum() >= 4  # thick bones at 480 px
    assert not out[240:, 300:].any()  # nothing drawn for the missing (NaN) joints
    assert np.array_equal(draw_keypoints_2d(frame, None, None), frame)
    with pytest.raises(ValueError, match="keypoints_2d"):
        draw_keypoints_2d(frame, np.zeros((33, 2)), None)
    with pytest.raises(ValueError, match="visibility"):
        draw_keypoints_2d(frame, kp, np.ones(16))


def test_an_estimated_joint_is_a_dimmed_dot_not_a_hollow_ring():
    """A joint below the visibility threshold is the whole dot and its bone at ESTIMATE_OPACITY
    over the frame: its centre is coloured (a ring left it empty), and dimmer than a seen joint."""
    frame = np.full((480, 640, 3), GREY, np.uint8)
    kp, visibility = left_leg(0.1)
    out = draw_keypoints_2d(frame, kp, visibility).astype(int)
    ankle, knee = JOINT_INDEX["left_ankle"], JOINT_INDEX["left_knee"]
    color = JOINT_COLORS_BGR[ankle]
    for y in (400, 403, 397):  # the centre and inside the dot: filled, the colour at 40%
        assert np.abs(out[y, 200] - blend(color)).max() <= 1, out[y, 200]
    knee_to_ankle = BONE_COLORS_BGR[BONES.index((knee, ankle))]
    assert np.abs(out[320, 200] - blend(knee_to_ankle)).max() <= 1  # its bone: same width, dimmed
    assert (np.abs(out[320, 190:210] - GREY).max(axis=1) > 10).sum() >= 4
    assert tuple(out[160, 200]) == BONE_COLORS_BGR[BONES.index((JOINT_INDEX["left_hip"], knee))]  # seen: full
    assert tuple(out[240, 200]) == JOINT_COLORS_BGR[knee]  # the seen knee is drawn over the dimmed bone
    untouched = np.ones(out.shape[:2], bool)
    untouched[60:420, 180:220] = untouched[60:100, 180:460] = False
    assert (out[untouched] == GREY).all()  # blending a patch changes nothing outside the shapes


def test_a_joint_held_by_the_occlusion_rule_is_drawn_dimmed_where_it_is_held():
    """The occlusion rule holds a hand that stops being seen at its last place beside the body:
    drawn there, dimmed (it was a hollow ring in empty space)."""
    rule = OcclusionFilter()
    kp = np.stack([np.full(NUM_JOINTS, 320.0), np.linspace(60, 420, NUM_JOINTS)], axis=1)
    wrist = JOINT_INDEX["left_wrist"]
    kp[wrist] = [500, 200]
    visibility = np.ones(NUM_JOINTS)
    rule(kp, visibility, 0.0)
    moved = kp.copy()
    moved[wrist] = [90, 450]  # MediaPipe's guess for the hidden hand, somewhere else
    visibility[wrist] = 0.05
    placed, held = rule(moved, visibility, 0.1)
    assert held[wrist] and not held[PELVIS] and np.allclose(placed[wrist], [500, 200])
    frame = np.full((480, 640, 3), GREY, np.uint8)
    out = draw_keypoints_2d(frame, placed, visibility).astype(int)
    assert np.abs(out[200, 500] - blend(JOINT_COLORS_BGR[wrist])).max() <= 1
    assert (out[440:460, 80:100] == GREY).all()  # nothing at the guess the rule replaced


def test_no_rate_is_written_before_one_is_measured():
    """A run's first frame has no measured rate (0): it said "0.0 FPS"."""
    frame = np.zeros((480, 640, 3), np.uint8)
    assert not draw_fps(frame, 0.0).any() and not draw_fps(frame, float("nan")).any()
    status_only = draw_fps(np.zeros_like(frame), 0.0, status="camera locked")
    with_rate = draw_fps(np.zeros_like(frame), 29.7, status="camera locked")
    ends = [np.nonzero(image.any(axis=(0, 2)))[0].max() for image in (status_only, with_rate)]
    scale = max(0.5, 480 / 800)
    rate_width = cv2.getTextSize(" 29.7 FPS  ", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0]
    assert abs((ends[1] - ends[0]) - rate_width) <= 3  # the same status, without the rate before it
    panel = draw_panel(np.zeros((480, 640, 3), np.uint8), None, None, 0.0)
    assert not panel.any()  # the first frame of a run with no status: nothing in the corner


def text_end(image: np.ndarray) -> int:
    return int(np.nonzero(image.any(axis=(0, 2)))[0].max())


def test_the_status_line_says_the_latency_and_the_keys_go_along_the_bottom():
    blank = np.zeros((480, 640, 3), np.uint8)
    plain = draw_fps(blank.copy(), 29.7, status="camera locked")
    with_latency = draw_fps(blank.copy(), 29.7, status="camera locked", latency_ms=41.2)
    added = cv2.getTextSize("41 ms latency  ", cv2.FONT_HERSHEY_SIMPLEX, max(0.5, 480 / 800), 1)[0][0]
    assert abs((text_end(with_latency) - text_end(plain)) - added) <= 3
    panel = draw_panel(blank, None, None, 29.7, "", 41.0, keys="P pause   R reset view   Q quit")
    rows = np.nonzero(panel.any(axis=(1, 2)))[0]
    assert rows.min() < 40 and rows.max() > 450 and not panel[60:420].any()  # a line at the top, one at the bottom
    assert not draw_panel(blank, None, None, None, "", 41.0, keys="P pause").any()  # a still figure: no text


def test_a_line_too_long_for_a_narrow_frame_is_made_smaller_not_cut_off():
    from app.draw import draw_keys
    from app.viewer import KEYS_HELP
    narrow = draw_keys(np.zeros((1280, 300, 3), np.uint8), KEYS_HELP)
    assert 250 < text_end(narrow) < 295


def test_draw_fps_writes_text_in_the_corner():
    frame = np.zeros((480, 640, 3), np.uint8)
    draw_fps(frame, 29.7, paused=True)
    assert frame[:60, :300].any() and not frame[100:].any()


def test_side_colours_match_the_3d_view():
    blue = SIDE_COLORS["left"]
    assert JOINT_COLORS_BGR[JOINT_INDEX["left_wrist"]] == tuple(round(255 * c) for c in blue[::-1])


def test_compose_side_by_side_matches_heights_and_channel_order():
    left = np.zeros((480, 640, 3), np.uint8)
    right = np.zeros((240, 320, 3), np.uint8)
    right[..., 0] = 255  # pure red in RGB
    both = compose_side_by_side(left, right)
    assert both.shape == (480, 1280, 3)
    assert tuple(both[100, 1000]) == (0, 0, 255)  # red in BGR
    with pytest.raises(ValueError, match="right_rgb"):
        compose_side_by_side(left, right[..., 0])
