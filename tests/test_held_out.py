"""The held-out evaluation (python -m evaluation.held_out and its modules): every protocol on real
formats, JSON and markdown output, clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.camera import random_camera_rotations
from core.skeleton import JOINT_NAMES, NUM_JOINTS, PELVIS
from evaluation.conditions import DROPPED_JOINTS, NOISE_LEVELS_PX, drop_joints
from evaluation.held_out import main
from evaluation.predictors import fit_rotation_to_2d, load_predictor
from evaluation.protocols import CMU_ACTIVITIES, cmu_test_data
from evaluation.scoring import score
from models.checkpoint import load_checkpoint
from models.data.projection import jitter_2d
from tests.dataset_files import POSE, matlab_variables, write_mat_v73, write_videopose3d_npz
from tests.poses import reaching_pose, standing_pose

SUMMARY_KEYS = {"frames", "mpjpe", "pa_mpjpe", "n_mpjpe", "pck150", "auc"}


@pytest.fixture(scope="module")
def tiny_onnx(tiny_training_run, tmp_path_factory) -> Path:
    """The tiny training run exported as the app would load it (parity is export's own test)."""
    from export.onnx_export import export_checkpoint
    out_dir, _ = tiny_training_run
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_checkpoint(out_dir / "checkpoint.pt", path, verify=False)
    return path


def check_report(report: dict, protocol: str, frames: int) -> None:
    """Structure every report must have; every number finite."""
    assert report["protocol"] == protocol
    kinds = [c["kind"] for c in report["conditions"]]
    assert kinds[0] == "given" and report["conditions"][0]["noise_px"] == 0.0  # zero noise is evaluated
    assert sorted(c["noise_px"] for c in report["conditions"] if c["kind"] == "noise") == list(NOISE_LEVELS_PX)
    assert sorted(c["dropped_joints"] for c in report["conditions"] if c["kind"] == "dropped") == list(DROPPED_JOINTS)
    for c in report["conditions"]:
        assert SUMMARY_KEYS <= set(c["summary"]) and c["summary"]["frames"] == frames
        assert all(np.isfinite(v) for v in c["summary"].values())
        assert list(c["per_joint"]) == list(JOINT_NAMES)
        assert all(np.isfinite(v["mpjpe"]) and np.isfinite(v["pa_mpjpe"]) for v in c["per_joint"].values())
        assert sum(a["frames"] for a in c["per_action"].values()) == frames


def test_cli_on_a_checkpoint_writes_json_and_markdown(tiny_training_run, data_root, tmp_path, capsys):
    out_dir, _ = tiny_training_run
    json_path = tmp_path / "eval.json"
    assert main(["--model", str(out_dir / "checkpoint.pt"), "--data-root", str(data_root), "--stride", "8",
                    "--json", str(json_path), "--markdown"]) == 0
    report = json.loads(json_path.read_text())
    check_report(report, "cmu", frames=report["conditions"][0]["summary"]["frames"])
    assert report["model_kind"] == "repnet" and report["conditions"][0]["summary"]["frames"] > 400
    assert [c["kind"] for c in report["conditions"]].count("realistic") == 1  # training's detector-like mix
    activities = set(report["conditions"][0]["per_action"])
    assert {"walk", "jump", "salsa"} <= activities <= set(CMU_ACTIVITIES.values())
    printed = capsys.readouterr().out
    assert "| 2D input |" in printed and "| left_wrist |" in printed and "mean over actions" in printed


def test_onnx_and_checkpoint_give_the_same_camera_frame_poses(tiny_training_run, tiny_onnx):
    out_dir, _ = tiny_training_run
    keypoints = load_checkpoint(out_dir / "checkpoint.pt")["reference_inputs"].numpy()[:64]
    from_onnx = load_predictor(str(tiny_onnx)).lift(keypoints)
    from_torch = load_predictor(str(out_dir / "checkpoint.pt")).lift(keypoints)
    assert from_onnx.shape == (64, NUM_JOINTS, 3) and np.isfinite(from_onnx).all()
    np.testing.assert_allclose(from_onnx, from_torch, atol=0.05)  # mm


def test_mirror_averaging_can_be_left_out_for_a_checkpoint_only(tiny_training_run, tiny_onnx, capsys):
    out_dir, _ = tiny_training_run
    keypoints = load_checkpoint(out_dir / "checkpoint.pt")["reference_inputs"].numpy()[:64]
    averaged = load_predictor(str(out_dir / "checkpoint.pt")).lift(keypoints)
    plain = load_predictor(str(out_dir / "checkpoint.pt"), mirror_average=False).lift(keypoints)
    assert np.abs(averaged - plain).mean() > 1.0  # mm: the option changes what is evaluated
    assert main(["--model", str(tiny_onnx), "--no-mirror-average"]) == 2
    assert "part of an ONNX lifter's graph" in capsys.readouterr().err


def test_reference_size_can_be_left_out_for_a_checkpoint_only(tiny_training_run, tiny_onnx, capsys):
    from core.skeleton import REFERENCE_LENGTHS, bone_lengths
    out_dir, _ = tiny_training_run
    keypoints = load_checkpoint(out_dir / "checkpoint.pt")["reference_inputs"].numpy()[:64]
    sized = load_predictor(str(out_dir / "checkpoint.pt")).lift(keypoints)
    raw = load_predictor(str(out_dir / "checkpoint.pt"), reference_size=False).lift(keypoints)
    np.testing.assert_allclose(bone_lengths(sized).sum(-1), REFERENCE_LENGTHS.sum(), rtol=1e-4)
    assert np.abs(bone_lengths(raw).sum(-1) - REFERENCE_LENGTHS.sum()).max() > 10.0   # mm
    assert main(["--model", str(tiny_onnx), "--no-reference-size"]) == 2
    assert "part of an ONNX lifter's graph" in capsys.readouterr().err


def test_varied_bodies_change_the_proportions_not_the_motion(data_root):
    from core.skeleton import REFERENCE_LENGTHS, bone_lengths
    reference = cmu_test_data(data_root, stride=4)
    varied = cmu_test_data(data_root, stride=4, varied_bodies=True)
    n = len(reference.poses_camera)
    np.testing.assert_allclose(bone_lengths(reference.poses_camera),
                               np.broadcast_to(REFERENCE_LENGTHS, (n, len(REFERENCE_LENGTHS))), rtol=1e-3)
    ratio = bone_lengths(varied.poses_camera) / REFERENCE_LENGTHS
    assert 0.8 < ratio.min() and ratio.max() < 1.2 and ratio.std() > 0.03
    size = ratio.mean(-1)
    assert abs(size.mean() - 1.0) < 0.01 and size.std() > 0.04        # many bodies, centred on the reference
    thigh = lambda p: (p[:, 2] - p[:, 1]) / np.linalg.norm(p[:, 2] - p[:, 1], axis=-1, keepdims=True)
    np.testing.assert_allclose(thigh(varied.poses_camera), thigh(reference.poses_camera), atol=1e-4)
    assert "its own body proportions" in varied.description


def test_h36m_protocol_on_files_in_the_videopose3d_format(tiny_onnx, tmp_path):
    path_3d, path_2d = write_videopose3d_npz(tmp_path, POSE + [0.0, 0.0, 5000.0], layout_name="h36m")
    json_path = tmp_path / "h36m.json"
    assert main(["--model", str(tiny_onnx), "--protocol", "h36m", "--h36m-3d", str(path_3d),
                    "--h36m-2d", str(path_2d), "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())
    check_report(report, "h36m", frames=2 * 4 * 2)  # S9 and S11, 4 cameras, 2 frames
    assert list(report["conditions"][0]["per_action"]) == ["Directions"]
    assert "mpjpe_action_mean" in report["conditions"][0]["summary"]


def test_3dhp_protocol_on_a_test_set_in_the_mat_format(tiny_onnx, tmp_path):
    (tmp_path / "TS1").mkdir()
    write_mat_v73(tmp_path / "TS1" / "annot_data.mat", matlab_variables())
    json_path = tmp_path / "3dhp.json"
    assert main(["--model", str(tiny_onnx), "--protocol", "3dhp", "--3dhp-root", str(tmp_path),
                    "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())
    check_report(report, "3dhp", frames=4)  # the fixture marks 4 of its 6 frames valid
    assert set(report["conditions"][0]["per_action"]) == {"Standing/Walking", "Sitting", "On The Floor"}


@pytest.mark.parametrize("argv, message", [
    (["--model", "missing.onnx"], "model not found"),
    (["--model", "model.txt"], "unknown model type"),
    (["--model", "mean-pose", "--data-root", "no/such/folder"], "CMU mocap folder not found"),
    (["--model", "MODEL", "--protocol", "h36m"], "needs --h36m-3d"),
    (["--model", "MODEL", "--protocol", "3dhp"], "needs --3dhp-root"),
    (["--model", "MODEL", "--protocol", "3dhp", "--3dhp-root", "."], "no TS1..TS6/annot_data.mat"),
    (["--model", "MODEL", "--protocol", "h36m", "--h36m-3d", "a.npz", "--h36m-2d", "b.npz"], "not found"),
])
def test_missing_data_is_a_one_line_error(argv, message, tiny_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.txt").write_text("not a model")
    argv = [str(tiny_onnx) if a == "MODEL" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


# ---------------------------------------------------------------------------- building blocks

def test_score_pa_mpjpe_is_zero_for_a_rotated_scaled_pose_and_pck_counts_only_the_chosen_joints():
    gt = np.stack([reaching_pose()] * 3)
    R = random_camera_rotations(3, np.random.default_rng(1))
    pred = 1.3 * np.einsum("nij,nkj->nki", R, gt)
    result = score(pred, gt, labels=np.array(["a", "a", "b"]))
    assert result["summary"]["pa_mpjpe"] == pytest.approx(0.0, abs=1e-6)
    assert result["summary"]["mpjpe"] > 100
    assert result["per_action"]["a"]["frames"] == 2 and result["per_action"]["b"]["frames"] == 1

    wrong = gt.copy()
    wrong[:, [PELVIS, 7, 9]] += 500.0  # pelvis, spine, neck_nose: outside 3DHP's 14 PCK joints
    wrong[:, PELVIS] = gt[:, PELVIS]   # keep the root so that Protocol 1 errors stay where they are
    scored = score(wrong, gt, pck_joints=tuple(j for j in range(NUM_JOINTS) if j not in (PELVIS, 7, 9)))
    assert scored["summary"]["pck150"] == pytest.approx(100.0)
    assert score(wrong, gt)["summary"]["pck150"] == pytest.approx(100.0 * 15 / 17)


def test_mean_pose_rotation_fit_recovers_a_known_camera():
    pose = reaching_pose()
    R = random_camera_rotations(8, np.random.default_rng(0))
    keypoints = 2.5 * np.einsum("nij,kj->nki", R, pose)[..., :2] + [400.0, 300.0]  # scaled orthographic
    np.testing.assert_allclose(fit_rotation_to_2d(pose, keypoints), R, atol=1e-9)


def test_perturbations_keep_the_frames_and_drop_exactly_n_joints():
    rng = np.random.default_rng(0)
    keypoints = standing_pose()[None, :, :2].repeat(50, axis=0) + rng.normal(0, 1, (50, NUM_JOINTS, 2)) + 300
    np.testing.assert_array_equal(jitter_2d(keypoints, 0.0, rng), keypoints)
    jittered = jitter_2d(keypoints, 8.0, rng)
    size = np.ptp(keypoints[..., 1], axis=1).mean()  # the standing person is taller than wide
    assert np.std(jittered - keypoints) == pytest.approx(8.0 * size / 500.0, rel=0.1)  # 8 px per 500 px of person
    dropped = drop_joints(keypoints, 3, rng)
    moved = np.any(dropped != keypoints, axis=-1)
    assert (moved.sum(axis=1) == 3).all() and not moved[:, PELVIS].any()
    np.testing.assert_array_equal(dropped[moved], np.repeat(keypoints[:, PELVIS], 3, axis=0))
