"""Shared fixtures. Data lives outside the repository (../shared/data or $REPNET_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# The helper modules' asserts report their operands like the tests' own (imported only after this).
pytest.register_assert_rewrite("tests.cli_runs", "tests.videos")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    return Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The freely licensed data folder; tests that need it skip with a reason where it is absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set REPNET_DATA to the data folder)")
    return root


@pytest.fixture(scope="session")
def cmu_trials(data_root: Path) -> dict:
    """Every shared CMU take (cmu_mocap/ and cmu_mocap_varied/) as H36M-17 poses, read once."""
    from models.data.cmu import load_cmu_trials
    return load_cmu_trials(data_root, progress=False)


@pytest.fixture(scope="session")
def media_dir(data_root: Path) -> Path:
    return data_root / "media" / "tfjs_models_pose_detection"


@pytest.fixture(scope="session")
def x_display():
    """An X display for the Open3D viewer tests: the session's DISPLAY if set, else a private Xvfb
    started here (so that plain `pytest` needs no xvfb-run) and stopped at the end of the session."""
    import shutil
    import select
    import subprocess

    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb: install the xvfb package (apt-get install xvfb xauth)")
    # -displayfd: Xvfb picks a free display number itself and writes it to this pipe when ready.
    # -noreset: without it the server resets when its last client leaves, writes the number again,
    # and dies if nobody reads (then the next window aborts the process inside Qt).
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], 20.0)
    number = os.read(read_end, 64).decode().strip() if ready else ""
    if not number:
        os.close(read_end)
        server.kill()
        server.wait()
        pytest.skip("Xvfb did not start within 20 s")
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        del os.environ["DISPLAY"]
        os.close(read_end)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The shipped ONNX lifter; tests that run it skip with a reason where it is absent."""
    from core.lifter import DEFAULT_MODEL_PATH
    if not DEFAULT_MODEL_PATH.is_file():
        pytest.skip(f"the shipped lifter {DEFAULT_MODEL_PATH} is missing")
    return DEFAULT_MODEL_PATH


@pytest.fixture(scope="session")
def long_video(tmp_path_factory, media_dir: Path) -> Path:
    """pose_1.mp4 four times over (480 frames, MJPG): long enough to interrupt half-way."""
    from app.capture import read_frames
    from tests.videos import write_video
    path = tmp_path_factory.mktemp("long") / "long.avi"
    return write_video(path, read_frames(media_dir / "pose_1.mp4"), "MJPG", repeats=4)


# Shared by the training and export tests: one short run on the real data with the shipped model's
# settings (fewer steps): the smallest run in which the adversarial dynamics already behave.
TINY_TRAINING = ["--steps", "300", "--batch-size", "32", "--critic-steps", "2", "--width", "512",
                 "--critic-kcs-width", "256", "--lr", "3e-4", "--eval-every", "150",
                 "--checkpoint-every", "150", "--eval-frames", "300", "--augmented-pool-factor", "0.2",
                 "--camera-input", "true"]


@pytest.fixture(scope="session")
def tiny_training_run(data_root: Path, tmp_path_factory) -> tuple[Path, dict]:
    """(output folder holding checkpoint.pt, training history) of a 300-step run."""
    from models import train
    out_dir = tmp_path_factory.mktemp("tiny_run")
    history = train.main(["--data-root", str(data_root), "--out-dir", str(out_dir), *TINY_TRAINING])
    return out_dir, history
