"""Training on several processes (torchrun): who this process is, and DistributedDataParallel.

    torchrun --nproc_per_node 2 -m models.train --out-dir runs/ddp ...

torchrun starts the processes and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT;
`start` joins them into one process group (nccl on GPUs, gloo on CPU). Every process loads the same
data and builds the same networks; each then draws its own share of every batch from its own random
stream (seeded by its rank), and DistributedDataParallel averages the gradients across processes
before each optimizer step, so every process takes the same step: with batch size B on N processes
a step sees N * B samples, as one process with batch size N * B would. Rank 0 alone evaluates and
writes the checkpoint, the history and the curves. Without torchrun nothing here changes anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Process:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """The process that evaluates and writes (rank 0)."""
        return self.rank == 0


def start(device: torch.device) -> Process:
    """Join the process group torchrun describes in the environment; one process without it.
    On GPUs each process takes the GPU of its local rank."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Process(device=device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Process(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def own_stream(rng: np.random.Generator, seed: int, process: Process) -> np.random.Generator:
    """The random stream this process draws its batches from: `rng` itself on one process (runs
    are as before), else one seeded by (seed, rank), so that the processes draw different samples.
    The torch generator (gradient-penalty interpolation, view noise) is reseeded by rank likewise."""
    if process.world_size == 1:
        return rng
    torch.manual_seed(seed * 1000 + process.rank)
    return np.random.default_rng([seed, process.rank])


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """`module` in DistributedDataParallel when there is a process group (it starts from rank 0's
    weights and averages the gradients in backward), else `module` itself."""
    if not dist.is_initialized():
        return module
    # no buffer sync in forward: the only buffer is the critic's constant bone matrix, and a broadcast in
    # every forward would hang rank 0's evaluation, which the other ranks do not run.
    return torch.nn.parallel.DistributedDataParallel(module, forward_sync_buffers=False)


def unwrap(module: torch.nn.Module | None) -> torch.nn.Module | None:
    """The network inside a DistributedDataParallel wrapper: its state_dict has no 'module.' prefix,
    so checkpoints load the same whether or not they were trained on several processes."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module
