"""Checkpoints: save and load safely (tensors and plain values only, never arbitrary objects).

A checkpoint is a dict written by torch.save and read with torch.load(weights_only=True), which
refuses anything but tensors and plain Python containers: a file crafted to run code when
unpickled fails to load instead of running it.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from models.repnet import PoseAndCamera, RepNetConfig

FORMAT = "repnet-live-checkpoint"
VERSION = 1


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
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a torch file): "
                              f"{type(err).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a RepNet Live checkpoint (train one with `python -m models.train`)")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} is checkpoint version {state.get('version')}, this code reads version "
                              f"{VERSION}: re-export it with the matching release")
    return state


def generator_from_checkpoint(state: dict, path: Path | str = "checkpoint") -> tuple[PoseAndCamera, RepNetConfig]:
    """Build the pose/camera generator described by a loaded checkpoint and load its weights."""
    try:
        cfg = RepNetConfig(**state["model_config"])
        generator = PoseAndCamera(cfg)
        weights = {k: v.float() for k, v in state["generator"].items()}
        generator.load_state_dict(weights)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path} lacks or misnames the model description ({err}); "
                              "it was not written by this version of models.train") from None
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise CheckpointError(f"{path} does not match the RepNet architecture it declares: {detail}") from None
    generator.eval()
    return generator, cfg
