"""The camera lock: camera angles, the lock's estimate and release, and the lift under a known camera."""
import numpy as np
import pytest

from app.camera_lock import CameraLock, CameraLockSettings
from core.camera import camera_angles, rotation_about_x, rotation_about_y, rotation_about_z


def weak_perspective(elevation_deg: float, roll_deg: float, azimuth_deg: float = 30.0, scale: float = 2.0):
    """K = s * (Rz(roll) Rx(-elevation) Ry(azimuth))[:2], as core.camera.random_camera_rotations builds R."""
    e, r, a = np.deg2rad([elevation_deg, roll_deg, azimuth_deg])
    return scale * (rotation_about_z(r) @ rotation_about_x(-e) @ rotation_about_y(a))[:2]


@pytest.mark.parametrize("elevation, roll", [(0, 0), (25, -4), (-12, 7), (44, 2)])
def test_camera_angles_give_back_the_angles_a_camera_was_made_with(elevation, roll):
    import torch
    from models.losses import camera_angles as camera_angles_torch
    K = weak_perspective(elevation, roll)
    assert np.allclose(np.degrees(camera_angles(K)), [elevation, roll], atol=1e-6)
    assert np.allclose(np.degrees(camera_angles_torch(torch.from_numpy(K[None]).float())[0].numpy()),
                       [elevation, roll], atol=1e-3)


def feed(lock: CameraLock, elevations, rolls, fps: float) -> tuple[np.ndarray, list[bool]]:
    """Degrees [F, 2] the lock says to lift each frame under, and whether it was locked then."""
    out, locked = [], []
    for i, (e, r) in enumerate(zip(elevations, rolls)):
        out.append(np.degrees(lock.update(weak_perspective(e, r), i / fps)))
        locked.append(lock.state.locked)
    return np.stack(out), locked


def test_lock_settles_in_two_seconds_and_holds_through_swinging_estimates():
    """Free estimates swinging by +-20 degrees (the unlocked lifter on a squat video) give a camera
    that stays near their centre instead of swinging with every squat."""
    rng = np.random.default_rng(0)
    elevations = 12 + 20 * np.sin(np.arange(65) / 3) + rng.normal(0, 3, 65)
    lock = CameraLock()
    out, locked = feed(lock, elevations, rng.normal(0, 2, 65), fps=5.0)
    assert locked.index(True) == 10 and all(locked[10:])   # 5 fps: locked after 2 s, and stays locked
    assert out[10:, 0].std() < elevations.std() / 4
    # the first two seconds caught the swing's upper half; the lock then creeps towards the centre
    assert abs(out[-1, 0] - 12) < abs(out[10, 0] - 12) - 5 and np.abs(out[:, 1]).max() < 3
    assert "locked" in lock.state.describe()


def test_lock_lets_go_when_the_camera_moves_and_locks_again_where_it_went():
    fps = 30.0
    elevations = np.r_[np.full(90, 5.0), np.full(210, 45.0)]   # the phone is tilted down after 3 s
    lock = CameraLock()
    out, locked = feed(lock, elevations, np.zeros(300), fps=fps)
    assert locked[89] and out[89, 0] == pytest.approx(5.0, abs=0.1)
    released = [i for i in range(90, 300) if not locked[i]]
    assert released and (released[0] - 90) / fps <= CameraLockSettings().release_s + 0.1
    assert locked[-1] and out[-1, 0] == pytest.approx(45.0, abs=0.1)


def test_lock_ignores_a_few_wild_estimates():
    elevations = np.full(120, 10.0)
    elevations[70:75] = 70.0   # one odd pose for a sixth of a second
    out, locked = feed(CameraLock(), elevations, np.zeros(120), fps=30.0)
    assert all(locked[60:]) and np.abs(out[:, 0] - 10).max() < 1


@pytest.fixture(scope="module")
def lifter_with_camera_graph(tiny_training_run, tmp_path_factory):
    from core.lifter import Lifter
    from core.contract import camera_graph_path
    from export.camera_graph import export_camera_graph
    from export.onnx_export import export_checkpoint
    out_dir, _ = tiny_training_run
    path = tmp_path_factory.mktemp("lock") / "tiny.onnx"
    export_checkpoint(out_dir / "checkpoint.pt", path, verify=False)
    difference = export_camera_graph(out_dir / "checkpoint.pt", camera_graph_path(path), precision="fp32")
    assert difference < 1e-3   # the graph is verified against torch
    return Lifter(path)


def test_lift_under_a_given_camera_follows_that_camera(lifter_with_camera_graph, tiny_training_run):
    """Told the camera, the lifter's own camera comes out near it: what the camera lock relies on."""
    from models.checkpoint import load_checkpoint
    lifter = lifter_with_camera_graph
    assert lifter.can_lift_under_camera
    keypoints = load_checkpoint(tiny_training_run[0] / "checkpoint.pt")["reference_inputs"].numpy()[:64]
    told = {e: np.degrees(camera_angles(lifter.lift(keypoints, np.deg2rad([e, 0.0])).camera))[:, 0]
            for e in (-10.0, 35.0)}
    assert np.median(told[35.0]) - np.median(told[-10.0]) > 8.0   # 300 steps in: well on its way
    free = lifter.lift(keypoints)
    assert free.valid.all() and np.isfinite(free.pose_3d).all()


def test_a_lifter_without_camera_graph_cannot_lift_under_a_camera(tmp_path):
    from core.lifter import DEFAULT_MODEL_PATH, Lifter
    from core.contract import camera_graph_path
    import shutil
    path = tmp_path / "plain.onnx"
    shutil.copy(DEFAULT_MODEL_PATH, path)
    lifter = Lifter(path)
    assert not lifter.can_lift_under_camera and not camera_graph_path(path).exists()
    with pytest.raises(ValueError, match="no lift-under-camera graph"):
        lifter.lift(np.random.default_rng(0).normal(size=(17, 2)) * 100, np.zeros(2))


def test_the_app_locks_the_camera_on_a_video_and_says_so(lifter_with_camera_graph, media_dir):
    import cv2
    from app.keypoints import PoseDetector
    from app.estimator import EstimatorSettings, PoseEstimator
    capture = cv2.VideoCapture(str(media_dir / "pose_squats.mp4"))
    frames = [capture.read()[1] for _ in range(20)]
    capture.release()
    statuses, elevations = {}, {}
    for mode in ("auto", "off"):
        estimator = PoseEstimator(lifter_with_camera_graph, PoseDetector(), EstimatorSettings(camera_lock=mode))
        statuses[mode], cameras = [], []
        try:
            for index, image in enumerate(frames):   # 5 fps
                result = estimator.estimate(image, index, index / 5.0)
                statuses[mode].append(estimator.status())
                cameras.append(result.camera)
        finally:
            estimator.close()
        assert all(c is not None for c in cameras)
        elevations[mode] = np.degrees(camera_angles(np.stack(cameras[10:])))[:, 0]   # after the 2 s warm-up
    assert statuses["off"] == [""] * 20
    assert statuses["auto"][0] == "camera: estimating" and statuses["auto"][-1].startswith("camera locked")
    assert elevations["auto"].std() < elevations["off"].std()   # every frame lifted under one camera
