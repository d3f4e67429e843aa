"""run_demo.py as a user runs it (a subprocess): exit codes, one-line messages, and real faults
(bad files, a damaged video, Ctrl-C, a full disk, a missing package)."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto

from app.arguments import build_parser
from app.capture import read_frames
from app.cli import MAX_NON_FINITE_FRAMES
from app.install_hints import describe_import_error
from app.results import read_results
from tests.cli_runs import ctrl_c_after_first_save, demo, one_line_error, python_with_file_size_limit, start
from tests.conftest import REPO_ROOT
from tests.onnx_models import onnx_model
from tests.videos import write_phone_video, write_video

# --- arguments ----------------------------------------------------------------------------------
def test_help_documents_every_option():
    result = demo("--help")
    assert result.returncode == 0
    for action in build_parser()._actions:
        for option in action.option_strings:
            assert option in result.stdout, option
        if action.dest != "help":
            assert action.help, f"{action.option_strings} has no help text"
    for topic in (".json", ".npz", ".csv", "Exit codes", "pause"):
        assert topic in result.stdout


@pytest.mark.parametrize("args,expected", [
    ([], "one of the arguments --camera --video is required"),
    (["--camera", "0", "--video", "x.mp4"], "not allowed with"),
    (["--video", "x.mp4", "--max-frames", "0"], "--max-frames: must be 1 or more"),
    (["--video", "x.mp4", "--max-frames", "ten"], "expected a whole number"),
    (["--camera", "-1"], "--camera: must be 0 or more"),
    (["--camera", "2147483648"], "--camera: must be 0 or more (and below 2147483648), got 2147483648"),
    (["--video", "x.mp4", "--visibility-threshold", "2"], "between 0 and 1"),
    (["--video", "x.mp4", "--min-cutoff", "-1"], "positive number"),
    (["--video", "x.mp4", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments_exit_2_with_one_line(args, expected):
    result = demo(*args)
    assert result.returncode == 2
    assert expected in one_line_error(result)


def test_viewer_without_a_display_is_refused_with_the_fix(media_dir):
    result = demo("--video", media_dir / "pose_1.mp4")
    assert result.returncode == 2
    assert "--no-viewer" in one_line_error(result) and "xvfb-run" in result.stderr


def test_output_and_video_cannot_be_the_same_file(tmp_path, media_dir):
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--output", tmp_path / "x.mp4",
                  "--save-video", tmp_path / "x.mp4")
    assert result.returncode == 2 and "same file" in one_line_error(result)


def _link(kind: str, target: Path, link: Path) -> Path:
    """`link`, naming `target` as a user might: the same path relative to the repository (where
    run_demo runs), a symlink or a hard link."""
    if kind == "relative":
        return Path(os.path.relpath(target, REPO_ROOT))
    if kind == "symlink":
        link.symlink_to(target)
    else:
        os.link(target, link)
    return link


@pytest.mark.parametrize("kind", ["relative", "symlink", "hardlink"])
@pytest.mark.parametrize("option", ["--save-video", "--output"])
def test_an_output_naming_the_input_video_is_refused_and_the_video_kept(tmp_path, media_dir, option, kind):
    # A recording whose name ends in .csv is still a video to OpenCV; --output must not replace it either.
    video = tmp_path / ("recording.mp4" if option == "--save-video" else "recording.csv")
    original = (media_dir / "pose_1.mp4").read_bytes()
    video.write_bytes(original)
    output = _link(kind, video, tmp_path / f"link{video.suffix}")
    result = demo("--video", video, "--no-viewer", option, output)
    assert result.returncode == 2
    line = one_line_error(result)
    assert f"{option} {output} is the input video" in line and "choose another" in line
    assert result.stdout == "" and video.read_bytes() == original


@pytest.mark.parametrize("kind", ["relative", "symlink", "hardlink"])
def test_an_output_naming_the_model_is_refused_and_the_model_kept(tmp_path, media_dir, shipped_model, kind):
    lifter = tmp_path / "lifter.json"  # any name loads as a model; the output check must not trust the extension
    lifter.write_bytes(shipped_model.read_bytes())
    output = _link(kind, lifter, tmp_path / "out.json")
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--model", lifter, "--output", output)
    assert result.returncode == 2
    assert f"--output {output} is the model" in one_line_error(result)
    assert lifter.read_bytes() == shipped_model.read_bytes()


def test_output_and_video_linked_to_one_file_are_refused(tmp_path, media_dir):
    (tmp_path / "a.mp4").write_bytes(b"")
    os.link(tmp_path / "a.mp4", tmp_path / "b.json")
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--output", tmp_path / "b.json",
                  "--save-video", tmp_path / "a.mp4")
    assert result.returncode == 2 and "same file" in one_line_error(result)


# --- unreadable input: exit 2, nothing processed ---------------------------------------------------
def test_missing_video(tmp_path):
    result = demo("--video", tmp_path / "gone.mp4", "--no-viewer")
    assert result.returncode == 2 and "video not found" in one_line_error(result)


def test_file_that_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("shopping list\n" * 100)
    result = demo("--video", path, "--no-viewer")
    assert result.returncode == 2 and "not a video OpenCV can read" in one_line_error(result)


def test_truncated_video(tmp_path, media_dir):
    data = (media_dir / "pose_squats.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])
    result = demo("--video", path, "--no-viewer")
    assert result.returncode == 2 and "truncated" in one_line_error(result)


def test_no_camera_at_that_index():
    result = demo("--camera", "93", "--no-viewer")
    assert result.returncode == 2 and "no camera at index 93" in one_line_error(result)


@pytest.mark.parametrize("make_path,expected", [
    (lambda tmp: tmp / "missing" / "out.json", "output folder does not exist"),
    (lambda tmp: tmp / "out.txt", "unsupported extension"),
    (lambda tmp: Path("/proc") / "out.json" if os.geteuid() == 0 else None, "cannot write to"),
])
def test_unusable_output_is_refused_before_any_processing(tmp_path, media_dir, make_path, expected):
    path = make_path(tmp_path)
    if path is None:  # not root: a folder without write permission
        folder = tmp_path / "readonly"
        folder.mkdir(mode=0o500)
        path = folder / "out.json"
    start = time.monotonic()
    result = demo("--video", media_dir / "pose_squats.mp4", "--no-viewer", "--output", path)
    assert result.returncode == 2 and expected in one_line_error(result)
    assert result.stdout == ""  # no frame was processed
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("content,expected", [(None, "model not found"), (b"not an onnx model", "not a loadable ONNX model")])
def test_bad_model_file(tmp_path, media_dir, content, expected):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--model", path)
    assert result.returncode == 2 and expected in one_line_error(result)


@pytest.mark.parametrize("kwargs,expected", [
    (dict(input_shape=(5, 17, 2), output_batch=5), "input 'keypoints_2d' has a fixed batch of 5"),
    (dict(output_type=TensorProto.INT64), "output 'pose_3d' is tensor(int64), the contract needs float32"),
])
def test_a_model_that_breaks_the_contract_is_one_line_without_native_logs(tmp_path, media_dir, kwargs, expected):
    path = onnx_model(tmp_path / "model.onnx", **kwargs)
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--model", path)
    assert result.returncode == 2 and expected in one_line_error(result)  # one line: no onnxruntime log lines
    assert result.stdout == ""


def test_a_model_that_answers_nan_is_reported_and_stops_a_headless_run(tmp_path, media_dir):
    out = tmp_path / "poses.json"
    model = onnx_model(tmp_path / "nan.onnx", scale=float("nan"))
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--model", model, "--output", out)
    assert result.returncode == 1, result.stderr
    warning, error = result.stderr.strip().splitlines()  # warned once, then one line for the failure
    assert warning.startswith(f"run_demo.py: warning: the model {model} returned NaN or inf for a person in view")
    assert error.startswith(f"run_demo.py: error: the model {model} returned NaN or inf for ")
    assert "python -m export" in error and "Traceback" not in result.stderr
    saved = int(error.split("saved ")[1].split()[0])
    frames = json.loads(out.read_text())["frames"]
    assert len(frames) == saved and MAX_NON_FINITE_FRAMES <= saved < 40  # stopped, not run to frame 120
    assert all(f["pose_3d"] is None for f in frames) and sum(f["detected"] for f in frames) >= 30


def test_a_missing_python_package_is_named_with_its_install_command(media_dir):
    # `python -S` starts without site-packages: the dependencies are really missing.
    assert demo("--help", python=[sys.executable, "-S"]).returncode == 0  # --help needs only the standard library
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", python=[sys.executable, "-S"])
    assert result.returncode == 1
    line = one_line_error(result)
    assert "is missing; install it with `pip install" in line and "requirements.txt" in line


@pytest.mark.parametrize("error,package", [
    (OSError("libusb-1.0.so.0: cannot open shared object file: No such file or directory"), "apt-get install libusb-1.0-0"),
    (ImportError("libGL.so.1: cannot open shared object file: No such file or directory"), "apt-get install libgl1"),
    (ModuleNotFoundError("No module named 'mediapipe'", name="mediapipe"), "pip install mediapipe==0.10.21"),
    (ModuleNotFoundError("No module named 'cv2'", name="cv2"), "pip install opencv-contrib-python"),
])
def test_import_failures_name_the_package_to_install(error, package):
    assert package in describe_import_error(error)


# --- runs -------------------------------------------------------------------------------------------
def test_video_to_json_end_to_end(tmp_path, media_dir, shipped_model):
    out = tmp_path / "squats.json"
    result = demo("--video", media_dir / "pose_squats.mp4", "--no-viewer", "--max-frames", 10, "--output", out,
                  "--model", shipped_model)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no library chatter, no warnings
    assert "processed 10 frames" in result.stdout and "person found in 10" in result.stdout
    document = json.loads(out.read_text())
    assert [f["index"] for f in document["frames"]] == list(range(10))
    assert all(f["detected"] and np.isfinite(np.array(f["pose_3d"])).all() for f in document["frames"])


def test_a_phone_video_gives_upright_keypoints_and_an_upright_annotated_video(tmp_path, media_dir, shipped_model):
    from core.skeleton import JOINT_INDEX
    video = write_phone_video(tmp_path / "phone.mp4", cv2.imread(str(media_dir / "pose.jpg")))  # stored sideways
    out, annotated = tmp_path / "poses.json", tmp_path / "annotated.mp4"
    result = demo("--video", video, "--no-viewer", "--output", out, "--save-video", annotated, "--model", shipped_model)
    assert result.returncode == 0, result.stderr
    frames = json.loads(out.read_text())["frames"]
    assert len(frames) == 6 and all(f["detected"] for f in frames)
    kp = np.array([f["keypoints_2d"] for f in frames])
    assert (kp[..., 0] < 1000).all() and (kp[..., 1] < 666).all()  # pixels of the upright 1000 x 666 frame
    head, pelvis = kp[:, JOINT_INDEX["head"]], kp[:, JOINT_INDEX["pelvis"]]
    assert (head[:, 1] < pelvis[:, 1] - 50).all()  # the head above the pelvis: standing, not lying
    assert np.abs(head[:, 0] - pelvis[:, 0]).max() < np.abs(head[:, 1] - pelvis[:, 1]).min()
    capture = cv2.VideoCapture(str(annotated))
    ok, image = capture.read()
    capture.release()
    assert ok and image.shape[0] == 666  # the annotated video is as tall as the upright frame


def test_video_damaged_in_the_middle_goes_on_past_the_damage(tmp_path, media_dir, shipped_model):
    """The decoder fails 25 times in a row in the damaged stretch and then decodes the rest: the
    run skips the stretch, says how many reads failed, and keeps the rest (issue 17, item 10). A
    video that stops decoding for good: tests/test_cli_faults.py."""
    data = bytearray((media_dir / "pose_1.mp4").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 20000] = bytes(20000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "damaged.csv"
    result = demo("--video", damaged, "--no-viewer", "--output", out, "--model", shipped_model)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"run_demo.py: warning: \d+ damaged frames of {re.escape(str(damaged))} "
                                            r"could not be decoded and were skipped", lines[0]), result.stderr
    saved = int(result.stdout.split("processed ")[1].split()[0])
    assert 60 < saved < 120  # about 27 frames before the damage, and the 60-odd after it
    rows = out.read_text().strip().splitlines()[1:]
    assert len(rows) == saved and [int(r.split(",")[0]) for r in rows] == list(range(saved))


def test_ctrl_c_half_way_keeps_a_valid_file(tmp_path, long_video, shipped_model):
    out = tmp_path / "partial.json"
    child = start("--video", long_video, "--no-viewer", "--output", out, "--model", shipped_model)
    stdout, stderr = ctrl_c_after_first_save(child, out, poll=0.05)
    assert child.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run_demo.py: interrupted; saved ") and "Traceback" not in stderr
    saved = int(lines[0].split("saved ")[1].split()[0])
    frames = json.loads(out.read_text())["frames"]
    assert 0 < len(frames) == saved < 480
    assert [f["index"] for f in frames] == list(range(saved))


@pytest.fixture(scope="module")
def big_video(tmp_path_factory, media_dir) -> Path:
    """pose_1.mp4 scaled to 1440 x 1440, three times over (360 frames): drawing and encoding each
    annotated frame takes longer than MediaPipe, so the main loop takes several finished frames off
    the queue at once, and an interrupt lands while some of them wait to be drawn."""
    path = tmp_path_factory.mktemp("big") / "big.mp4"
    return write_video(path, read_frames(media_dir / "pose_1.mp4"), "mp4v", repeats=3, size=(1440, 1440))


def test_ctrl_c_while_saving_the_video_keeps_every_computed_frame(tmp_path, big_video, shipped_model):
    """Frames taken off the queue for drawing reach the results too, and the count printed is the
    count in the file (issue 17: 8 of 9 interrupted runs had gaps)."""
    for attempt, delay in enumerate((0.0, 0.25, 0.5, 0.75)):
        out, video = tmp_path / f"run{attempt}.json", tmp_path / f"run{attempt}.mp4"
        child = start("--video", big_video, "--no-viewer", "--output", out, "--save-video", video,
                      "--model", shipped_model)
        stdout, stderr = ctrl_c_after_first_save(child, out, delay)
        assert child.returncode == 130, stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("run_demo.py: interrupted; saved "), stderr
        saved = int(lines[0].split("saved ")[1].split()[0])
        assert f"processed {saved} frames" in stdout
        indices = [f["index"] for f in json.loads(out.read_text())["frames"]]
        assert indices == list(range(saved)), f"attempt {attempt}: frames missing: " \
                                               f"{sorted(set(range(max(indices) + 1)) - set(indices))}"


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_a_disk_that_fills_up_is_a_one_line_failure(tmp_path, media_dir, shipped_model, suffix):
    # The kernel refuses to grow any file of the process past 30 kB (RLIMIT_FSIZE): a full disk, for it.
    out = tmp_path / f"full{suffix}"
    result = demo("--video", media_dir / "pose_squats.mp4", "--no-viewer", "--output", out, "--model", shipped_model,
                  python=python_with_file_size_limit(30_000))
    assert result.returncode == 1
    line = one_line_error(result)  # for .npz, no ZipFile.__del__ traceback after it
    assert f"writing {out} failed (File too large)" in line
    if out.exists():  # what is there is complete: it reads back
        read_results(out)
    assert [p.name for p in tmp_path.iterdir() if p.name != out.name] == []  # no temporary files left
