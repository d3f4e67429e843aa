"""run_demo.py under the faults of issue 17 that are about the process rather than the data:
signals at any moment (start-up included) and a soak of them, a closed stderr, a stale DISPLAY,
undecodable frames, and two runs writing one file. Real processes and real files throughout."""
from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from app.capture import read_frames
from app.results import read_results
from app.video_encoders import h264_available
from tests.cli_runs import (RUN_DEMO, demo, headless_env, one_line_error, python_with_file_size_limit, start,
                            wait_for_file)
from tests.conftest import REPO_ROOT
from tests.videos import mjpg_video, write_video

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals and /proc: Linux only")


# --- helpers ------------------------------------------------------------------------------------
def wait_until_signals_are_ours(child: subprocess.Popen, timeout: float = 20.0) -> None:
    """Until run_demo.py's first lines have run: its SIGTERM handler shows in /proc (SigCgt). Before
    that the interpreter is still starting and Python's defaults apply, which no program can change."""
    bit = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            return
        caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)
        if caught & bit:
            return
        time.sleep(0.002)
    raise AssertionError("run_demo.py never installed its signal handlers")


def check_interrupted_run(child: subprocess.Popen, signum: int, out: Path, label: str) -> int:
    """The run ended with 128 + signum and one line; the results file (if the run got as far as
    creating it) is valid, its frames contiguous from 0, and as many as the line says. Returns that count."""
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, f"{label}: exit {child.returncode}: {stderr}"
    assert "Traceback" not in stderr and "reinstall" not in stderr, f"{label}: {stderr}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run_demo.py: interrupted"), f"{label}: {stderr}"
    if "; saved " not in lines[0]:
        assert not out.exists(), f"{label}: a results file although none was reported: {stderr}"
        return 0
    saved = int(lines[0].split("; saved ")[1].split()[0])
    assert f"processed {saved} frames" in stdout, f"{label}: {stdout} / {stderr}"
    index = read_results(out)["index"]
    assert index.tolist() == list(range(saved)), f"{label}: frames {index.tolist()} for {saved} saved"
    return saved


# --- signals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_ends_the_run_with_its_code_and_one_line(tmp_path, media_dir, shipped_model, signum):
    """Issue 17, item 4: while MediaPipe and protobuf import (0.1-0.5 s) a signal printed a
    traceback and was swallowed (exit 0), or made the run say 'reinstall your packages' (exit 1)."""
    video = media_dir / "pose_1.mp4"
    for n, delay in enumerate((0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7)):
        out = tmp_path / f"startup{n}.json"
        child = start("--video", video, "--no-viewer", "--output", out, "--model", shipped_model, "--max-frames", 200)
        try:
            wait_until_signals_are_ours(child)
            time.sleep(delay)
            child.send_signal(signum)
            check_interrupted_run(child, signum, out, f"{signum.name} {delay} s after start-up began")
        finally:
            child.kill()
            child.wait()


def test_signals_at_random_moments_never_leave_a_bad_results_file(tmp_path, long_video, shipped_model):
    """The soak: SIGINT or SIGTERM at a random moment of twelve runs (start-up, the first frames,
    a periodic save, the middle of the run). Every file is valid, contiguous and as long as said."""
    rng = random.Random(17)
    suffixes = (".json", ".csv", ".npz")
    for n in range(12):
        signum = rng.choice((signal.SIGINT, signal.SIGTERM))
        delay = rng.uniform(0.0, 3.0)
        out = tmp_path / f"soak{n}{suffixes[n % 3]}"
        child = start("--video", long_video, "--no-viewer", "--output", out, "--model", shipped_model, "--max-frames", 300)
        try:
            wait_until_signals_are_ours(child)
            time.sleep(delay)
            assert child.poll() is None, f"run {n} ended before its signal: make the runs longer"
            child.send_signal(signum)
            check_interrupted_run(child, signum, out, f"run {n}: {signum.name} after {delay:.2f} s")
        finally:
            child.kill()
            child.wait()
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary or lock files left"


# --- the terminal -------------------------------------------------------------------------------
def test_a_closed_stderr_does_not_crash_the_run(tmp_path, media_dir, shipped_model):
    """`2>&-`: Python's sys.stderr is None (the run crashed at the progress bar's isatty), and the
    next file opened would take descriptor 2, where the native libraries write their logs."""
    out = tmp_path / "closed.json"
    shell = ['bash', '-c', '"$0" "$@" 2>&-', sys.executable, str(RUN_DEMO)]
    result = subprocess.run([*shell, "--video", str(media_dir / "pose_1.mp4"), "--no-viewer", "--output", str(out),
                             "--model", str(shipped_model), "--max-frames", "30"],
                            cwd=REPO_ROOT, env=headless_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
    assert "processed 30 frames" in result.stdout and "Traceback" not in result.stdout
    assert [f["index"] for f in json.loads(out.read_text())["frames"]] == list(range(30))  # no log lines in it
    missing = subprocess.run([*shell, "--video", str(tmp_path / "gone.mp4"), "--no-viewer"], cwd=REPO_ROOT,
                             env=headless_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stdout == ""  # the message had nowhere to go; the code says it


def _unused_display() -> str:
    for number in range(171, 400):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return f":{number}"
    pytest.skip("no unused X display number")


def test_a_stale_display_is_refused_in_one_line_and_headless_runs_ignore_it(tmp_path, media_dir, shipped_model):
    """DISPLAY naming no X server (ssh without X forwarding): the viewer silently drew offscreen."""
    from app.display import x_display_reachable
    display = _unused_display()
    if x_display_reachable(display) is None:
        pytest.skip("libX11 cannot be loaded here")
    env = {**headless_env(), "DISPLAY": display}
    out = tmp_path / "viewer.json"
    result = demo("--video", media_dir / "pose_1.mp4", "--output", out, "--model", shipped_model, env=env, timeout=60)
    assert result.returncode == 2
    assert f"cannot open the X display DISPLAY={display}" in one_line_error(result) and "--no-viewer" in result.stderr
    assert not out.exists()
    headless = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--output", out, "--model", shipped_model,
                    "--max-frames", "10", env=env, timeout=120)
    assert headless.returncode == 0 and headless.stderr == "", headless.stderr


# --- undecodable frames -------------------------------------------------------------------------
@pytest.mark.parametrize("damaged", [(0,), (10, 11, 12)], ids=["first frame", "three in the middle"])
def test_undecodable_frames_are_skipped_and_counted(tmp_path, media_dir, shipped_model, damaged):
    """The first frame that did not decode ended the run (or, the very first one, refused the video)
    although every later frame decodes."""
    video = mjpg_video(tmp_path / "damaged.avi", media_dir / "pose_1.mp4", damaged=damaged)
    out = tmp_path / "damaged.json"
    result = demo("--video", video, "--no-viewer", "--output", out, "--model", shipped_model)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (f"run_demo.py: warning: {len(damaged)} damaged frames of {video} could not be "
                                     "decoded and were skipped")
    frames = json.loads(out.read_text())["frames"]
    assert len(frames) == 120 - len(damaged) and [f["index"] for f in frames] == list(range(len(frames)))
    assert f"processed {len(frames)} frames" in result.stdout


def test_a_video_that_stops_decoding_for_good_saves_what_came_before_and_exits_1(tmp_path, media_dir, shipped_model):
    """More undecodable frames in a row than are skipped (capture.MAX_BAD_FRAMES_IN_A_ROW): the
    video is damaged from there on; the frames before it are saved and the run says so."""
    from app.capture import MAX_BAD_FRAMES_IN_A_ROW
    video = mjpg_video(tmp_path / "tail.avi", media_dir / "pose_1.mp4", repeats=3,
                       damaged=tuple(range(40, 40 + MAX_BAD_FRAMES_IN_A_ROW + 60)))
    out = tmp_path / "tail.csv"
    result = demo("--video", video, "--no-viewer", "--output", out, "--model", shipped_model)
    assert result.returncode == 1
    line = one_line_error(result)
    assert "could not be decoded past frame 40 of 360" in line and "saved 40 frames" in line
    assert [int(r.split(",")[0]) for r in out.read_text().strip().splitlines()[1:]] == list(range(40))


# --- two runs, one file ---------------------------------------------------------------------------
@pytest.mark.parametrize("option,name", [("--output", "shared.json"), ("--save-video", "shared.avi")])
def test_a_second_run_writing_the_same_file_is_refused(tmp_path, long_video, shipped_model, option, name):
    """Two runs renamed their copies over each other every few seconds: the file held one run's
    frames and nobody was told."""
    target = tmp_path / name
    first = start("--video", long_video, "--no-viewer", option, target, "--model", shipped_model, "--max-frames", 150)
    try:
        lock = tmp_path / f".{name}.lock"
        assert wait_for_file(lock, 30, poll=0.01), "the first run took no lock"
        # through a symlink too: it is the same file
        alias = tmp_path / f"alias{target.suffix}"
        alias.symlink_to(target)
        for path in (target, alias):
            second = demo("--video", long_video, "--no-viewer", option, path, "--model", shipped_model, timeout=60)
            assert second.returncode == 2
            line = one_line_error(second)
            assert f"is being written by another run (process {first.pid})" in line and option in line
        stdout, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, stderr
    assert not lock.exists()  # released and removed
    if option == "--output":
        assert [f["index"] for f in json.loads(target.read_text())["frames"]] == list(range(150))
    else:
        assert int(cv2.VideoCapture(str(target)).get(cv2.CAP_PROP_FRAME_COUNT)) == 150


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path, long_video, shipped_model):
    out = tmp_path / "killed.json"
    child = start("--video", long_video, "--no-viewer", "--output", out, "--model", shipped_model)
    try:
        wait_for_file(out, 30)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    assert (tmp_path / ".killed.json.lock").exists()  # SIGKILL gave it no chance to clean up
    result = demo("--video", long_video, "--no-viewer", "--output", out, "--model", shipped_model, "--max-frames", "5")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(out.read_text())["frames"]) == 5
    assert not (tmp_path / ".killed.json.lock").exists()


# --- the annotated video ------------------------------------------------------------------------
# PyAV made unimportable, as where it is not installed: .mp4 falls back to OpenCV's mp4v.
WITHOUT_PYAV = [sys.executable, "-c", "import runpy, sys; sys.modules['av'] = None; sys.argv = sys.argv[1:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')"]
LIMITED_FILE_SIZE = python_with_file_size_limit(400_000)  # no file grows past 400 kB: a full disk


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_an_annotated_video_the_disk_cannot_hold_is_not_kept_and_the_run_fails(tmp_path, media_dir, shipped_model, suffix):
    """Issue 17, item 3: OpenCV ignores write errors; on a full disk the unplayable file (no index)
    was renamed into place and the run exited 0 reporting the video."""
    video, out = tmp_path / f"annotated{suffix}", tmp_path / "poses.json"
    video.write_bytes(b"the user's earlier file")
    result = demo("--video", media_dir / "pose_1.mp4", "--no-viewer", "--save-video", video, "--output", out,
                  "--model", shipped_model, python=LIMITED_FILE_SIZE)
    assert result.returncode == 1
    line = one_line_error(result)
    assert f"writing the video {video} failed (" in line and "it was not saved" in line
    assert video.read_bytes() == b"the user's earlier file"  # nothing unplayable under the real name
    assert "video:" not in result.stdout
    assert [f["index"] for f in json.loads(out.read_text())["frames"]] == list(range(120))  # the results are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([video.name, out.name])  # no partial file left


def test_an_annotated_video_too_large_for_the_codec_says_so(tmp_path, media_dir, shipped_model):
    """A 3000 x 4000 (portrait) video makes annotated frames over 8000 pixels wide: H.264 takes
    them, the mp4v fallback (where PyAV is not installed) does not, and said 'OpenCV has no .mp4
    writer'."""
    big = write_video(tmp_path / "big.avi", read_frames(media_dir / "pose_1.mp4")[:5], "MJPG", size=(3000, 4000))
    video = tmp_path / "annotated.mp4"
    result = demo("--video", big, "--no-viewer", "--save-video", video, "--model", shipped_model, python=WITHOUT_PYAV)
    assert result.returncode == 1
    line = one_line_error(result)
    assert re.search(r"its frames \(the input beside the 3D view\) are \d+ x 4000 pixels, more than the \.mp4 "
                     r"\(mp4v\) encoder takes; use \.avi \(MJPG\)", line), line
    assert not video.exists() and [p.name for p in tmp_path.iterdir()] == ["big.avi"]
    avi = demo("--video", big, "--no-viewer", "--save-video", tmp_path / "annotated.avi", "--model", shipped_model)
    assert avi.returncode == 0, avi.stderr  # the advice works
    if h264_available():  # and with PyAV installed, as requirements.txt has it, .mp4 works too
        h264 = demo("--video", big, "--no-viewer", "--save-video", video, "--model", shipped_model)
        assert h264.returncode == 0, h264.stderr
        import av
        with av.open(str(video)) as written:
            stream = written.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.frames == 5 and stream.height == 4000
