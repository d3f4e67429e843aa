"""Training smoke tests: a few hundred steps on the real data, tiny networks."""
import json

import numpy as np
import pytest

from models import train
from models.checkpoint import load_checkpoint
from tests.conftest import TINY_TRAINING


def test_losses_move_the_way_they_should(tiny_training_run):
    _, history = tiny_training_run
    first, last = slice(0, 2), slice(-2, None)
    # The generator learns to reproject its input and to produce orthographic-like cameras.
    assert np.mean(history["reprojection"][last]) < 0.8 * np.mean(history["reprojection"][first])
    assert np.mean(history["camera"][last]) < 0.5 * np.mean(history["camera"][first])
    # The critic separates real from generated poses: a positive Wasserstein estimate.
    assert np.mean(history["wasserstein"][-3:]) > 0
    evals = history["eval"]
    assert [e["step"] for e in evals] == [150, 300]
    assert all(np.isfinite([e["mpjpe"], e["pa_mpjpe"], e["pck150"]]).all() for e in evals)


def test_outputs_are_written(tiny_training_run):
    out_dir, history = tiny_training_run
    assert (out_dir / "training_curves.png").stat().st_size > 10_000
    assert json.loads((out_dir / "history.json").read_text())["step"] == history["step"]
    state = load_checkpoint(out_dir / "checkpoint.pt")
    assert state["step"] == 300 and state["model_config"]["width"] == 512
    assert state["reference_inputs"].shape[1:] == (17, 2)


def test_resume_continues_exactly_where_a_run_stopped(data_root, tmp_path, tiny_training_run):
    """Train 150 steps, resume to 300: the same weights as an uninterrupted 300-step run."""
    import torch
    full_dir, _ = tiny_training_run
    args = ["--data-root", str(data_root), *TINY_TRAINING]
    train.main(args + ["--out-dir", str(tmp_path), "--stop-after", "150"])
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 150
    train.main(args + ["--out-dir", str(tmp_path), "--resume", str(tmp_path / "checkpoint.pt")])
    resumed = load_checkpoint(tmp_path / "checkpoint.pt")["generator"]
    full = load_checkpoint(full_dir / "checkpoint.pt")["generator"]
    assert all(torch.allclose(resumed[k], full[k], atol=1e-5) for k in full)


def test_unknown_config_keys_are_refused(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"widht": 10}))
    with pytest.raises(SystemExit):
        train.parse_args(["--config", str(tmp_path / "c.json")])


def test_weight_average_is_what_is_saved_and_resumes_exactly(data_root, tmp_path):
    """--ema-decay: the checkpoint's "generator" is the running average (what export ships), the
    raw weights travel beside it, and a resumed run matches an uninterrupted one in both."""
    import torch
    args = ["--data-root", str(data_root), *TINY_TRAINING, "--steps", "20", "--eval-every", "20",
            "--checkpoint-every", "10", "--ema-decay", "0.8"]
    train.main(args + ["--out-dir", str(tmp_path / "full")])
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--stop-after", "10"])
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--resume", str(tmp_path / "split" / "checkpoint.pt")])
    full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for key in ("generator", "generator_training"):
        assert all(torch.allclose(split[key][k], full[key][k], atol=1e-5) for k in full[key])
    name = next(k for k in full["generator"] if k.endswith("weight"))
    assert not torch.allclose(full["generator"][name], full["generator_training"][name])
    assert full["history"]["eval"][-1]["step"] == 20  # the average was evaluated
