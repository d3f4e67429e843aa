"""Checkpoints load safely: weights only, with a one-line error for anything else."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.checkpoint import CheckpointError, generator_from_checkpoint, load_checkpoint, save_checkpoint
from models.repnet import PoseAndCamera, RepNetConfig

REPO = Path(__file__).resolve().parents[1]
SMALL = RepNetConfig(width=32, critic_width=16, critic_kcs_width=16)


def _state(cfg=SMALL):
    return {"model_config": cfg.to_dict(), "generator": PoseAndCamera(cfg).state_dict(), "step": 7}


def test_round_trip_restores_identical_weights(tmp_path):
    state = _state()
    save_checkpoint(tmp_path / "c.pt", state)
    generator, cfg = generator_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    assert cfg == SMALL
    for key, value in generator.state_dict().items():
        assert torch.equal(value, state["generator"][key])


def test_half_precision_weights_load_as_float(tmp_path):
    state = _state()
    state["generator"] = {k: v.half() for k, v in state["generator"].items()}
    save_checkpoint(tmp_path / "c.pt", state)
    generator, _ = generator_from_checkpoint(load_checkpoint(tmp_path / "c.pt"))
    assert all(p.dtype == torch.float32 for p in generator.parameters())


class _RunsCode:
    """Unpickling this object would create a marker file: the attack a checkpoint must not allow."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the crafted file's protocol; expected
def test_a_checkpoint_crafted_to_run_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "repnet-live-checkpoint", "version": 1, "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(CheckpointError, match="objects other than weights"):
        load_checkpoint(path)
    assert not marker.exists()
    # A plain pickle (not a torch zip file) is refused too, without running.
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(_RunsCode(str(marker)), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _state())
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a torch file"):
        load_checkpoint(tmp_path / "cut.pt")


def test_missing_foreign_and_future_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a RepNet Live checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"format": "repnet-live-checkpoint", "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")


def test_weights_of_another_architecture_are_refused(tmp_path):
    state = _state()
    state["model_config"] = RepNetConfig(width=48).to_dict()  # declares a width its weights do not have
    save_checkpoint(tmp_path / "c.pt", state)
    with pytest.raises(CheckpointError, match="does not match the RepNet architecture"):
        generator_from_checkpoint(load_checkpoint(tmp_path / "c.pt"), tmp_path / "c.pt")


def test_save_is_atomic(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _state())
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello, these are my notes\n")  # the pickle reader fails on it with a KeyError
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("field,value", [("width", 30_000), ("width", 0), ("width", "512"), ("pose_blocks", 10**6),
                                         ("camera_blocks", -1), ("leaky_slope", float("nan"))])
def test_impossible_declared_sizes_are_refused(tmp_path, field, value):
    state = _state()
    state["model_config"] = {**state["model_config"], field: value}
    with pytest.raises(CheckpointError, match=f"declares an impossible model \\({field} = "):
        generator_from_checkpoint(state, "crafted.pt")


def _peak_rss_mb(code: str) -> float:
    """Peak resident memory of a fresh Python running `code` (measured by a parent of its own, so
    that no earlier child of the test process counts)."""
    parent = ("import resource, subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    result = subprocess.run([sys.executable, "-c", parent, code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return float(result.stdout.split()[-1])


def test_a_declared_width_the_weights_do_not_have_is_refused_before_allocating_it():
    """Width 4,096 with 32-wide tensors: building that model first would take about 750 MB."""
    load = ("from models.checkpoint import CheckpointError, generator_from_checkpoint\n"
            "from models.repnet import PoseAndCamera, RepNetConfig\n"
            "cfg = RepNetConfig(width=32)\n"
            "state = {'model_config': {**cfg.to_dict(), 'width': WIDTH}, 'generator': PoseAndCamera(cfg).state_dict()}\n"
            "try:\n    generator_from_checkpoint(state, 'crafted.pt')\n"
            "except CheckpointError as error:\n    assert 'stem.0.weight is [32, 34]' in str(error), error\n"
            "else:\n    assert WIDTH == 32\n")
    honest = _peak_rss_mb(load.replace("WIDTH", "32"))
    crafted = _peak_rss_mb(load.replace("WIDTH", "4096"))
    assert crafted < honest + 100, (honest, crafted)
