"""The MPI-INF-3DHP test-set reader (models/data/mpi_inf_3dhp.py), on small files written in the real format."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.skeleton import JOINT_INDEX, JOINT_NAMES
from models.data import EvalFormatError
from models.data import mpi_inf_3dhp
from tests.dataset_files import (ACTIVITY, H36M_TO_3DHP_NAME, NAMES_3DHP, VALID, expected_sequence, matlab_variables,
                                 write_mat_v73)


@pytest.fixture
def test_set(tmp_path: Path) -> Path:
    (tmp_path / "TS1").mkdir()
    write_mat_v73(tmp_path / "TS1" / "annot_data.mat", matlab_variables())
    return tmp_path


def test_3dhp_v73_file_round_trips_a_known_pose(test_set: Path):
    seq = mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(test_set / "TS1" / "annot_data.mat")
    expected = expected_sequence()
    assert seq.name == "TS1" and seq.image_size == (2048, 2048)
    assert seq.keypoints_2d.shape == (6, 17, 2) and seq.poses_3d.shape == (6, 17, 3)
    np.testing.assert_allclose(seq.keypoints_2d, expected["keypoints_2d"])
    np.testing.assert_allclose(seq.poses_3d, expected["poses_3d"])
    np.testing.assert_allclose(seq.poses_3d_universal, expected["poses_3d_universal"])
    assert seq.valid.dtype == bool and seq.valid.tolist() == VALID.astype(bool).tolist()
    assert seq.activity_ids.tolist() == ACTIVITY.tolist()
    assert seq.activity_names.tolist() == ["Standing/Walking", "Standing/Walking", "Exercising", "Sitting",
                                           "On The Floor", "Miscellaneous"]


def test_3dhp_joints_are_reordered_to_h36m_by_position():
    raw = np.arange(17 * 3, dtype=float).reshape(1, 17, 3)  # joint k of the 3DHP order holds 3k..3k+2
    h36m = raw[:, list(mpi_inf_3dhp.MPI_INF_3DHP_TO_H36M)]
    for name, index in JOINT_INDEX.items():
        assert h36m[0, index, 0] == 3 * NAMES_3DHP.index(H36M_TO_3DHP_NAME[name])
    assert mpi_inf_3dhp.MPI_INF_3DHP_JOINT_NAMES == tuple(NAMES_3DHP)
    scored = {JOINT_NAMES[i] for i in mpi_inf_3dhp.MPI_INF_3DHP_PCK_JOINTS}
    assert scored == set(JOINT_NAMES) - {"pelvis", "spine", "neck_nose"} and len(scored) == 14


def test_3dhp_folder_and_test_set_root_are_accepted(test_set: Path):
    by_folder = mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(test_set / "TS1")
    by_root = mpi_inf_3dhp.load_mpi_inf_3dhp_test_set(test_set, sequences=("TS1",))
    np.testing.assert_array_equal(by_folder.poses_3d, by_root["TS1"].poses_3d)
    with pytest.raises(EvalFormatError, match="TS2/annot_data.mat"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_test_set(test_set)


def test_3dhp_older_v5_mat_reads_the_same(tmp_path: Path, test_set: Path):
    scipy_io = pytest.importorskip("scipy.io")
    (tmp_path / "v5" / "TS1").mkdir(parents=True)
    scipy_io.savemat(tmp_path / "v5" / "TS1" / "annot_data.mat", matlab_variables())
    v5 = mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "v5" / "TS1")
    v73 = mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(test_set / "TS1")
    for field in ("keypoints_2d", "poses_3d", "poses_3d_universal", "activity_ids", "valid"):
        np.testing.assert_array_equal(getattr(v5, field), getattr(v73, field))


def test_3dhp_y_up_or_mismatched_annotations_are_refused(tmp_path: Path):
    write_mat_v73(tmp_path / "annot_data.mat", matlab_variables(flip_y=True))
    with pytest.raises(EvalFormatError, match="not a y-down projection"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")


def test_3dhp_bad_files_get_a_clear_error(tmp_path: Path):
    with pytest.raises(EvalFormatError, match="not found"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "TS9")
    variables = matlab_variables()
    del variables["univ_annot3"]
    write_mat_v73(tmp_path / "annot_data.mat", variables)
    with pytest.raises(EvalFormatError, match="lacks univ_annot3"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")
    variables = matlab_variables()
    variables["annot3"] = variables["annot3"][:, :16]  # 16 joints: some other skeleton
    write_mat_v73(tmp_path / "annot_data.mat", variables)
    with pytest.raises(EvalFormatError, match="3x17x1xF"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "annot_data.mat")
    (tmp_path / "text.mat").write_text("not a mat file")
    with pytest.raises(EvalFormatError, match="text.mat"):
        mpi_inf_3dhp.load_mpi_inf_3dhp_sequence(tmp_path / "text.mat")
