"""World space (app/world.py): a known walk seen through a known camera comes back on its path, and
on real video the feet stay on the floor while the pelvis goes down in every squat."""
from __future__ import annotations

import numpy as np
import pytest

from app.world import ANKLE_HEIGHT_M, WorldTracker, focal_length_px
from core.camera import canonicalize
from core.skeleton import JOINT_INDEX

WIDTH, HEIGHT, FOV = 1280, 720, 60.0
CAMERA_HEIGHT_M = 1.4


def test_focal_length_uses_the_longer_side_and_refuses_an_absurd_fov():
    assert focal_length_px((1280, 720), 90.0) == pytest.approx(640.0)
    assert focal_length_px((720, 1280), 90.0) == pytest.approx(640.0)  # a phone held upright
    with pytest.raises(ValueError, match="between 1 and 170 degrees"):
        WorldTracker(fov_deg=180.0)


@pytest.fixture(scope="module")
def seen_walk(data_root):
    """A real CMU walk (07_01, 3.8 m) in the world (mm, y down, floor y = 0), projected through a
    pinhole 1.4 m above the floor, off to the side, that the person walks towards and across."""
    from models.data.bvh import read_bvh
    from models.data.cmu import bvh_to_h36m
    walk = bvh_to_h36m(read_bvh(data_root / "cmu_mocap" / "daz_friendly" / "07" / "07_01.bvh"), fps=30)
    walk = walk.astype(np.float64)
    position = np.array([3000.0, -CAMERA_HEIGHT_M * 1000.0, -4500.0])
    forward = np.array([500.0, -900.0, 0.0]) - position
    forward /= np.linalg.norm(forward)
    down = np.array([0.0, 1.0, 0.0]) - forward[1] * forward
    down /= np.linalg.norm(down)
    camera_from_world = np.stack([np.cross(down, forward), down, forward])
    in_camera = (walk - position) @ camera_from_world.T
    focal = focal_length_px((WIDTH, HEIGHT), FOV)
    keypoints = focal * in_camera[..., :2] / in_camera[..., 2:] + np.array([WIDTH / 2, HEIGHT / 2])
    assert (keypoints.min() > 0) and (keypoints[..., 0].max() < WIDTH) and (keypoints[..., 1].max() < HEIGHT)
    # The true pelvis in the tracker's world frame: y up from the floor, x the camera's right
    # made level, origin on the floor below the camera.
    up = -down_in_camera(camera_from_world)
    right = np.array([1.0, 0.0, 0.0]) - up[0] * up
    right /= np.linalg.norm(right)
    world_from_camera = np.stack([right, up, np.cross(right, up)])
    root = in_camera[:, 0] / 1000.0 @ world_from_camera.T + np.array([0.0, CAMERA_HEIGHT_M, 0.0])
    return walk, keypoints, root


def down_in_camera(camera_from_world: np.ndarray) -> np.ndarray:
    return camera_from_world @ np.array([0.0, 1.0, 0.0])


def exact_lift(keypoints: np.ndarray, pose_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lifter a perfect model would be: the true canonical pose, and the weak-perspective
    camera that best maps it to the normalized 2D (least squares)."""
    pose = canonicalize(pose_world)
    normalized = keypoints - keypoints[0]
    normalized /= np.sqrt(np.mean(np.sum(normalized ** 2, axis=1)))
    camera = np.linalg.lstsq(pose, normalized, rcond=None)[0].T
    return pose, camera


@pytest.mark.parametrize("lifter_kind", ["exact", "shipped"])
def test_a_known_walk_comes_back_on_its_path(seen_walk, lifter_kind):
    walk, keypoints, true_root = seen_walk
    if lifter_kind == "shipped":
        from core.lifter import Lifter
        lifted = Lifter().lift(keypoints.astype(np.float32))
        assert lifted.valid.all()
        frames = zip(lifted.pose_3d, lifted.camera)
    else:
        frames = (exact_lift(k, p) for k, p in zip(keypoints, walk))
    tracker = WorldTracker(FOV)
    placed = [tracker.update(pose, camera, k, (WIDTH, HEIGHT), i / 30.0)
              for i, ((pose, camera), k) in enumerate(zip(frames, keypoints))]
    root = np.array([p.root_world for p in placed])
    walked = np.linalg.norm(np.diff(true_root[:, [0, 2]], axis=0), axis=1).sum()
    assert walked > 3.5  # the person really walks: from 6.7 m to 3.4 m away and across the image
    error = np.linalg.norm(root - true_root, axis=1)
    assert error.max() < 0.10 * walked, f"largest error {error.max():.2f} m over {walked:.2f} m walked"
    # The camera: its pose is a rotation, and it stands about as high as it was put.
    pose = placed[-1].camera_pose
    np.testing.assert_allclose(pose[:, :3] @ pose[:, :3].T, np.eye(3), atol=1e-9)
    assert abs(pose[1, 3] - CAMERA_HEIGHT_M) < 0.3
    # The root in the camera frame is where the pelvis was.
    in_camera = np.array([p.root_camera for p in placed])
    true_distance = np.linalg.norm(pose[:, :3].T @ (true_root - pose[:, 3]).T, axis=0)
    assert np.abs(np.linalg.norm(in_camera, axis=1) / true_distance - 1).max() < 0.1
    # In a walk, every frame has a foot on the floor or about to be, and each foot is planted sometimes.
    contact = np.array([p.foot_contact for p in placed])
    assert contact.any(axis=0).all()


def test_a_planted_foot_does_not_slide():
    """A person standing still 3 m away whose lifter's scale jitters by 2% (6 cm of distance): the
    feet stay put and on the floor."""
    from core.skeleton import REST_POSE
    rng = np.random.default_rng(0)
    tracker = WorldTracker(FOV)
    focal = focal_length_px((WIDTH, HEIGHT), FOV)
    in_camera = REST_POSE.astype(np.float64) + np.array([200.0, 0.0, 3000.0])
    keypoints = focal * in_camera[:, :2] / in_camera[:, 2:] + np.array([WIDTH / 2, HEIGHT / 2])
    pose, camera = exact_lift(keypoints, REST_POSE.astype(np.float64))
    feet, distances = [], []
    for i in range(60):
        placed = tracker.update(pose, camera * (1.0 + rng.normal(0, 0.02)), keypoints, (WIDTH, HEIGHT), i / 30.0)
        assert placed.foot_contact.all()
        feet.append(placed.joints_world[[JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]])
        distances.append(np.linalg.norm(placed.root_camera))
    assert np.ptp(distances) > 0.03   # the jitter gets through the distance's smoothing
    feet = np.array(feet)
    assert np.ptp(feet[:, :, [0, 2]], axis=0).max() < 0.01
    np.testing.assert_allclose(feet[:, :, 1], ANKLE_HEIGHT_M, atol=1e-3)


@pytest.fixture(scope="module")
def squat_results(media_dir):
    """The real pipeline (MediaPipe, the shipped lifter, world space) over pose_squats.mp4."""
    from app.capture import VideoSource
    from app.keypoints import PoseDetector
    from core.lifter import Lifter
    from app.estimator import PoseEstimator
    from app.pipeline import run
    source = VideoSource(media_dir / "pose_squats.mp4")
    estimator = PoseEstimator(Lifter(), PoseDetector())
    results = []
    try:
        run(source, estimator, on_result=results.append, progress=False)
    finally:
        source.close()
        estimator.close()
    return results


def test_squats_keep_the_feet_on_the_floor_and_the_pelvis_goes_down(squat_results):
    placed = [r for r in squat_results if r.joints_world is not None]
    assert len(placed) >= 0.9 * len(squat_results) >= 55
    joints = np.array([r.joints_world for r in placed])
    ankles = joints[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]], 1]
    lowest = ankles.min(axis=1)
    assert np.ptp(lowest) <= 0.03, f"lowest ankle between {lowest.min():.3f} and {lowest.max():.3f} m"
    root = np.array([r.root_world for r in placed])
    np.testing.assert_allclose(root, joints[:, 0])
    # The squats, found in the image (the pelvis's pixel row, y down) independently of world space.
    pixel_y = np.array([r.keypoints_2d[0, 1] for r in placed])
    middle = 0.5 * (pixel_y.min() + pixel_y.max())
    low = pixel_y > middle
    starts = np.flatnonzero(low[1:] & ~low[:-1]) + 1
    ends = np.flatnonzero(~low[1:] & low[:-1]) + 1
    squats = [(s, e if e > s else len(low)) for s in starts for e in [ends[ends > s][0] if (ends > s).any() else len(low)]]
    assert len(squats) >= 3
    # Every squat lowers the pelvis in the room. How deep is the lifter's accuracy, not world space's:
    # evaluation.real_video scores the knee angles against the 2D.
    standing = np.median(root[~low, 1])
    for start, end in squats:
        assert root[start:end, 1].min() < standing - 0.05, f"squat in frames {start}-{end}"
    # Every frame has a planted foot; the camera is above the floor, not past the person. (Its
    # height wanders by about 0.4 m with the squats on this clip: the floor is fitted to ankles
    # whose measured height follows the lifter's scale.)
    assert np.array([r.foot_contact for r in placed]).any(axis=1).all()
    positions = np.array([r.camera_pose[:, 3] for r in placed])
    assert (positions[:, 1] > 0.2).all() and (positions[:, 1] < 2.5).all()
    assert (np.array([r.root_camera[2] for r in placed]) > 1.0).all()


def test_fov_option_is_checked_in_one_line():
    from app.arguments import Failure, build_parser
    args = build_parser().parse_args(["--video", "clip.mp4", "--fov", "75"])
    assert args.fov == 75.0
    with pytest.raises(Failure, match="between 1 and 170 degrees"):
        build_parser().parse_args(["--video", "clip.mp4", "--fov", "200"])
