"""Training under torchrun (models/distributed.py): 2 CPU processes (gloo) for a few steps of tiny
networks on the shared data. The processes must hold the same weights, rank 0 alone must write,
and the weights must be those of one process that sees the same samples (tests/ddp_train.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from models.checkpoint import load_checkpoint
from tests.conftest import REPO_ROOT

HELPER = REPO_ROOT / "tests" / "ddp_train.py"
PER_PROCESS_BATCH = 16
# COMPARABLE turns off, for the comparison with one process, what is drawn per batch rather than
# per sample, which the combined batch would draw differently: the depth-mirrored fakes (the first k
# of each batch), the gradient penalty's interpolation (torch's stream), and MPII's missing joints and
# the projected 2D's randomly dropped ones (tests/ddp_train.py turns those off), since the reprojection
# loss divides by its batch's weight sum. Every other loss is a mean over samples, so the average of
# the two processes' gradients is the combined batch's gradient.
TINY = ["--steps", "20", "--width", "64", "--critic-kcs-width", "64", "--critic-steps", "2",
        "--eval-every", "20", "--checkpoint-every", "20", "--eval-frames", "100", "--augmented-pool-factor", "0",
        "--lr", "3e-4", "--lr-decay", "1"]  # no decay: 20 steps of the full rate
COMPARABLE = ["--reflected-negatives", "0", "--gradient-penalty", "0", "--mpii-fraction", "0"]


def launch(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # what torchrun sets; the same arithmetic for the single run
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0",
            "--rdzv_backend", "c10d", "--rdzv_endpoint", "localhost:0", *args]


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path)
    return {f"{net}.{k}": v for net in ("generator", "critic") for k, v in state[net].items()}


def test_two_processes_train_as_one_with_the_combined_batch(data_root, tmp_path):
    common = ["--data-root", str(data_root), *TINY, *COMPARABLE]
    launch(torchrun(str(HELPER), "--dump", str(tmp_path / "ddp"), "--out-dir", str(tmp_path / "out"),
                    "--batch-size", str(PER_PROCESS_BATCH), *common))
    launch([sys.executable, str(HELPER), "--dump", str(tmp_path / "one"), "--combine", "2",
            "--out-dir", str(tmp_path / "one_out"), "--batch-size", str(2 * PER_PROCESS_BATCH), *common])
    rank0, rank1 = weights(tmp_path / "ddp" / "rank0.pt"), weights(tmp_path / "ddp" / "rank1.pt")
    one = weights(tmp_path / "one" / "rank0.pt")
    # the same averaged gradients and the same optimizer steps: the processes agree bit for bit
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # the weights moved (Adam: up to lr per step), so the comparison below is between trained networks
    start = torch.load(tmp_path / "ddp" / "rank0.pt")["generator_start"]
    moved = max((rank0[f"generator.{k}"] - v).abs().max().item() for k, v in start.items())
    assert moved > 3e-3, moved
    # and they are one process's with the combined batch, up to the order of floating-point sums
    # (measured: 6e-8 after 20 steps that moved weights by 8e-3)
    difference = {k: (rank0[k] - one[k]).abs().max().item() for k in rank0}
    assert max(difference.values()) < 1e-5, sorted(difference.items(), key=lambda kv: -kv[1])[:3]


def test_torchrun_writes_one_checkpoint_and_one_history(data_root, tmp_path):
    """`torchrun -m models.train` itself, with the default losses (gradient penalty, mirrored fakes)."""
    out = tmp_path / "out"
    result = launch(torchrun("-m", "models.train", "--data-root", str(data_root), "--out-dir", str(out),
                             "--batch-size", str(PER_PROCESS_BATCH), *TINY))
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "history.json", "training_curves.png"]
    assert result.stdout.count("training on cpu x 2 processes") == 1  # one log: rank 0's
    assert result.stdout.count("step 20: mpjpe") + result.stderr.count("step 20: mpjpe") == 1
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 20 and state["train_config"]["batch_size"] == PER_PROCESS_BATCH
    assert not any(k.startswith("module.") for k in state["generator"])  # loads like any checkpoint
    assert json.loads((out / "history.json").read_text())["step"] == [0]
