"""The supervised baseline: a short run on paired CMU 2D-3D must beat the mean pose on held-out people."""
from __future__ import annotations

import numpy as np

from evaluation.predictors import load_predictor, mean_pose_predictor
from evaluation.scoring import score
from models import baseline
from models.checkpoint import load_checkpoint
from models.data import cmu
from models.validation import make_eval_set


def test_a_short_supervised_run_beats_the_mean_pose_on_held_out_subjects(data_root, tmp_path):
    poses = cmu.load_cmu_poses(data_root, progress=False)  # read once, shared by the three parts
    cfg = baseline.BaselineConfig(data_root=str(data_root), out_dir=str(tmp_path), steps=300, width=256,
                                  batch_size=256, eval_every=300, eval_frames=500)
    history = baseline.train(cfg, poses)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["model_kind"] == baseline.MODEL_KIND and state["model_config"]["width"] == 256
    assert np.mean(history["loss"][-3:]) < 0.5 * np.mean(history["loss"][:2])  # it learns

    test_world = np.concatenate([poses[s] for s in cmu.TEST_SUBJECTS])
    held_out = make_eval_set(test_world, n_frames=1500, noise_px=4.0, seed=99)
    kp, gt = held_out.keypoints_2d, held_out.poses_camera
    lifted = load_predictor(str(tmp_path / "checkpoint.pt")).lift(kp)
    # scored at the size it predicts: the reference-size step is RepNet's alone
    as_predicted = load_predictor(str(tmp_path / "checkpoint.pt"), reference_size=False).lift(kp)
    np.testing.assert_array_equal(lifted, as_predicted)
    supervised = score(lifted, gt)["summary"]
    mean_pose = score(mean_pose_predictor(poses=poses).lift(kp), gt)["summary"]
    # The mean pose is far from useless (about 97 mm PA-MPJPE, 194 mm MPJPE on these frames); 300
    # steps reach about 76 and 107 mm (seeds 0-2): a clear margin on both protocols.
    assert supervised["pa_mpjpe"] < 0.9 * mean_pose["pa_mpjpe"]
    assert supervised["mpjpe"] < 0.75 * mean_pose["mpjpe"]
    assert history["eval"][-1]["step"] == 300 and np.isfinite(history["eval"][-1]["mpjpe"])
