"""Checkpoints load safely: weights only, with a one-line error for anything else."""
import os
import pickle

import pytest
import torch

from models.checkpoint import CheckpointError, generator_from_checkpoint, load_checkpoint, save_checkpoint
from models.repnet import PoseAndCamera, RepNetConfig

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
