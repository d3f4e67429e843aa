"""The person in the room, rendered for real (Open3D under Xvfb): the skeleton where world space
puts it, on the floor grid, the camera frustum at its estimated place, the pelvis trail, a view
that follows a walk, and a screenshot of the tiled 2D and 3D windows."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from app.capture import VideoSource
from app.draw import draw_panel
from app.scene import FRUSTUM_DEPTH_M, GRID_HALF_SIZE_M, GRID_STEP_M, TUBE_SIDES, stand_in_world
from app.world import ANKLE_HEIGHT_M
from core.camera import rotation_about_x
from core.skeleton import JOINT_INDEX, PELVIS
from tests.poses import standing_pose
from tests.viewer_pixels import foreground, side_masks

ANKLES = [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]


@pytest.fixture(scope="module")
def squats(media_dir):
    """(frame, FrameResult) for the first 25 frames of pose_squats.mp4 (720 x 1280, 5 fps), lifted
    by the shipped lifter and placed in the room by app/world.py."""
    from app.estimator import PoseEstimator
    from app.keypoints import PoseDetector
    from core.lifter import DEFAULT_MODEL_PATH, Lifter
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip(f"the shipped lifter {DEFAULT_MODEL_PATH} is missing")
    estimator = PoseEstimator(Lifter(), PoseDetector())
    pairs = []
    try:
        with VideoSource(media_dir / "pose_squats.mp4") as source:
            for frame in source:
                pairs.append((frame, estimator.estimate(frame.image, frame.index, frame.time)))
                if len(pairs) == 25:
                    break
    finally:
        estimator.close()
    assert all(result.joints_world is not None for _, result in pairs)
    return pairs


@pytest.fixture
def viewer(x_display):
    from app.viewer import Viewer
    with Viewer(width=640, height=480, visible=True) as v:
        yield v


def show_result(viewer, frame, result, time_s=None) -> bool:
    return viewer.update(frame.image, result.keypoints_2d, result.visibility, result.pose_3d, result.camera, 5.0,
                         joints_world=result.joints_world, camera_pose=result.camera_pose,
                         time_s=result.time if time_s is None else time_s)


def frustum_tubes(viewer) -> np.ndarray:
    """[tubes, 2, 3]: the centre of each frustum tube's start and end ring."""
    return np.asarray(viewer.meshes.frustum.vertices).reshape(-1, 2, TUBE_SIDES, 3).mean(axis=2)


def inside(mask: np.ndarray, margin: int = 2) -> bool:
    """Whether the mask's pixels are all in the picture, clear of its border (not cut off)."""
    rows, cols = np.nonzero(mask)
    return (len(rows) > 0 and rows.min() >= margin and cols.min() >= margin
            and rows.max() < mask.shape[0] - margin and cols.max() < mask.shape[1] - margin)


def test_the_skeleton_stands_on_the_floor_grid_where_world_space_puts_it(viewer, squats):
    for frame, result in squats:
        assert show_result(viewer, frame, result)
        centres = viewer.meshes.joint_centres()
        np.testing.assert_allclose(centres, result.joints_world, atol=1e-9)  # drawn where the results say
        grid = np.asarray(viewer.meshes.grid.points)
        assert (grid[:, 1] == 0.0).all()  # the grid is the floor plane, y = 0
        # The sole of the lowest foot on that plane (its ankle joint ANKLE_HEIGHT_M above it).
        assert abs(centres[ANKLES, 1].min() - ANKLE_HEIGHT_M) < 0.03
        # The grid lies under the person, moved in whole squares (its lines stay put on the floor).
        centre = (grid.min(axis=0) + grid.max(axis=0)) / 2
        assert np.abs(centre[[0, 2]] - result.root_world[[0, 2]]).max() <= GRID_STEP_M / 2 + 1e-9
        assert np.allclose(np.round(centre / GRID_STEP_M) * GRID_STEP_M, centre)
        assert np.ptp(grid[:, 0]) == np.ptp(grid[:, 2]) == 2 * GRID_HALF_SIZE_M


def test_the_camera_frustum_stands_at_the_estimated_camera_and_looks_at_the_person(viewer, squats):
    for frame, result in squats[::4]:
        show_result(viewer, frame, result)
        tubes = frustum_tubes(viewer)
        apex = result.camera_pose[:, 3]
        np.testing.assert_allclose(tubes[:4, 0], np.tile(apex, (4, 1)), atol=1e-9)  # the edges leave the apex
        np.testing.assert_allclose(tubes[-1], [apex, apex * [1, 0, 1]], atol=1e-9)  # the post down to the floor
        assert 0.8 < apex[1] < 1.8  # a camera at a person's chest height, as the video was filmed
        # The image plane's centre lies along the camera's optical axis, which points at the person.
        image_centre = tubes[4:8, 0].mean(axis=0)
        axis = (image_centre - apex) / FRUSTUM_DEPTH_M
        np.testing.assert_allclose(axis, result.camera_pose[:, 2], atol=1e-9)
        to_person = result.root_world - apex
        assert np.degrees(np.arccos(axis @ to_person / np.linalg.norm(to_person))) < 15
        image = viewer.render_3d()
        masks = side_masks(image)
        for name in ("left", "right", "frustum"):  # the person and the camera both in view
            assert masks[name].sum() > 30 and inside(masks[name]), name


def test_the_trail_follows_the_pelvis_and_fades(viewer, squats):
    from app.scene_meshes import BACKGROUND, TRAIL_COLOR, TRAIL_SECONDS
    walk = []
    for i, (frame, result) in enumerate(squats[:16]):  # walking sideways, 10 cm a frame at 5 fps
        moved = result.joints_world + [0.1 * i, 0.0, 0.0]
        viewer.update(frame.image, None, None, None, None, 5.0, joints_world=moved,
                      camera_pose=result.camera_pose, time_s=result.time)
        walk.append(moved[PELVIS])
    np.testing.assert_allclose(viewer.meshes.trail_points(), walk, atol=1e-9)
    colors = np.asarray(viewer.meshes.trail.colors)
    brightness = colors.sum(axis=1)
    live = len(walk) - 1  # 3 s of walking, younger than the trail's lifetime: every segment shows
    assert np.allclose(colors[-1], TRAIL_COLOR)  # the newest at full colour
    assert (np.diff(brightness[-live:]) > 0).all()  # the older, the dimmer
    assert np.allclose(colors[:-live], BACKGROUND)
    image = viewer.render_3d()
    r, g, b = (image[..., i].astype(int) for i in range(3))
    assert ((g > 120) & (g > r + 60) & (g > b + 20)).sum() > 20  # the trail's green is on screen
    # Nobody for longer than the trail lasts: it has faded away.
    viewer.update(None, None, None, None, None, 5.0, time_s=squats[15][1].time + TRAIL_SECONDS + 0.1)
    assert np.allclose(np.asarray(viewer.meshes.trail.colors), BACKGROUND)


def walk_away(steps: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """A person walking from 1.5 m to 7 m in front of a camera 1.3 m up, tilted down, and across."""
    joints, camera_pose = stand_in_world(standing_pose() / 1000.0, rotation_about_x(np.array(-0.15)))
    camera_pose[1, 3] = 1.3
    placed = []
    for distance, across in zip(np.linspace(1.5, 7.0, steps), np.linspace(-1.0, 2.0, steps)):
        offset = np.array([across, 0.0, -distance]) - joints[PELVIS] * [1, 0, 1]
        placed.append((joints + offset, camera_pose))
    return placed


def test_the_view_follows_a_walk_keeping_person_and_camera_in_view(viewer):
    sizes = []
    for step, (joints, camera_pose) in enumerate(walk_away()):
        viewer.update(None, None, None, None, None, 30.0, joints_world=joints, camera_pose=camera_pose,
                      time_s=10.0 * step)  # 10 s apart: the view has glided to its place
        masks = side_masks(viewer.render_3d())
        for name in ("left", "right", "frustum"):
            assert masks[name].sum() > 15 and inside(masks[name]), (step, name)
        sizes.append(np.ptp(np.nonzero(masks["left"] | masks["right"])[0]))
    assert sizes[-1] < sizes[0]  # the view backs off as the person walks away, not the other way


def test_following_a_walk_frame_by_frame_keeps_the_distance_it_wants(viewer):
    """At 30 frames a second the look-at point moves along the line of sight between updates;
    that is no scroll of the user's, so the distance stays the follower's own."""
    placed = walk_away(steps=90)
    for step, (joints, camera_pose) in enumerate(placed):
        viewer.update(None, None, None, None, None, 30.0, joints_world=joints, camera_pose=camera_pose,
                      time_s=step / 30.0)
    for _ in range(60):  # standing at the end: the glide settles on the target
        step += 1
        viewer.update(None, None, None, None, None, 30.0, joints_world=joints, camera_pose=camera_pose,
                      time_s=step / 30.0)
    wanted = viewer.follow.target(camera_pose[:, 3], joints[PELVIS])[1]
    assert abs(viewer.follow.eye_distance() - wanted) < 0.02 * wanted


def test_a_scroll_is_kept_while_following_and_R_resets_it(viewer):
    (joints, camera_pose), *_ = walk_away()
    viewer.update(None, None, None, None, None, 30.0, joints_world=joints, camera_pose=camera_pose, time_s=100.0)
    wanted = viewer.follow.target(camera_pose[:, 3], joints[PELVIS])[1]
    assert abs(viewer.follow.eye_distance() - wanted) < 0.02 * wanted
    viewer._vis.get_view_control().scale(4.0)  # what a turn of the mouse wheel does
    scrolled = viewer.follow.eye_distance()
    assert scrolled > 1.05 * wanted
    viewer.update(None, None, None, None, None, 30.0, joints_world=joints, camera_pose=camera_pose, time_s=100.1)
    assert abs(viewer.follow.eye_distance() - scrolled) < 0.02 * scrolled  # the user's zoom stays
    viewer.key_callbacks[ord("R")](None)
    assert abs(viewer.follow.eye_distance() - wanted) < 0.02 * wanted


def landscape(image: np.ndarray) -> np.ndarray:
    """pose_1.mp4's square frames widened to 4:3 (mirrored edges), the shape of a webcam's."""
    pad = image.shape[0] * 4 // 3 - image.shape[1]
    return cv2.copyMakeBorder(image, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REFLECT)


@pytest.mark.parametrize("video", ["pose_squats.mp4", "pose_1.mp4"])
def test_a_screenshot_shows_the_2d_and_3d_windows_side_by_side(x_display, media_dir, video):
    """The whole X screen: the 2D panel and the 3D view tiled without overlap, each showing its own
    picture (the panel as drawn, the 3D view as rendered, with skeleton pixels), for a portrait
    (720 x 1280) and a landscape video."""
    from app.display import grab_screen, screen_size
    from app.estimator import PoseEstimator
    from app.keypoints import PoseDetector
    from app.viewer import KEYS_HELP, Viewer
    from core.lifter import Lifter
    with VideoSource(media_dir / video) as source:
        first = next(iter(source)).image
    image = first if video == "pose_squats.mp4" else landscape(first)
    estimator = PoseEstimator(Lifter(), PoseDetector())
    try:
        result = estimator.estimate(image, 0, 0.0)
    finally:
        estimator.close()
    assert result.joints_world is not None
    screen_w, screen_h = screen_size()
    with Viewer(visible=True, frame_size=(image.shape[1], image.shape[0])) as viewer:
        panel_rect = viewer.panel_rect
        for step in range(4):  # Qt paints on the next event loop turns
            viewer.update(image, result.keypoints_2d, result.visibility, result.pose_3d, result.camera, 30.0,
                          "camera: estimating", joints_world=result.joints_world, camera_pose=result.camera_pose,
                          latency_ms=40.0, time_s=10.0 * step)
            time.sleep(0.05)
        shot = grab_screen()
        rendered = viewer.render_3d()
    x, y, w, h = panel_rect
    view_w, view_h = rendered.shape[1], rendered.shape[0]
    assert shot.shape == (screen_h, screen_w, 3)
    assert x + w <= screen_w - view_w and view_h <= screen_h and h <= screen_h  # side by side, on the screen
    if image.shape[0] > image.shape[1]:
        assert h < image.shape[0] and w < image.shape[1]  # the portrait frame was scaled down to fit
    expected_panel = cv2.resize(draw_panel(image, result.keypoints_2d, result.visibility, 30.0, "camera: estimating",
                                           40.0, KEYS_HELP), (w, h), interpolation=cv2.INTER_AREA)
    panel_on_screen = shot[y:y + h, x:x + w].astype(int)
    assert np.abs(panel_on_screen - expected_panel).mean() < 2.0  # the whole panel, nothing over it
    view_on_screen = shot[0:view_h, x + w:x + w + view_w]
    assert np.abs(view_on_screen.astype(int) - rendered[..., ::-1]).mean() < 2.0  # the whole 3D view
    masks = side_masks(view_on_screen[..., ::-1])
    assert masks["left"].sum() > 30 and masks["right"].sum() > 30 and masks["frustum"].sum() > 30
    assert foreground(view_on_screen[..., ::-1]).mean() > 0.02
