"""The viewer renders for real (Open3D under Xvfb, or EGL offscreen) and the tests read the pixels."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from core.camera import rotation_about_x, rotation_about_y
from core.skeleton import JOINT_INDEX, NUM_JOINTS
from tests.poses import standing_pose
from tests.viewer_pixels import foreground, side_masks

STANDING_POSE = standing_pose()

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONTAL_CAMERA = np.eye(3)[:2] * 0.01  # weak perspective K = s * R[:2], the person facing the camera


@pytest.fixture
def viewer(x_display):
    from app.viewer import Viewer
    with Viewer(width=640, height=480, visible=True) as v:
        yield v


def show(viewer, pose, camera, frame=None) -> np.ndarray:
    """One frame 10 s after the last: the view has finished gliding to its place."""
    show.time_s = getattr(show, "time_s", 0.0) + 10.0
    assert viewer.update(frame, None, None, pose, camera, fps=30.0, time_s=show.time_s)
    return viewer.render_3d()


def test_frontal_pose_shows_left_and_right_in_their_colours_on_their_sides(viewer):
    frame = np.full((480, 640, 3), 40, np.uint8)
    image = show(viewer, STANDING_POSE, FRONTAL_CAMERA, frame)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    masks = side_masks(image)
    for name in ("left", "right", "frustum"):
        assert masks[name].sum() > 150, f"too few {name} pixels: {masks[name].sum()}"
    # The person faces the default view: their left side is on the image's right.
    left_x = np.nonzero(masks["left"])[1].mean()
    right_x = np.nonzero(masks["right"])[1].mean()
    assert left_x > right_x + 10
    assert 0.02 < foreground(image).mean() < 0.5  # a scene, neither blank nor flooded
    assert viewer.has_panel  # under a display the 2D window opens too


def test_skeleton_follows_the_pose(viewer):
    top_before = np.nonzero(side_masks(show(viewer, STANDING_POSE, FRONTAL_CAMERA))["left"])[0].min()
    raised = STANDING_POSE.copy()
    raised[JOINT_INDEX["left_elbow"]] = [200, -700, 0]
    raised[JOINT_INDEX["left_wrist"]] = [220, -950, 0]  # left hand above the head
    top_after = np.nonzero(side_masks(show(viewer, raised, FRONTAL_CAMERA))["left"])[0].min()
    assert top_after < top_before - 20  # image y grows downwards


def test_a_camera_that_turns_about_the_person_turns_the_person_in_the_room(viewer):
    """Without world space the pose stands in front of its camera (app.scene.stand_in_world): a
    camera seeing the person from their right shows them side-on in the room, and a camera tilted
    by 0.3 rad shows as a tilted frustum."""
    from app.scene import FRUSTUM_DEPTH_M, TUBE_SIDES
    hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]

    def placed(camera):
        masks = side_masks(show(viewer, STANDING_POSE, camera))
        centres = viewer.meshes.joint_centres()
        tubes = np.asarray(viewer.meshes.frustum.vertices).reshape(-1, 2, TUBE_SIDES, 3).mean(axis=2)
        axis = (tubes[4:8, 0].mean(axis=0) - tubes[0, 0]) / FRUSTUM_DEPTH_M  # apex to the image's centre
        return masks, centres[hips[0]] - centres[hips[1]], axis

    masks, hip_axis, axis = placed(FRONTAL_CAMERA)
    assert hip_axis[0] > 0.25 and abs(hip_axis[2]) < 1e-6  # facing the camera: left hip to its right (+x)
    assert abs(axis[1]) < 1e-6 and axis[2] < -0.99           # a level camera looking along -z
    turned = (rotation_about_x(np.array(-0.3)) @ rotation_about_y(np.array(-np.pi / 2)))[:2] * 0.01  # from their right
    masks_turned, hip_axis, axis = placed(turned)
    assert abs(hip_axis[0]) < 1e-6 and abs(hip_axis[2]) > 0.25  # side-on: the hips along the line of sight
    assert np.isclose(abs(np.arcsin(axis[1])), 0.3)
    assert masks_turned["frustum"].sum() > 150
    left_x, right_x = (np.nonzero(masks_turned[side])[1].mean() for side in ("left", "right"))
    assert abs(left_x - right_x) < abs(np.nonzero(masks["left"])[1].mean() - np.nonzero(masks["right"])[1].mean())


def test_no_person_greys_the_last_pose_and_keeps_the_view(viewer):
    show(viewer, STANDING_POSE, FRONTAL_CAMERA)
    nobody = show(viewer, None, None, np.zeros((480, 640, 3), np.uint8))
    masks = side_masks(nobody)
    assert masks["left"].sum() == 0 and masks["right"].sum() == 0 and masks["frustum"].sum() == 0
    assert foreground(nobody).mean() > 0.02  # the grey skeleton, frustum and grid are still there
    # Degenerate lifter outputs (non-finite, collapsed to a point) count as nobody, too.
    nan_pose = np.full((NUM_JOINTS, 3), np.nan)
    assert side_masks(show(viewer, nan_pose, FRONTAL_CAMERA))["left"].sum() == 0
    assert side_masks(show(viewer, np.zeros((NUM_JOINTS, 3)), FRONTAL_CAMERA))["left"].sum() == 0
    back = side_masks(show(viewer, STANDING_POSE, FRONTAL_CAMERA))
    assert back["left"].sum() > 150 and back["right"].sum() > 150


def test_keys_pause_reset_and_quit(viewer):
    from app.viewer import KEY_SPACE
    original = show(viewer, STANDING_POSE, FRONTAL_CAMERA)

    viewer.key_callbacks[ord("P")](None)
    assert viewer.paused
    turned = rotation_about_y(np.array(1.0))[:2]
    frozen = show(viewer, STANDING_POSE * 0.5, turned)  # ignored while paused
    assert np.array_equal(frozen, original)
    viewer.key_callbacks[KEY_SPACE](None)
    assert not viewer.paused
    assert not np.array_equal(show(viewer, STANDING_POSE * 0.5, turned), original)

    show(viewer, STANDING_POSE, FRONTAL_CAMERA)
    viewer._vis.get_view_control().rotate(300.0, 100.0)  # as a mouse drag would
    assert not np.array_equal(show(viewer, STANDING_POSE, FRONTAL_CAMERA), original)
    viewer.key_callbacks[ord("R")](None)
    assert np.abs(show(viewer, STANDING_POSE, FRONTAL_CAMERA).astype(int) - original).max() <= 1

    viewer.key_callbacks[ord("Q")](None)
    assert viewer.update(None, None, None, STANDING_POSE, FRONTAL_CAMERA, 30.0) is False


def test_escape_quits(viewer):
    from app.viewer import KEY_ESCAPE
    assert viewer.update(None, None, None, STANDING_POSE, FRONTAL_CAMERA, 30.0)
    viewer.key_callbacks[KEY_ESCAPE](None)
    assert viewer.update(None, None, None, STANDING_POSE, FRONTAL_CAMERA, 30.0) is False


def test_bad_shapes_are_named(viewer):
    with pytest.raises(ValueError, match="pose_3d"):
        viewer.update(None, None, None, np.zeros((16, 3)), FRONTAL_CAMERA, 30.0)
    with pytest.raises(ValueError, match="camera"):
        viewer.update(None, None, None, None, np.zeros((3, 3)), 30.0)
    with pytest.raises(ValueError, match="joints_world"):
        viewer.update(None, None, None, None, None, 30.0, joints_world=np.zeros((16, 3)), camera_pose=np.eye(4)[:3])
    with pytest.raises(ValueError, match="camera_pose"):
        viewer.update(None, None, None, None, None, 30.0, joints_world=STANDING_POSE / 1000, camera_pose=np.eye(3))


def test_invisible_viewer_renders_offscreen_even_with_a_display(x_display):
    from app.viewer import Viewer
    with Viewer(visible=False) as viewer:
        assert os.environ["DISPLAY"] == x_display and not viewer.has_panel
        masks = side_masks(show(viewer, STANDING_POSE, FRONTAL_CAMERA))
        assert masks["left"].sum() > 150 and masks["right"].sum() > 150


def test_stale_display_gets_no_2d_window_instead_of_an_abort(x_display, monkeypatch):
    from app.viewer import Viewer
    monkeypatch.setenv("DISPLAY", ":4093")  # nothing listens there
    with Viewer(visible=True) as viewer:  # Open3D falls back to EGL; Qt would abort the process
        assert not viewer.has_panel
        assert side_masks(show(viewer, STANDING_POSE, FRONTAL_CAMERA))["left"].sum() > 150


def test_egl_offscreen_without_a_display():
    """With no DISPLAY at all Open3D falls back to EGL: the headless --save-video path."""
    script = textwrap.dedent("""
        import numpy as np
        from app.viewer import Viewer
        from tests.poses import standing_pose
        with Viewer(visible=True) as v:
            assert not v.has_panel
            assert v.update(None, None, None, standing_pose(), np.eye(3)[:2], 30.0)
            image = v.render_3d()
        print(image.shape, int((image[..., 2] > image[..., 0] + 80).sum()))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    shape, blue_pixels = result.stdout.strip().rsplit(")", 1)
    assert shape == "(480, 640, 3" and int(blue_pixels) > 150
