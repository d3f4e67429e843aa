"""Result files: the three formats read back, nulls for frames without a person, atomic periodic
flushing, and real write faults (an unwritable folder, a file-size limit set on the process, a kill)."""
from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from app.results import FrameResult, OutputError, check_output_path, csv_header, read_results
from app.results_writer import ResultsWriter
from core.skeleton import JOINT_NAMES, NUM_JOINTS

REPO_ROOT = Path(__file__).resolve().parents[1]


def sample_frames() -> list[FrameResult]:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(5):
        if i == 2:  # nobody in this frame
            frames.append(FrameResult(i, i / 30, detected=False))
            continue
        lifted = i != 3  # frame 3: a person, but the lifter flagged the keypoints
        frames.append(FrameResult(
            i, i / 30, detected=True,
            keypoints_2d=rng.uniform(0, 640, (NUM_JOINTS, 2)).astype(np.float32),
            visibility=rng.uniform(0, 1, NUM_JOINTS).astype(np.float32),
            pose_3d=rng.normal(0, 400, (NUM_JOINTS, 3)).astype(np.float32) if lifted else None,
            camera=rng.normal(0, 0.01, (2, 3)).astype(np.float32) if lifted else None))
    return frames


def write(path: Path, frames: list[FrameResult]) -> Path:
    with ResultsWriter(path) as writer:
        for frame in frames:
            writer.add(frame)
    return path


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_every_format_reads_back_the_same_frames(tmp_path, suffix):
    frames = sample_frames()
    data = read_results(write(tmp_path / f"out{suffix}", frames))
    assert data["joints"] == list(JOINT_NAMES)
    np.testing.assert_array_equal(data["index"], np.arange(5))
    np.testing.assert_allclose(data["time"], np.arange(5) / 30, atol=1e-6)
    np.testing.assert_array_equal(data["detected"], [True, True, False, True, True])
    tolerance = {"keypoints_2d": 0.006, "visibility": 6e-5, "pose_3d": 0.006, "camera": 1e-7}
    for name, atol in tolerance.items():
        for i, frame in enumerate(frames):
            expected = getattr(frame, name)
            if expected is None:
                assert np.isnan(data[name][i]).all(), (name, i)
            else:
                np.testing.assert_allclose(data[name][i], expected, atol=atol, rtol=1e-5, err_msg=f"{name} {i}")


def test_json_layout_is_the_documented_one(tmp_path):
    document = json.loads(write(tmp_path / "out.json", sample_frames()).read_text())
    assert list(document) == ["joints", "frames"] and document["joints"] == list(JOINT_NAMES)
    first, empty, unlifted = document["frames"][0], document["frames"][2], document["frames"][3]
    assert list(first) == ["index", "time", "detected", "keypoints_2d", "visibility", "pose_3d", "camera",
                           "root_world", "root_camera", "camera_pose", "foot_contact"]
    assert np.array(first["keypoints_2d"]).shape == (17, 2) and np.array(first["pose_3d"]).shape == (17, 3)
    assert np.array(first["camera"]).shape == (2, 3) and len(first["visibility"]) == 17
    assert empty == {"index": 2, "time": pytest.approx(2 / 30, abs=1e-6), "detected": False, "keypoints_2d": None,
                     "visibility": None, "pose_3d": None, "camera": None, "root_world": None,
                     "root_camera": None, "camera_pose": None, "foot_contact": None}
    assert unlifted["detected"] is True and unlifted["keypoints_2d"] is not None
    assert unlifted["pose_3d"] is None and unlifted["camera"] is None


def test_npz_holds_plain_arrays_with_nan_for_null(tmp_path):
    with np.load(write(tmp_path / "out.npz", sample_frames()), allow_pickle=False) as data:
        assert set(data.files) == {"joints", "index", "time", "detected", "keypoints_2d", "visibility",
                                   "pose_3d", "camera", "root_world", "root_camera", "camera_pose", "foot_contact"}
        assert data["keypoints_2d"].shape == (5, 17, 2) and data["keypoints_2d"].dtype == np.float32
        assert data["pose_3d"].shape == (5, 17, 3) and data["camera"].shape == (5, 2, 3)
        assert np.isnan(data["pose_3d"][2]).all() and np.isfinite(data["pose_3d"][0]).all()


def test_csv_has_one_row_per_frame_and_named_columns(tmp_path):
    with open(write(tmp_path / "out.csv", sample_frames()), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and list(rows[0]) == csv_header()
    assert "keypoints_2d_left_wrist_x" in rows[0] and "pose_3d_head_z" in rows[0] and "camera_1_2" in rows[0]
    assert rows[2]["detected"] == "0" and rows[2]["pose_3d_pelvis_x"] == "" and rows[2]["visibility_head"] == ""
    assert rows[0]["detected"] == "1" and float(rows[0]["pose_3d_pelvis_x"]) == pytest.approx(
        float(sample_frames()[0].pose_3d[0, 0]), abs=0.006)


def test_a_run_with_no_frames_still_writes_a_valid_file(tmp_path):
    path = write(tmp_path / "none.json", [])
    assert json.loads(path.read_text()) == {"joints": list(JOINT_NAMES), "frames": []}


def test_the_file_is_flushed_while_the_run_goes_on(tmp_path):
    path = tmp_path / "live.json"
    writer = ResultsWriter(path, flush_seconds=0.05)
    for frame in sample_frames():
        writer.add(frame)
    deadline = time.monotonic() + 5.0
    while writer.frames_saved < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(json.loads(path.read_text())["frames"]) == 5  # complete on disk before close()
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["live.json"]  # no temporary files left behind


# --- refusing outputs that cannot be written, before any work ---------------------------------------
def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(OutputError, match="output folder does not exist"):
        check_output_path(tmp_path / "no" / "such" / "out.json", (".json",))


def test_unknown_extension_is_refused(tmp_path):
    with pytest.raises(OutputError, match=r"unsupported extension '\.txt'"):
        ResultsWriter(tmp_path / "out.txt")


def test_a_folder_as_output_is_refused(tmp_path):
    folder = tmp_path / "out.json"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(folder, (".json",))


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process really cannot write into: permission bits for a normal user; for root
    (which ignores them) /proc, where no file can be created."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        return folder
    if not Path("/proc/self").is_dir():
        pytest.skip("running as root without /proc: no folder that refuses writes")
    return Path("/proc")


def test_unwritable_folder_is_refused_before_processing(tmp_path):
    folder = unwritable_folder(tmp_path)
    with pytest.raises(OutputError, match="cannot write to"):
        ResultsWriter(folder / "out.json")


# --- faults while writing ------------------------------------------------------------------------
def run_child(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_a_disk_that_fills_up_leaves_the_last_complete_file(tmp_path):
    """A file-size limit on the writing process (RLIMIT_FSIZE, enforced by the kernel) plays the full disk."""
    path = tmp_path / "out.json"
    child = run_child(f"""
        import resource, sys
        import numpy as np
        from app.results import FrameResult, OutputError
        from app.results_writer import ResultsWriter
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # bytes per file
        writer = ResultsWriter({str(path)!r}, flush_seconds=3600)
        kp = np.full((17, 2), 123.456, np.float32)
        try:
            for i in range(10_000):
                writer.add(FrameResult(i, i / 30, True, kp, np.ones(17, np.float32),
                                       np.full((17, 3), -987.65, np.float32), np.eye(3)[:2].astype(np.float32)))
                if i % 10 == 9:
                    writer.flush()
        except OutputError as error:
            print(error)
            sys.exit(3)
    """)
    assert child.returncode == 3, child.stderr
    message = child.stdout.strip()
    assert "\n" not in message and "File too large" in message and str(path) in message
    saved = int(message.split("holds the first ")[1].split()[0])
    frames = json.loads(path.read_text())["frames"]  # the previous flush, complete and valid
    assert len(frames) == saved and saved > 0 and saved % 10 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_killed_writer_leaves_a_complete_file(tmp_path):
    path = tmp_path / "out.csv"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np
        from app.results import FrameResult
        from app.results_writer import ResultsWriter
        writer = ResultsWriter({str(path)!r}, flush_seconds=0.01)
        i = 0
        while True:  # runs until killed
            writer.add(FrameResult(i, i / 30, i % 2 == 0, np.zeros((17, 2)) + i if i % 2 == 0 else None,
                                   np.ones(17) if i % 2 == 0 else None))
            i += 1
    """)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 30.0
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # many flushes later
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    data = read_results(path)
    n = len(data["index"])
    assert n > 0
    np.testing.assert_array_equal(data["index"], np.arange(n))  # every row whole, none torn
    np.testing.assert_array_equal(data["detected"], np.arange(n) % 2 == 0)


def test_temporary_copies_of_a_writer_killed_during_a_flush_are_removed_by_the_next_run(tmp_path):
    path = tmp_path / "out.json"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import numpy as np
        from app.results import FrameResult
        from app.results_writer import ResultsWriter
        writer = ResultsWriter({str(path)!r}, flush_seconds=0.01)
        kp, pose = np.random.default_rng(0).normal(300, 50, (17, 2)), np.random.default_rng(1).normal(0, 500, (17, 3))
        i = 0
        while True:  # runs until killed; each flush rewrites a growing file
            writer.add(FrameResult(i, i / 30, True, kp, np.ones(17), pose, np.eye(3)[:2]))
            i += 1
    """)], cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60.0
        while not list(tmp_path.glob(".out.json.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        child.send_signal(signal.SIGKILL)  # in the middle of a flush
        child.wait()
    stale = list(tmp_path.glob(".out.json.*.tmp"))
    assert stale, "the child was never caught flushing"
    import fcntl
    live = tmp_path / ".out.json.flushing.tmp"  # another run's flush in progress holds its lock
    with open(live, "wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        ResultsWriter(path).close()
        assert not any(p.exists() for p in stale) and live.exists()
    assert isinstance(json.loads(path.read_text())["frames"], list)


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_world_space_fields_read_back_in_every_format(tmp_path, suffix):
    frames = sample_frames()
    rotation = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=np.float64)
    for i, frame in enumerate(frames):
        if frame.pose_3d is not None:
            frame.root_world = np.array([0.1 * i, 0.9, -3.0])
            frame.root_camera = np.array([0.1 * i, 0.2, 3.0])
            frame.camera_pose = np.concatenate([rotation, [[0.0], [1.2], [0.0]]], axis=1)
            frame.foot_contact = np.array([True, i % 2 == 0])
    path = write(tmp_path / f"out{suffix}", frames)
    data = read_results(path)
    lifted = np.array([f.pose_3d is not None for f in frames])
    for name, atol in {"root_world": 1e-4, "root_camera": 1e-4, "camera_pose": 1e-6, "foot_contact": 0}.items():
        expected = np.array([getattr(f, name) for f in frames if f.pose_3d is not None], dtype=np.float64)
        np.testing.assert_allclose(data[name][lifted], expected, atol=atol, err_msg=name)
        assert np.isnan(data[name][~lifted]).all(), name
    if suffix == ".json":  # contact reads as yes/no, not as numbers
        assert json.loads(path.read_text())["frames"][0]["foot_contact"] == [True, True]


def test_files_without_world_space_fields_still_read(tmp_path):
    """Results written before root_world & co. existed: the new fields come back as NaN."""
    document = {"joints": list(JOINT_NAMES), "frames": [{"index": 0, "time": 0.0, "detected": False,
                "keypoints_2d": None, "visibility": None, "pose_3d": None, "camera": None}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    data = read_results(path)
    assert data["root_world"].shape == (1, 3) and np.isnan(data["root_world"]).all()
