"""Data loaders: CMU BVH -> H36M-17 (every convention), MPII, Human3.6M formats, synthetic projections."""
from __future__ import annotations

import io
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from models import datasets
from models.augment import joint_angles_valid
from models.bvh import read_bvh
from core.skeleton import JOINT_INDEX, NUM_JOINTS, bone_lengths

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
    assert datasets.detect_convention(bvh).name == release.split()[0]
    poses = datasets.bvh_to_h36m(bvh, fps=30)
    expected_frames = (bvh.num_frames - datasets.detect_convention(bvh).skip_frames) * 30 / bvh.fps
    assert poses.shape == (pytest.approx(expected_frames, abs=1), NUM_JOINTS, 3)
    assert poses.dtype == np.float32 and np.isfinite(poses).all()
    # the release's proportions are gone: every bone has the reference length
    np.testing.assert_allclose(bone_lengths(poses), np.broadcast_to(datasets.REFERENCE_LENGTHS, (len(poses), 16)),
                               atol=0.05)
    # y down: the head is above (smaller y than) both ankles, by most of a body height
    assert (poses[:, HEAD, 1] < poses[:, ANKLES, 1].min(axis=1) - 1000).all()
    # the pelvis is about a leg length above the ankles on a typical frame (the runner bends his knees)
    assert 650 < np.median(poses[:, ANKLES, 1].mean(axis=1) - poses[:, PELVIS, 1]) < 900
    assert joint_angles_valid(poses).all()


def test_daz_and_motionbuilder_releases_of_one_take_agree(data_root):
    """02_01 exists in both releases; the DAZ limb calibration makes them match (18 mm; 47 mm without it)."""
    daz = datasets.bvh_to_h36m(read_bvh(data_root / "cmu_mocap/daz_friendly/02/02_01.bvh"), fps=None)
    mb = datasets.bvh_to_h36m(read_bvh(data_root / "cmu_mocap/mb_friendly/02/02_01.bvh"), fps=None)
    mb = mb[3:]  # DAZ adds a T-pose frame, and 3 blend frames are skipped with it
    assert len(daz) == len(mb)
    root_relative = (daz - daz[:, :1]) - (mb - mb[:, :1])
    assert np.linalg.norm(root_relative, axis=-1).mean() < 25.0
    # the world trajectories agree too (to a few cm; the releases place the pelvis differently)
    assert np.linalg.norm(daz[:, PELVIS] - mb[:, PELVIS], axis=-1).mean() < 100.0


def test_resample_indices():
    np.testing.assert_array_equal(datasets.resample_indices(9, 120.0, 30.0), [0, 4, 8])
    np.testing.assert_array_equal(datasets.resample_indices(5, 30.0, 30.0), np.arange(5))
    np.testing.assert_array_equal(datasets.resample_indices(5, 30.0, None), np.arange(5))
    np.testing.assert_array_equal(datasets.resample_indices(10, 120.0, 50.0), [0, 2, 5, 7, 9])


def test_folder_loader_dedupes_takes_and_groups_subjects(data_root, tmp_path):
    cmu = data_root / "cmu_mocap"
    for rel in ("daz_friendly/02/02_01.bvh", "mb_friendly/02/02_01.bvh", "asf_skeleton_30fps/16/16_01.bvh"):
        target = tmp_path / "cmu_mocap" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(cmu / rel, target)
    sequences = datasets.load_cmu_sequences(tmp_path / "cmu_mocap", progress=False)
    assert list(sequences) == ["02_01", "16_01"]
    assert len(sequences["02_01"]) == 85          # DAZ release: (344 - 4) frames at 120 -> 30 fps
    poses = datasets.load_cmu_poses(tmp_path, progress=False)   # the data root works too
    assert list(poses) == ["02", "16"] and len(poses["16"]) == 322


def test_folder_loader_errors(data_root, tmp_path):
    with pytest.raises(datasets.DataError, match="not found"):
        datasets.load_cmu_sequences(tmp_path / "missing")
    with pytest.raises(datasets.DataError, match="no .bvh files"):
        datasets.load_cmu_sequences(tmp_path)
    source = (data_root / "cmu_mocap/asf_skeleton_30fps/16/16_01.bvh").read_text()
    (tmp_path / "walk.bvh").write_text(source)
    with pytest.raises(datasets.DataError, match="walk.bvh: cannot tell the subject"):
        datasets.load_cmu_sequences(tmp_path, progress=False)
    (tmp_path / "walk.bvh").unlink()
    (tmp_path / "01_01.bvh").write_text(source.replace("rhumerus", "RightUpperArm"))
    with pytest.raises(datasets.DataError, match="01_01.bvh: unknown BVH skeleton"):
        datasets.load_cmu_sequences(tmp_path, progress=False)
    (tmp_path / "01_01.bvh").write_text(source[: len(source) // 2])
    with pytest.raises(datasets.DataError, match=r"01_01.bvh:\d+: "):
        datasets.load_cmu_sequences(tmp_path, progress=False)


def test_split_is_disjoint_and_covers_the_shared_subjects(data_root):
    critic, projection, test = (set(datasets.CRITIC_SUBJECTS), set(datasets.PROJECTION_SUBJECTS),
                                set(datasets.TEST_SUBJECTS))
    assert not (critic & projection) and not (critic & test) and not (projection & test)
    on_disk = {p.name.split("_")[0] for folder in ("cmu_mocap", datasets.VARIED_FOLDER)
               for p in (data_root / folder).rglob("*.bvh")}
    assert critic | projection | test == on_disk


def test_varied_clips_load_beside_the_others_without_their_t_pose(data_root, cmu_trials, tmp_path):
    trials = cmu_trials
    assert {"75_17", "143_18", "144_30", "02_08"} <= set(trials) and "07_01" in trials
    # 75_17 (60 fps): frame 0 is the converter's T-pose, arms straight out at shoulder height
    clip = tmp_path / "75" / "75_17.bvh"
    clip.parent.mkdir()
    shutil.copy(next((data_root / datasets.VARIED_FOLDER).rglob("75_17.bvh")), clip)
    with_t_pose = datasets.load_cmu_sequences(tmp_path, progress=False)["75_17"]
    assert len(with_t_pose) == len(trials["75_17"]) + 1 or len(with_t_pose) == len(trials["75_17"])
    j = datasets.JOINT_INDEX
    arm_drop = lambda poses: np.abs(poses[:, j["left_wrist"], 1] - poses[:, j["left_shoulder"], 1])  # noqa: E731
    assert arm_drop(with_t_pose)[0] < 80                   # mm below the shoulder: the T-pose
    assert arm_drop(trials["75_17"])[0] > 300              # the take itself starts with the arms down


def test_every_shared_take_has_an_activity_group(cmu_trials):
    groups = {t: datasets.activity_group(t) for t in cmu_trials}
    assert "other" not in groups.values(), [t for t, g in groups.items() if g == "other"]
    assert set(groups.values()) == set(datasets.ACTIVITY_GROUPS)
    assert groups["143_18"] == "sitting/bending" and groups["02_08"] == "swordplay" and groups["02_01"] == "walk/run"


def test_balanced_sampling_evens_out_the_activity_groups():
    labels = np.array(["walk"] * 900 + ["sit"] * 100)
    rng = np.random.default_rng(0)
    for power, sit_share in ((0.0, 0.1), (0.5, 0.25), (1.0, 0.5)):
        draws = labels[np.searchsorted(datasets.balanced_cdf(labels, power), rng.random(20000))]
        assert np.mean(draws == "sit") == pytest.approx(sit_share, abs=0.015)


# ---- MPII -----------------------------------------------------------------------------------

def test_mpii_mapping_on_known_values():
    parts = np.arange(32, dtype=float).reshape(1, 16, 2) * 10 + 100    # joint k at (100+20k, 110+20k)
    parts = np.concatenate([parts, parts, parts, np.full((1, 16, 2), -1.0)])
    parts[1, 0] = -1            # r ankle missing (CSV style)
    parts[2, 6] = 0             # pelvis missing (HDF5 style)
    keypoints, weights = datasets.mpii_to_h36m(parts)
    assert keypoints.shape == (3, 17, 2) and weights.shape == (3, 17)   # the all-missing row is dropped
    mpii = lambda k: parts[0, k]
    j = JOINT_INDEX
    expected = {"pelvis": mpii(6), "right_ankle": mpii(0), "left_hip": mpii(3), "thorax": mpii(7),
                "spine": (mpii(6) + mpii(7)) / 2, "neck_nose": (mpii(8) + mpii(9)) / 2, "head": mpii(9),
                "right_wrist": mpii(10), "left_shoulder": mpii(13), "left_wrist": mpii(15)}
    for name, xy in expected.items():
        np.testing.assert_allclose(keypoints[0, j[name]], xy)
    assert (weights[0] == 1).all()
    # a missing joint: weight 0, placed on the pelvis
    assert weights[1, j["right_ankle"]] == 0 and weights[1].sum() == 16
    np.testing.assert_allclose(keypoints[1, j["right_ankle"]], mpii(6))
    # a missing pelvis: it and spine (derived from it) get weight 0, placeholders are finite
    assert weights[2, j["pelvis"]] == 0 and weights[2, j["spine"]] == 0 and weights[2].sum() == 15
    assert np.isfinite(keypoints).all()


def test_mpii_loaders(data_root):
    train, train_w = datasets.load_mpii_2d(data_root, split="train")
    everything, _ = datasets.load_mpii_2d(data_root, split="all")
    valid, valid_w = datasets.load_mpii_2d(data_root / "mpii", split="valid")
    assert len(everything) == 17372 and len(valid) == 2958
    valid_names = set((data_root / "mpii/pose_hg_train_annot/valid_images.txt").read_text().split())
    assert 0 < len(everything) - len(train) <= len(valid_names)
    for kp, w in ((train, train_w), (valid, valid_w)):
        assert kp.shape[1:] == (17, 2) and w.shape == kp.shape[:2] and np.isfinite(kp).all()
        assert set(np.unique(w)) <= {0.0, 1.0} and w.mean() > 0.85
    with pytest.raises(datasets.DataError, match="unknown MPII split"):
        datasets.load_mpii_2d(data_root, split="test")


# ---- Human3.6M (VideoPose3D formats), fixtures generated in the real format ------------------

def _h36m_3d_fixture(path: Path) -> dict:
    rng = np.random.default_rng(0)
    data = {"S1": {"Walking": rng.normal(size=(5, 32, 3)), "Sitting 1": rng.normal(size=(3, 32, 3))},
            "S9": {"Walking": rng.normal(size=(4, 32, 3))}}
    np.savez_compressed(path, positions_3d=data)     # stored as a pickled dict, like the real file
    return data


def test_h36m_3d_reader(tmp_path):
    path = tmp_path / "data_3d_h36m.npz"
    data = _h36m_3d_fixture(path)
    poses = datasets.load_h36m_3d(path, subjects=["S1"])
    assert sorted(poses) == [("S1", "Sitting 1"), ("S1", "Walking")]
    walking = poses[("S1", "Walking")]
    assert walking.shape == (5, 17, 3) and walking.dtype == np.float32
    source = data["S1"]["Walking"][:, list(datasets.H36M_32_TO_17)]
    # z up, metres -> y down, mm: (x, y, z) -> (x, -z, y) * 1000
    np.testing.assert_allclose(walking[..., 0], source[..., 0] * 1000, rtol=1e-5)
    np.testing.assert_allclose(walking[..., 1], -source[..., 2] * 1000, rtol=1e-5)
    np.testing.assert_allclose(walking[..., 2], source[..., 1] * 1000, rtol=1e-5)
    assert np.linalg.det(datasets.H36M_Z_UP_TO_Y_DOWN) == pytest.approx(1.0)   # a rotation: no mirroring
    assert len(datasets.load_h36m_3d(path)) == 3
    with pytest.raises(datasets.DataError, match="no subject 'S11'; the file has S1, S9"):
        datasets.load_h36m_3d(path, subjects=["S11"])


def test_h36m_joint_selection_matches_videopose3d():
    # VideoPose3D removes joints [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]
    removed = {4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31}
    assert datasets.H36M_32_TO_17 == tuple(i for i in range(32) if i not in removed)


def test_h36m_2d_reader(tmp_path):
    rng = np.random.default_rng(1)
    cams = [rng.uniform(0, 1000, size=(6 + c, 17, 2)).astype(np.float32) for c in range(4)]
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    np.savez_compressed(path, positions_2d={"S9": {"Walking": cams}}, metadata=metadata)
    keypoints = datasets.load_h36m_2d(path, subjects=["S9"])
    assert sorted(keypoints) == [("S9", "Walking", c) for c in range(4)]
    np.testing.assert_array_equal(keypoints[("S9", "Walking", 2)], cams[2])
    coco = tmp_path / "data_2d_h36m_detectron_pt_coco.npz"
    np.savez_compressed(coco, positions_2d={"S9": {"Walking": cams}}, metadata={**metadata, "layout_name": "coco"})
    with pytest.raises(datasets.DataError, match="layout 'coco' is not 'h36m'"):
        datasets.load_h36m_2d(coco)


def test_h36m_reader_checks_structure(tmp_path):
    bad_shape = tmp_path / "bad_shape.npz"
    np.savez_compressed(bad_shape, positions_3d={"S1": {"Walking": np.zeros((5, 20, 3))}})
    with pytest.raises(datasets.DataError, match=r"Walking: expected float \[frames, 32 or 17, 3\]"):
        datasets.load_h36m_3d(bad_shape)
    wrong_key = tmp_path / "wrong_key.npz"
    np.savez_compressed(wrong_key, poses=np.zeros(3))
    with pytest.raises(datasets.DataError, match="no 'positions_3d' entry"):
        datasets.load_h36m_3d(wrong_key)
    not_zip = tmp_path / "not_zip.npz"
    not_zip.write_text("hello")
    with pytest.raises(datasets.DataError, match="not an .npz archive"):
        datasets.load_h36m_3d(not_zip)


class _Payload:
    """What a crafted file could hold: unpickling it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_h36m_reader_refuses_code_in_pickles(tmp_path):
    marker = tmp_path / "pwned"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": ()})
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("positions_3d.npy", header.getvalue() + pickle.dumps(_Payload(marker), protocol=3))
    with pytest.raises(datasets.DataError, match="refusing to load io.open"):
        datasets.load_h36m_3d(path)
    assert not marker.exists()


# ---- synthetic projections ------------------------------------------------------------------

@pytest.fixture(scope="module")
def walking_poses(data_root) -> np.ndarray:
    return datasets.bvh_to_h36m(read_bvh(data_root / "cmu_mocap/daz_friendly/02/02_03.bvh"), fps=30)


def test_projection_is_a_pinhole_camera(walking_poses):
    poses = np.repeat(walking_poses, 5, axis=0)
    keypoints, poses_camera, weights, rotations = datasets.project_random_cameras(
        poses, np.random.default_rng(0), noise_px=0.0, outlier_prob=0.0, dropout_prob=0.0)
    assert keypoints.shape == (len(poses), 17, 2) and poses_camera.shape == (len(poses), 17, 3)
    assert (weights == 1).all()
    # camera-frame poses are the root-relative world poses turned by the returned rotations
    np.testing.assert_allclose(poses_camera[:, PELVIS], 0.0, atol=1e-3)
    centred = poses - poses[:, PELVIS:PELVIS + 1]
    np.testing.assert_allclose(np.einsum("nij,nkj->nki", rotations, centred), poses_camera, atol=1e-2)
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", rotations, rotations), np.broadcast_to(np.eye(3), rotations.shape), atol=1e-5)
    np.testing.assert_allclose(bone_lengths(poses_camera), bone_lengths(poses), rtol=1e-4)
    # the pelvis sits on the optical axis: the image centre
    np.testing.assert_allclose(keypoints[:, PELVIS], 500.0, atol=1e-3)
    # every pixel is centre + f * x / (d + z): recover f and d per frame by least squares
    x, z, u = poses_camera[..., 0].astype(float), poses_camera[..., 2].astype(float), keypoints[..., 0] - 500.0
    for i in range(0, len(poses), 17):
        A = np.stack([u[i], -x[i]], axis=1)          # u * d - f * x = -u * z
        (d, f), *_ = np.linalg.lstsq(A, -u[i] * z[i], rcond=None)
        assert 3500 - 1 <= d <= 7000 + 1 and 800 - 1 <= f <= 1600 + 1
        np.testing.assert_allclose(keypoints[i, :, 1] - 500.0, f * poses_camera[i, :, 1] / (d + z[i]), atol=1e-2)
    # the cameras look from all round: the facing direction in the image varies over the circle
    assert (np.abs(keypoints[:, JOINT_INDEX["left_hip"], 0] - 500) > 20).mean() > 0.5


def test_projection_noise_outliers_and_dropout(walking_poses):
    poses = np.repeat(walking_poses, 60, axis=0)
    clean, *_ = datasets.project_random_cameras(poses, np.random.default_rng(3), noise_px=0.0,
                                                  outlier_prob=0.0, dropout_prob=0.0)
    noisy, _, weights, _ = datasets.project_random_cameras(poses, np.random.default_rng(3), noise_px=4.0,
                                                        outlier_prob=0.02, dropout_prob=0.05)
    size = np.maximum(np.ptp(clean[..., 0], axis=1), np.ptp(clean[..., 1], axis=1))[:, None]
    residual = np.linalg.norm(noisy - clean, axis=-1) / (size / 500.0)     # px at a 500 px person
    kept = weights > 0
    assert weights.dtype == np.float32 and abs((~kept).mean() - 0.05) < 0.01
    # dropped joints sit on the (noisy) pelvis
    pelvis = np.broadcast_to(noisy[:, PELVIS:PELVIS + 1], noisy.shape)
    np.testing.assert_allclose(noisy[~kept], pelvis[~kept])
    # 2D Gaussian of std 4 per axis: median distance 4 * sqrt(2 ln 2) = 4.71
    assert np.median(residual[kept]) == pytest.approx(4.71, rel=0.1)
    outliers = (residual[kept] > 20.0).mean()             # 5-25 % of the person away
    assert 0.01 < outliers < 0.03


def test_projection_is_reproducible(walking_poses):
    a = datasets.project_random_cameras(walking_poses, np.random.default_rng(7))
    b = datasets.project_random_cameras(walking_poses, np.random.default_rng(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---- training sources (models.train --critic-3d / --projection-3d / --given-2d) --------------

def test_npz_source_spec():
    assert datasets.parse_npz_spec("h36m/data_3d_h36m.npz:S1,S5") == (Path("h36m/data_3d_h36m.npz"), ["S1", "S5"])
    assert datasets.parse_npz_spec("data_2d_h36m_gt.npz") == (Path("data_2d_h36m_gt.npz"), None)
    with pytest.raises(datasets.DataError, match="expected a Human3.6M .npz file"):
        datasets.parse_npz_spec("data_3d_h36m.npy:S1")


def test_3d_sources_are_rebuilt_with_the_reference_skeleton(data_root, tmp_path):
    """A Human3.6M subject with longer bones (and a BVH folder) come out with the reference bone
    lengths and the recorded bone directions, like the CMU data: one body size for the critic."""
    from core.skeleton import bone_directions, bone_vectors
    walking = datasets.load_cmu_poses(data_root, progress=False)["07"][:50]
    tall = walking * 1.15                                      # every bone 15% longer
    full = np.zeros((len(tall), 32, 3))
    full[:, list(datasets.H36M_32_TO_17)] = tall @ datasets.H36M_Z_UP_TO_Y_DOWN / 1000.0
    np.savez_compressed(tmp_path / "data_3d_h36m.npz", positions_3d={"S8": {"Walking": full}})
    source = datasets.load_3d_source(f"{tmp_path / 'data_3d_h36m.npz'}:S8")
    assert source.people == {"H36M S8"} and source.poses.shape == (50, 17, 3)
    np.testing.assert_allclose(np.linalg.norm(bone_vectors(source.poses), axis=-1),
                               np.broadcast_to(datasets.REFERENCE_LENGTHS, (50, 16)), rtol=1e-4)
    np.testing.assert_allclose(bone_directions(source.poses), bone_directions(walking), atol=1e-5)

    bvh = datasets.load_3d_source(str(data_root / "cmu_mocap" / "daz_friendly" / "03"))
    assert bvh.people == {"CMU 03"} and len(bvh.poses) == 199
    with pytest.raises(datasets.DataError, match="no .bvh files in it"):
        datasets.load_3d_source(str(tmp_path))
