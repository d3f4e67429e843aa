"""Checks on real video without ground truth (evaluation/real_video.py), on the shared clips."""
import numpy as np
import pytest

from evaluation import real_video
from core.skeleton import JOINT_INDEX


def test_knee_angles_of_a_straight_and_a_bent_leg():
    pose = np.zeros((2, 17, 3))
    for side, x in (("right", -100.0), ("left", 100.0)):
        pose[:, JOINT_INDEX[f"{side}_hip"]] = (x, 0, 0)
        pose[:, JOINT_INDEX[f"{side}_knee"]] = (x, 450, 0)
    pose[0, JOINT_INDEX["right_ankle"]] = pose[0, JOINT_INDEX["left_ankle"]] = (0, 890, 0)
    pose[0, JOINT_INDEX["right_ankle"], 0], pose[0, JOINT_INDEX["left_ankle"], 0] = -100, 100   # straight
    pose[1, JOINT_INDEX["right_ankle"]] = (-100, 450, 440)                                   # bent 90
    pose[1, JOINT_INDEX["left_ankle"]] = (100, 450, 440)
    np.testing.assert_allclose(real_video.knee_angles(pose), [[180, 180], [90, 90]], atol=1e-6)


def test_squat_phases_pick_the_lowest_and_highest_pelvis():
    keypoints = np.zeros((40, 17, 2))
    keypoints[:, JOINT_INDEX["pelvis"], 1] = 500 + 200 * np.sin(np.arange(40) / 3)   # y down: large is low
    bottom, standing = real_video.squat_phases(keypoints)
    heights = keypoints[:, JOINT_INDEX["pelvis"], 1]
    assert bottom.any() and standing.any() and heights[bottom].min() > heights[standing].max()


@pytest.fixture(scope="module")
def squat_clip(media_dir):
    return real_video.read_clip(media_dir / "pose_squats.mp4")


def test_squat_video_checks_are_complete_and_finite(squat_clip):
    from core.lifter import DEFAULT_MODEL_PATH
    assert squat_clip.is_video and len(squat_clip.keypoints_2d) >= 60 and squat_clip.fps == pytest.approx(5, abs=0.5)
    report = real_video.check_clip(DEFAULT_MODEL_PATH, squat_clip)
    for key in ("mediapipe_pa_mm", "elevation_std_deg", "roll_std_deg", "jitter_m_s2", "knee_bottom_max_deg",
                "knee_standing_min_deg", "bone_asymmetry_pct", "impossible_joints_pct"):
        assert np.isfinite(report[key]), key
    assert 20 < report["mediapipe_pa_mm"] < 300   # a lifter's pose, not a reshuffled one


def test_the_camera_lock_steadies_the_camera_on_a_static_video(squat_clip):
    from core.lifter import DEFAULT_MODEL_PATH, Lifter
    if not Lifter(DEFAULT_MODEL_PATH).can_lift_under_camera:
        pytest.skip("the shipped lifter has no lift-under-camera graph")
    locked = real_video.check_clip(DEFAULT_MODEL_PATH, squat_clip, camera_lock=True)
    free = real_video.check_clip(DEFAULT_MODEL_PATH, squat_clip, camera_lock=False)
    assert locked["elevation_std_deg"] < free["elevation_std_deg"]
    assert locked["elevation_std_deg"] < 5.0


def test_cli_without_media_is_a_one_line_error(tmp_path, capsys):
    assert real_video.main(["--model", "models/repnet.onnx", "--media", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no videos or photos under") and "\n" not in err
