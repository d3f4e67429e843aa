"""Data readers, one module per dataset, each turning what it reads into the H36M-17 skeleton
(core/skeleton.py): millimetres, y down.

  bvh.py           the BVH format: parser and forward kinematics
  cmu.py           CMU mocap (BVH): poses rebuilt on the reference body, activity groups, the
                   cross-subject split
  mpii.py          MPII Human Pose: in-the-wild 2D annotations
  h36m.py          Human3.6M in VideoPose3D's .npz formats, its cameras and test sequences
  mpi_inf_3dhp.py  the MPI-INF-3DHP test set (annot_data.mat)
  sources.py       your own training data (BVH folders, Human3.6M files) for models.train
  projection.py    synthetic 2D from 3D: random cameras and the detector noise model

This module holds what they all share: where the data lives and the errors they raise.
See docs/data.md for every mapping choice.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class DataError(ValueError):
    """Data that cannot be used; the message says what is wrong and what to do."""


class EvalFormatError(DataError):
    """An evaluation file that is missing, or not in the format the reader expects."""


def default_data_root() -> Path:
    """$REPNET_DATA, else <repo>/../shared/data."""
    return Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data"))
