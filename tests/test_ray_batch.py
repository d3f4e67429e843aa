"""Batches on Ray (app/ray_batch.py, run_demo --output-dir --ray): a real local Ray instance on this
machine, real MediaPipe on the shared videos; the outputs must be those of local worker processes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.batch import run_batch
from app.batch_plan import BatchSettings
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def local_ray():
    """One local instance for the module, started as a user's driver would (the project's code
    shipped as the job's working_dir); run_batch reuses this connection and leaves it open."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt; "
                                            "scripts/setup.sh --dev installs it)")
    from app.ray_batch import runtime_env
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    yield ray
    ray.shutdown()


def both_ways(videos: list[Path], tmp_path: Path, **settings) -> tuple[Path, Path]:
    """The same batch through local worker processes and through Ray; the two output folders."""
    folders = []
    for name, address in (("local", None), ("ray", "")):
        out = tmp_path / name
        summary = run_batch(videos, BatchSettings(output_dir=out, workers=2, progress=False, ray=address, **settings))
        assert [o.status for o in summary.outcomes] == ["done"] * len(videos), summary.outcomes
        folders.append(out)
    return folders[0], folders[1]


def test_ray_gives_the_local_processes_files_byte_for_byte(local_ray, tmp_path, media_dir):
    """Two videos (one unit each), then one video in 3 chunks with warm-ups that start mid-video:
    every file equals the local run's, and the chunk files are gone."""
    videos = [media_dir / "pose_1.mp4", media_dir / "pose_squats.mp4"]
    local, on_ray = both_ways(videos, tmp_path / "folder", max_frames=10)
    for video in videos:
        assert (on_ray / f"{video.stem}.json").read_bytes() == (local / f"{video.stem}.json").read_bytes()

    local, on_ray = both_ways([media_dir / "pose_1.mp4"], tmp_path / "chunks", fmt="csv", chunks=3, warmup_s=0.2,
                              max_frames=45)
    ray_file = on_ray / "pose_1.csv"
    assert ray_file.read_bytes() == (local / "pose_1.csv").read_bytes()
    assert len(ray_file.read_text().splitlines()) == 46  # header and 45 frames: none lost or repeated
    assert not list((on_ray / ".repnet-batch").glob("*.part*"))


def test_a_video_that_fails_on_ray_fails_alone_and_the_rerun_skips_the_rest(local_ray, tmp_path, media_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "pose_1.mp4").symlink_to(media_dir / "pose_1.mp4")
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))  # a video in name only
    settings = dict(output_dir=tmp_path / "out", max_frames=5, progress=False, ray="")
    summary = run_batch([videos / "broken.mp4", videos / "pose_1.mp4"], BatchSettings(**settings))
    status = {o.video.name: o for o in summary.outcomes}
    assert status["pose_1.mp4"].status == "done" and status["pose_1.mp4"].frames == 5
    assert status["broken.mp4"].status == "failed" and "\n" not in status["broken.mp4"].message
    again = run_batch([videos / "pose_1.mp4"], BatchSettings(**settings))
    assert again.outcomes[0].status == "skipped"


def test_missing_ray_is_one_line_naming_the_requirements_file(tmp_path, media_dir):
    """A Python where `import ray` fails (sys.modules entry None): exit 2, one line, nothing written."""
    code = "import sys; sys.modules['ray'] = None; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", code, "--video", str(media_dir / "pose_1.mp4"), "--output-dir",
                             str(tmp_path / "out"), "--ray"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "requirements-ray.txt" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()
