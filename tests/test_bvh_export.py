"""BVH export (app/bvh_export.py, run_demo --output x.bvh): read back by an independent reader
(bvhio, from PyPI), forward kinematics of the file puts every joint within 1 mm of the exported
pose, limbs turn about their hinge instead of spinning, frame count and frame time are the
video's, and bad input is one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.bvh_export import joints_world_from_results, resample, write_bvh
from app.bvh_skeleton import SKELETON, euler_degrees, euler_matrix, reference_body, solve_rotations
from core.lifter import DEFAULT_MODEL_PATH
from core.skeleton import JOINT_INDEX, NUM_JOINTS, REFERENCE_BONE_LENGTHS_MM, REST_POSE

bvhio = pytest.importorskip("bvhio", reason="bvhio (the independent BVH reader) is missing: "
                                            "pip install -r requirements-dev.txt")
import glm  # noqa: E402  (installed with bvhio)

REPO_ROOT = Path(__file__).resolve().parents[1]


def read_back(path: Path) -> tuple[np.ndarray, float]:
    """Every H36M joint [F, 17, 3] in metres by forward kinematics of the file as bvhio reads it,
    and the frame time. Joints come from bvhio's own hierarchy; the End Sites (ankles, wrists,
    head), which that drops, from its parsed channels, checked against the hierarchy first."""
    container = bvhio.readAsBvh(str(path))
    root = bvhio.convertBvhToHierarchy(container.Root)
    by_name = {joint.name: joint for joint in SKELETON}
    out = np.full((container.FrameCount, NUM_JOINTS, 3), np.nan)
    for frame in range(container.FrameCount):
        root.loadPose(frame)
        placed = {joint.Name: np.array(joint.PositionWorld) for joint, _, _ in root.layout()}

        def walk(joint, position, rotation) -> None:
            key = joint.Keyframes[frame]
            here = position + rotation * key.Position
            turn = rotation * key.Rotation
            assert np.allclose(np.array(here), placed[joint.Name], atol=1e-3)  # 0.01 mm: bvhio agrees with itself
            out[frame, by_name[joint.Name].start] = np.array(here) / 100.0
            if not joint.Children:
                out[frame, by_name[joint.Name].end_site] = np.array(here + turn * joint.EndSite) / 100.0
            for child in joint.Children:
                walk(child, here, turn)

        walk(container.Root, glm.vec3(0.0), glm.quat())
    return out, container.FrameTime


def to_world(poses_mm: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Canonical poses (mm, y down, facing -z) to the world frame (m, y up, facing +z) at `root`."""
    return poses_mm / 1000.0 * np.array([1.0, -1.0, -1.0]) + root


@pytest.fixture(scope="module")
def cmu_walk(data_root) -> np.ndarray:
    """A real CMU walk (07_01, 30 fps) in the world frame: arms swing, knees bend."""
    from models.data.bvh import read_bvh
    from models.data.cmu import bvh_to_h36m
    walk = bvh_to_h36m(read_bvh(data_root / "cmu_mocap" / "daz_friendly" / "07" / "07_01.bvh"), fps=30)
    walk = walk.astype(np.float64)
    return to_world(walk, np.array([0.0, 0.0, -3.0]))   # its floor at y = 0, walking through the room


def test_euler_angles_round_trip_in_every_order_and_at_gimbal_lock():
    rng = np.random.default_rng(0)
    for order in ("ZXY", "ZYX", "YZX", "XYZ", "YXZ", "XZY"):
        for angles in [*rng.uniform(-180, 180, size=(100, 3)), (30, 90, 40), (-70, -90, 10)]:
            rotation = euler_matrix(np.array(angles), order)
            assert np.allclose(euler_matrix(euler_degrees(rotation, order), order), rotation, atol=1e-9), order


def test_synthetic_motion_round_trips_within_1mm(tmp_path):
    """A standing body that walks 1 m across, turns, and raises an arm, with 2 cm noise on every joint."""
    rng = np.random.default_rng(1)
    frames = 40
    poses = []
    for n in range(frames):
        yaw = np.radians(4.5 * n)
        turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        pose = to_world(REST_POSE.astype(np.float64), np.zeros(3))
        pose[JOINT_INDEX["left_wrist"]] += [0.0, 0.02 * n, 0.0]
        poses.append(pose @ turn.T + np.array([n / frames, 0.95, -3.0]))
    poses = np.array(poses) + rng.normal(scale=0.02, size=(frames, NUM_JOINTS, 3))
    path = tmp_path / "walk.bvh"
    assert write_bvh(path, np.arange(frames) / 25.0, poses, 1 / 25.0) == frames
    read, frame_time = read_back(path)
    assert read.shape == (frames, NUM_JOINTS, 3) and frame_time == pytest.approx(1 / 25.0, abs=1e-8)
    assert np.abs(read - reference_body(poses)).max() < 0.001
    # The file's bones are the reference body's, whatever the measured lengths were.
    thigh = np.linalg.norm(read[:, JOINT_INDEX["left_knee"]] - read[:, JOINT_INDEX["left_hip"]], axis=1)
    assert np.allclose(thigh, REFERENCE_BONE_LENGTHS_MM["left_knee"] / 1000.0, atol=1e-5)


def test_a_real_walk_round_trips_and_knees_and_elbows_turn_about_their_hinge(tmp_path, cmu_walk):
    path = tmp_path / "walk.bvh"
    write_bvh(path, np.arange(len(cmu_walk)) / 30.0, cmu_walk, 1 / 30.0)
    read, _ = read_back(path)
    assert len(read) == len(cmu_walk)
    assert np.abs(read - reference_body(cmu_walk)).max() < 0.001

    names = [joint.name for joint in SKELETON]
    previous, jumps, off_hinge = None, [], []
    for pose in cmu_walk:
        rotations = solve_rotations(pose, previous)
        if previous is not None:  # the largest turn of any joint between two frames (1/30 s)
            jumps.append(max(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))
                             for a, b in zip(previous, rotations)))
        previous = rotations
        for upper, lower in (("left_hip", "left_knee"), ("right_hip", "right_knee"),
                             ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow")):
            local = rotations[names.index(upper)].T @ rotations[names.index(lower)]
            angle = np.degrees(np.arccos(np.clip((np.trace(local) - 1) / 2, -1, 1)))
            if angle > 20.0:  # a clear bend: its axis is the limb's rest hinge (x for knees, y for elbows)
                axis = np.array([local[2, 1] - local[1, 2], local[0, 2] - local[2, 0], local[1, 0] - local[0, 1]])
                hinge = 0 if "hip" in upper else 1
                off_hinge.append(np.degrees(np.arccos(abs(axis[hinge]) / np.linalg.norm(axis))))
    assert max(jumps) < 30.0      # no joint spins round between frames
    assert len(off_hinge) > 50 and np.percentile(off_hinge, 95) < 15.0


def test_frames_without_a_person_hold_the_last_pose(tmp_path):
    pose = to_world(REST_POSE.astype(np.float64), np.array([0.0, 0.95, -3.0]))
    poses = np.stack([pose + [0.1 * n, 0, 0] for n in range(6)])
    poses[[0, 3, 4]] = np.nan      # nobody in the first frame, nor in frames 3 and 4
    path = tmp_path / "gaps.bvh"
    assert write_bvh(path, np.arange(6) / 10.0, poses, 0.1) == 6
    read, _ = read_back(path)
    expected = reference_body(poses[[1, 1, 2, 2, 2, 5]])
    assert np.abs(read - expected).max() < 0.001


def test_uneven_webcam_times_are_resampled_to_the_frame_rate():
    times = np.array([0.0, 0.031, 0.070, 0.101, 0.166, 0.200])   # 30 fps with a late and a dropped frame
    poses = np.arange(6, dtype=np.float64)[:, None, None] * np.ones((6, NUM_JOINTS, 3))
    grid = resample(times, poses, 1 / 30.0)
    assert len(grid) == 7                                         # 0.2 s at 30 fps
    assert grid[:, 0, 0].tolist() == [0, 1, 2, 3, 3, 4, 5]        # the dropped frame holds the one before


# --- the app, on real video ------------------------------------------------------------------------
def _model() -> Path:
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip(f"the shipped lifter {DEFAULT_MODEL_PATH} is missing")
    return DEFAULT_MODEL_PATH


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


def test_run_demo_writes_a_bvh_with_the_videos_frames_and_rate_and_feet_on_the_floor(tmp_path, media_dir):
    import cv2
    video = media_dir / "pose_squats.mp4"
    capture = cv2.VideoCapture(str(video))
    fps, count = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    out = tmp_path / "squats.bvh"
    result = _run("run_demo.py", "--video", video, "--no-viewer", "--no-progress", "--model", _model(),
                  "--output", out)
    assert result.returncode == 0, result.stderr
    read, frame_time = read_back(out)
    assert len(read) == count and frame_time == pytest.approx(1.0 / fps, abs=1e-7)
    # The person stands in the room: the lower ankle near the floor (y = 0) in every frame, and the
    # pelvis lower at the bottom of a squat than when standing.
    lowest = read[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]], 1].min(axis=1)
    assert lowest.min() > -0.05 and lowest.max() < 0.25
    assert np.ptp(read[:, 0, 1]) > 0.1     # how deep is the lifter's accuracy (evaluation.real_video)


def test_recorded_results_convert_to_the_pose_the_app_placed(tmp_path, media_dir):
    """The world joints rebuilt from a saved JSON (pose, camera, root, camera pose) are the ones the
    pipeline placed; the command turns that JSON into a BVH that reproduces them."""
    import cv2
    from app.keypoints import PoseDetector
    from core.lifter import Lifter
    from app.estimator import PoseEstimator
    from app.results import read_results
    from app.results_writer import ResultsWriter
    capture = cv2.VideoCapture(str(media_dir / "pose_squats.mp4"))
    images = [capture.read()[1] for _ in range(15)]
    capture.release()
    estimator = PoseEstimator(Lifter(_model()), PoseDetector())
    try:
        results = [estimator.estimate(image, index, index / 5.0) for index, image in enumerate(images)]
    finally:
        estimator.close()
    placed = np.stack([r.joints_world for r in results])
    recorded = tmp_path / "squats.json"
    with ResultsWriter(recorded) as writer:
        for r in results:
            writer.add(r)
    assert np.abs(joints_world_from_results(read_results(recorded)) - placed).max() < 0.001

    out = tmp_path / "squats.bvh"
    done = _run("-m", "app.bvh_export", recorded, out)
    assert done.returncode == 0 and done.stdout.strip() == f"wrote 15 frames to {out}", done.stderr
    read, frame_time = read_back(out)
    assert frame_time == pytest.approx(0.2, abs=1e-7)
    assert np.abs(read - reference_body(placed)).max() < 0.001


def _one_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("python -m app.bvh_export: error: ")
    return lines[0]


def _frame(index: int, **fields) -> dict:
    frame = {"index": index, "time": index / 30.0, "detected": False, "keypoints_2d": None, "visibility": None,
             "pose_3d": None, "camera": None, "root_world": None, "root_camera": None, "camera_pose": None,
             "foot_contact": None}
    frame.update(fields)
    return frame


@pytest.mark.parametrize("content, expected", [
    ({"frames": [_frame(0), _frame(1)]}, "has no 3D poses"),
    ({"frames": [_frame(0, detected=True, pose_3d=REST_POSE.tolist(), camera=[[1, 0, 0], [0, 1, 0]])]},
     "no world-space fields"),
    ("this is not JSON", "is not a results file"),
])
def test_results_without_3d_are_a_one_line_error(tmp_path, content, expected):
    path = tmp_path / "results.json"
    if isinstance(content, dict):
        content = json.dumps({"joints": ["j"] * NUM_JOINTS, **content})
    path.write_text(content)
    line = _one_line(_run("-m", "app.bvh_export", path, tmp_path / "out.bvh"))
    assert expected in line and str(path) in line
    assert not (tmp_path / "out.bvh").exists()


def test_an_existing_bvh_is_never_replaced_without_force(tmp_path):
    existing = tmp_path / "mine.bvh"
    existing.write_text("the user's animation")
    line = _one_line(_run("-m", "app.bvh_export", tmp_path / "missing.json", existing))
    assert "exists" in line and "--force" in line
    assert existing.read_text() == "the user's animation"
    assert "does not exist" in _one_line(_run("-m", "app.bvh_export", tmp_path / "missing.json", tmp_path / "new.bvh"))


def test_run_demo_says_in_one_line_when_no_frame_had_a_person(tmp_path):
    import cv2
    video = tmp_path / "empty_room.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(10):
        writer.write(np.full((240, 320, 3), 90, dtype=np.uint8))
    writer.release()
    out = tmp_path / "nobody.bvh"
    done = _run("run_demo.py", "--video", video, "--no-viewer", "--no-progress", "--model", _model(), "--output", out)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "no frame had a 3D pose" in lines[0] and not out.exists()
