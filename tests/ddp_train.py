"""Runs models.train.main as `python -m models.train` would, then saves this process's final
weights, so that a test can compare processes (tests/test_train_distributed.py). Not a test itself.

    torchrun --nproc_per_node 2 tests/ddp_train.py --dump DIR <models.train arguments>
    python tests/ddp_train.py --dump DIR --combine 2 <models.train arguments>

--combine N: one process whose every batch is the N ranks' shares side by side: rank r's stream
(models.distributed.own_stream) draws n / N of each request, in rank order. With batch size N * B
this process sees, step for step, the samples that N processes of batch size B see together.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np
import torch

from models import distributed, train  # noqa: E402
from models.data import projection  # noqa: E402
from models.training_data import Batches  # noqa: E402


class CombinedBatches:
    """Batches drawing each request from N rank streams and concatenating them (rank 0 first)."""

    def __init__(self, data, cfg, camera_input: bool, seed: int, ranks: int):
        self.parts = [Batches(data, cfg, camera_input, np.random.default_rng([seed, r])) for r in range(ranks)]
        self.camera_input, self.rng = camera_input, self.parts[0].rng

    def _joined(self, method: str, n: int):
        if n % len(self.parts):
            raise ValueError(f"{n} samples do not split over {len(self.parts)} streams")
        drawn = [getattr(part, method)(n // len(self.parts)) for part in self.parts]
        return tuple(torch.cat(t) for t in zip(*drawn)) if isinstance(drawn[0], tuple) else torch.cat(drawn)

    def generator_inputs(self, n: int):
        return self._joined("generator_inputs", n)

    def real_poses(self, n: int):
        return self._joined("real_poses", n)


def main(argv: list[str]) -> None:
    # The reprojection loss divides by its batch's weight sum, so it is a mean over samples (and the
    # average of two processes' gradients is the combined batch's) only where every sample weighs the
    # same: no randomly dropped joints in the projected 2D (2% by default), in every run of this helper.
    projection.project_random_cameras = functools.partial(projection.project_random_cameras, dropout_prob=0.0)
    dump = Path(argv[argv.index("--dump") + 1])
    del argv[argv.index("--dump"):argv.index("--dump") + 2]
    combine = 0
    if "--combine" in argv:
        combine = int(argv[argv.index("--combine") + 1])
        del argv[argv.index("--combine"):argv.index("--combine") + 2]
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        train.Batches = lambda data, cfg, camera_input, rng: CombinedBatches(data, cfg, camera_input, seed, combine)
    built = {}
    build_networks = train.build_networks

    def keep(*args, **kwargs):
        built["nets"] = build_networks(*args, **kwargs)
        built["start"] = {k: v.clone() for k, v in distributed.unwrap(built["nets"].generator).state_dict().items()}
        return built["nets"]

    train.build_networks = keep
    train.main(argv)
    nets = built["nets"]
    dump.mkdir(parents=True, exist_ok=True)
    torch.save({"generator_start": built["start"], "generator": distributed.unwrap(nets.generator).state_dict(),
                "critic": distributed.unwrap(nets.critic).state_dict()},
               dump / f"rank{os.environ.get('RANK', '0')}.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
