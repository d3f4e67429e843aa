"""CMU mocap (models/data/cmu.py): BVH -> H36M-17 for every release's convention, the folder
loaders, the cross-subject split and the activity groups."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.skeleton import JOINT_INDEX, NUM_JOINTS, REFERENCE_LENGTHS, bone_lengths
from models.augment import joint_angles_valid
from models.data import DataError, cmu
from models.data.bvh import read_bvh

CMU_FILES = {  # convention -> a short file of that release
    "daz": "daz_friendly/02/02_03.bvh",
    "daz (rescaled salsa)": "daz_friendly_scaled_m/61/61_05_scaled.bvh",
    "asf": "asf_skeleton_30fps/16/16_01.bvh",
    "motionbuilder": "mb_friendly/02/02_01.bvh",
}
HEAD, PELVIS = JOINT_INDEX["head"], JOINT_INDEX["pelvis"]
ANKLES = [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]


# ---- CMU ------------------------------------------------------------------------------------

@pytest.mark.parametrize("release", CMU_FILES)
def test_each_cmu_convention_gives_upright_reference_skeletons(data_root, release):
    bvh = read_bvh(data_root / "cmu_mocap" / CMU_FILES[release])
    assert cmu.detect_convention(bvh).name == release.split()[0]
    poses = cmu.bvh_to_h36m(bvh, fps=30)
    expected_frames = (bvh.num_frames - cmu.detect_convention(bvh).skip_frames) * 30 / bvh.fps
    assert poses.shape == (pytest.approx(expected_frames, abs=1), NUM_JOINTS, 3)
    assert poses.dtype == np.float32 and np.isfinite(poses).all()
    # the release's proportions are gone: every bone has the reference length
    np.testing.assert_allclose(bone_lengths(poses), np.broadcast_to(REFERENCE_LENGTHS, (len(poses), 16)),
                               atol=0.05)
    # y down: the head is above (smaller y than) both ankles, by most of a body height
    assert (poses[:, HEAD, 1] < poses[:, ANKLES, 1].min(axis=1) - 1000).all()
    # the pelvis is about a leg length above the ankles on a typical frame (the runner bends his knees)
    assert 650 < np.median(poses[:, ANKLES, 1].mean(axis=1) - poses[:, PELVIS, 1]) < 900
    assert joint_angles_valid(poses).all()


def test_daz_and_motionbuilder_releases_of_one_take_agree(data_root):
    """02_01 exists in both releases; the DAZ limb calibration makes them match (18 mm; 47 mm without it)."""
    daz = cmu.bvh_to_h36m(read_bvh(data_root / "cmu_mocap/daz_friendly/02/02_01.bvh"), fps=None)
    mb = cmu.bvh_to_h36m(read_bvh(data_root / "cmu_mocap/mb_friendly/02/02_01.bvh"), fps=None)
    mb = mb[3:]  # DAZ adds a T-pose frame, and 3 blend frames are skipped with it
    assert len(daz) == len(mb)
    root_relative = (daz - daz[:, :1]) - (mb - mb[:, :1])
    assert np.linalg.norm(root_relative, axis=-1).mean() < 25.0
    # the world trajectories agree too (to a few cm; the releases place the pelvis differently)
    assert np.linalg.norm(daz[:, PELVIS] - mb[:, PELVIS], axis=-1).mean() < 100.0


def test_resample_indices():
    np.testing.assert_array_equal(cmu.resample_indices(9, 120.0, 30.0), [0, 4, 8])
    np.testing.assert_array_equal(cmu.resample_indices(5, 30.0, 30.0), np.arange(5))
    np.testing.assert_array_equal(cmu.resample_indices(5, 30.0, None), np.arange(5))
    np.testing.assert_array_equal(cmu.resample_indices(10, 120.0, 50.0), [0, 2, 5, 7, 9])


def test_folder_loader_dedupes_takes_and_groups_subjects(data_root, tmp_path):
    shared = data_root / "cmu_mocap"
    for rel in ("daz_friendly/02/02_01.bvh", "mb_friendly/02/02_01.bvh", "asf_skeleton_30fps/16/16_01.bvh"):
        target = tmp_path / "cmu_mocap" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared / rel, target)
    sequences = cmu.load_cmu_sequences(tmp_path / "cmu_mocap", progress=False)
    assert list(sequences) == ["02_01", "16_01"]
    assert len(sequences["02_01"]) == 85          # DAZ release: (344 - 4) frames at 120 -> 30 fps
    poses = cmu.load_cmu_poses(tmp_path, progress=False)   # the data root works too
    assert list(poses) == ["02", "16"] and len(poses["16"]) == 322


def test_folder_loader_errors(data_root, tmp_path):
    with pytest.raises(DataError, match="not found"):
        cmu.load_cmu_sequences(tmp_path / "missing")
    with pytest.raises(DataError, match="no .bvh files"):
        cmu.load_cmu_sequences(tmp_path)
    source = (data_root / "cmu_mocap/asf_skeleton_30fps/16/16_01.bvh").read_text()
    (tmp_path / "walk.bvh").write_text(source)
    with pytest.raises(DataError, match="walk.bvh: cannot tell the subject"):
        cmu.load_cmu_sequences(tmp_path, progress=False)
    (tmp_path / "walk.bvh").unlink()
    (tmp_path / "01_01.bvh").write_text(source.replace("rhumerus", "RightUpperArm"))
    with pytest.raises(DataError, match="01_01.bvh: unknown BVH skeleton"):
        cmu.load_cmu_sequences(tmp_path, progress=False)
    (tmp_path / "01_01.bvh").write_text(source[: len(source) // 2])
    with pytest.raises(DataError, match=r"01_01.bvh:\d+: "):
        cmu.load_cmu_sequences(tmp_path, progress=False)


def test_split_is_disjoint_and_covers_the_shared_subjects(data_root):
    critic, projection, test = (set(cmu.CRITIC_SUBJECTS), set(cmu.PROJECTION_SUBJECTS),
                                set(cmu.TEST_SUBJECTS))
    assert not (critic & projection) and not (critic & test) and not (projection & test)
    on_disk = {p.name.split("_")[0] for folder in ("cmu_mocap", cmu.VARIED_FOLDER)
               for p in (data_root / folder).rglob("*.bvh")}
    assert critic | projection | test == on_disk


def test_varied_clips_load_beside_the_others_without_their_t_pose(data_root, cmu_trials, tmp_path):
    trials = cmu_trials
    assert {"75_17", "143_18", "144_30", "02_08"} <= set(trials) and "07_01" in trials
    # 75_17 (60 fps): frame 0 is the converter's T-pose, arms straight out at shoulder height
    clip = tmp_path / "75" / "75_17.bvh"
    clip.parent.mkdir()
    shutil.copy(next((data_root / cmu.VARIED_FOLDER).rglob("75_17.bvh")), clip)
    with_t_pose = cmu.load_cmu_sequences(tmp_path, progress=False)["75_17"]
    assert len(with_t_pose) == len(trials["75_17"]) + 1 or len(with_t_pose) == len(trials["75_17"])
    j = JOINT_INDEX
    arm_drop = lambda poses: np.abs(poses[:, j["left_wrist"], 1] - poses[:, j["left_shoulder"], 1])  # noqa: E731
    assert arm_drop(with_t_pose)[0] < 80                   # mm below the shoulder: the T-pose
    assert arm_drop(trials["75_17"])[0] > 300              # the take itself starts with the arms down


def test_every_shared_take_has_an_activity_group(cmu_trials):
    groups = {t: cmu.activity_group(t) for t in cmu_trials}
    assert "other" not in groups.values(), [t for t, g in groups.items() if g == "other"]
    assert set(groups.values()) == set(cmu.ACTIVITY_GROUPS)
    assert groups["143_18"] == "sitting/bending" and groups["02_08"] == "swordplay" and groups["02_01"] == "walk/run"
