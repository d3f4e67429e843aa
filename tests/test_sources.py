"""Your own training data (models/data/sources.py: models.train --critic-3d / --projection-3d /
--given-2d): the file specs, and every source rebuilt on the reference skeleton."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.skeleton import REFERENCE_LENGTHS
from models.data import DataError
from models.data.cmu import load_cmu_poses
from models.data.h36m import H36M_32_TO_17, H36M_Z_UP_TO_Y_DOWN
from models.data.sources import load_3d_source, parse_npz_spec


def test_npz_source_spec():
    assert parse_npz_spec("h36m/data_3d_h36m.npz:S1,S5") == (Path("h36m/data_3d_h36m.npz"), ["S1", "S5"])
    assert parse_npz_spec("data_2d_h36m_gt.npz") == (Path("data_2d_h36m_gt.npz"), None)
    with pytest.raises(DataError, match="expected a Human3.6M .npz file"):
        parse_npz_spec("data_3d_h36m.npy:S1")


def test_3d_sources_are_rebuilt_with_the_reference_skeleton(data_root, tmp_path):
    """A Human3.6M subject with longer bones (and a BVH folder) come out with the reference bone
    lengths and the recorded bone directions, like the CMU data: one body size for the critic."""
    from core.skeleton import bone_directions, bone_vectors
    walking = load_cmu_poses(data_root, progress=False)["07"][:50]
    tall = walking * 1.15                                      # every bone 15% longer
    full = np.zeros((len(tall), 32, 3))
    full[:, list(H36M_32_TO_17)] = tall @ H36M_Z_UP_TO_Y_DOWN / 1000.0
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d={"S8": {"Walking": full}})
    source = load_3d_source(f"{tmp_path / 'data_3d_h36m.npz'}:S8")
    assert source.people == {"H36M S8"} and source.poses.shape == (50, 17, 3)
    np.testing.assert_allclose(np.linalg.norm(bone_vectors(source.poses), axis=-1),
                               np.broadcast_to(REFERENCE_LENGTHS, (50, 16)), rtol=1e-4)
    np.testing.assert_allclose(bone_directions(source.poses), bone_directions(walking), atol=1e-5)

    bvh = load_3d_source(str(data_root / "cmu_mocap" / "daz_friendly" / "03"))
    assert bvh.people == {"CMU 03"} and len(bvh.poses) == 199
    with pytest.raises(DataError, match="no .bvh files in it"):
        load_3d_source(str(tmp_path))
