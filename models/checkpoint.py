"""Checkpoints: save and load safely (tensors and plain values only, never arbitrary objects).

A checkpoint is a dict written by torch.save and read with torch.load(weights_only=True), which
refuses anything but tensors and plain Python containers: a file crafted to run code when
unpickled fails to load instead of running it.
"""
from __future__ import annotations

import math
import os
import pickle
from dataclasses import fields
from pathlib import Path

import torch

from models.repnet import PoseAndCamera, RepNetConfig

FORMAT = "repnet-live-checkpoint"
VERSION = 1

# Sizes a checkpoint may declare. A crafted config (width 30,000) would otherwise make the model
# allocate gigabytes before its weights are found not to fit; the shipped model is 512 wide.
MAX_WIDTH = 8192
MAX_BLOCKS = 32


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, not ours or of another architecture."""


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` (tensors and plain values) atomically: a crash leaves the old file intact."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint of ours, checking its format and version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (pass the path of a .pt file written by models.train)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path} holds objects other than weights and was not loaded "
                              f"(only checkpoints written by this project are accepted): {first_line}") from None
    except Exception as err:  # a text file or a damaged one: pickle fails in many ways (KeyError, EOFError, ...)
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a torch file): "
                              f"{type(err).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a RepNet Live checkpoint (train one with `python -m models.train`)")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} is checkpoint version {state.get('version')}, this code reads version "
                              f"{VERSION}: re-export it with the matching release")
    return state


def _declared_config(state: dict, path: Path | str) -> RepNetConfig:
    """The checkpoint's model_config, with every size within MAX_WIDTH / MAX_BLOCKS."""
    try:
        cfg = RepNetConfig(**state["model_config"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path} lacks or misnames the model description ({err}); "
                              "it was not written by this version of models.train") from None
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        default = f.default
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            low, high = (0, MAX_BLOCKS) if f.name.endswith("blocks") else (1, MAX_WIDTH)
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = True
        if not ok:
            raise CheckpointError(f"{path} declares an impossible model ({f.name} = {value!r}); "
                                  "it was not written by models.train or has been altered")
    return cfg


def _check_weights_fit(cfg: RepNetConfig, weights: object, path: Path | str) -> None:
    """Compare the stored tensors with the shapes the declared model has, before building it: the
    declared model is laid out on the meta device, which allocates no memory."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in PoseAndCamera(cfg).state_dict().items()}
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path} holds no generator weights (a dict of tensors); "
                              "it was not written by models.train")
    problem = None
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        problem = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
    else:
        for name, shape in expected.items():
            if tuple(weights[name].shape) != shape:
                problem = f"{name} is {list(weights[name].shape)}, the declared model needs {list(shape)}"
                break
    if problem is not None:
        raise CheckpointError(f"{path} does not match the RepNet architecture it declares: {problem}")


def generator_from_checkpoint(state: dict, path: Path | str = "checkpoint") -> tuple[PoseAndCamera, RepNetConfig]:
    """Build the pose/camera generator described by a loaded checkpoint and load its weights.
    The declared sizes and the stored tensors are checked first, so that nothing is allocated for
    a model the file cannot fill."""
    cfg = _declared_config(state, path)
    _check_weights_fit(cfg, state.get("generator"), path)
    try:
        generator = PoseAndCamera(cfg)
        weights = {k: v.float() for k, v in state["generator"].items()}
        generator.load_state_dict(weights)
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{path} does not match the RepNet architecture it declares: {detail}") from None
    generator.eval()
    return generator, cfg
