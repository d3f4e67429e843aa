"""Shared fixtures. Data lives outside the repository (../shared/data or $REPNET_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    return Path(os.environ.get("REPNET_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The freely licensed data folder; tests that need it skip with a reason where it is absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set REPNET_DATA to the data folder)")
    return root


@pytest.fixture(scope="session")
def media_dir(data_root: Path) -> Path:
    return data_root / "media" / "tfjs_models_pose_detection"
