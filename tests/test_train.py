"""Training smoke tests: a few hundred steps on the real data, tiny networks."""
import json

import numpy as np
import pytest

from models import train
from models.checkpoint import load_checkpoint
from tests.conftest import TINY_TRAINING


def test_losses_move_the_way_they_should(tiny_training_run, data_root):
    import torch
    from core.camera import canonicalize
    from models.data import cmu
    from models.negatives import reflected_in_depth
    from models.repnet import Critic, RepNetConfig
    out_dir, history = tiny_training_run
    first, last = slice(0, 2), slice(-2, None)
    # The generator learns to reproject its input and to produce orthographic-like cameras.
    assert np.mean(history["reprojection"][last]) < 0.8 * np.mean(history["reprojection"][first])
    assert np.mean(history["camera"][last]) < 0.5 * np.mean(history["camera"][first])
    assert np.isfinite(history["wasserstein"]).all()
    evals = history["eval"]
    assert [e["step"] for e in evals] == [150, 300]
    assert all(np.isfinite([e["mpjpe"], e["pa_mpjpe"], e["pck150"]]).all() for e in evals)
    # The critic has learned what a body looks like: it ranks 500 real poses above the same poses
    # mirrored in depth (knees and elbows bending backwards). Whether it ranks them above the
    # generator's poses at step 300 is not a law of the adversarial game: the logged estimate
    # changes sign from batch to batch, and from one CPU's arithmetic to another's.
    state = load_checkpoint(out_dir / "checkpoint.pt")
    critic = Critic(RepNetConfig(**state["model_config"]))
    critic.load_state_dict(state["critic"])
    cmu_poses = cmu.load_cmu_poses(data_root, progress=False)
    poses = np.concatenate([cmu_poses[s] for s in cmu.CRITIC_SUBJECTS])
    real = torch.from_numpy(canonicalize(poses[np.random.default_rng(0).choice(len(poses), 500)]) / 1000.0).float()
    with torch.no_grad():
        margin = critic(real).mean() - critic(reflected_in_depth(real)).mean()
    assert margin > 0.05  # an untrained critic: within +-0.002


def test_outputs_are_written(tiny_training_run):
    out_dir, history = tiny_training_run
    assert (out_dir / "training_curves.png").stat().st_size > 10_000
    assert json.loads((out_dir / "history.json").read_text())["step"] == history["step"]
    state = load_checkpoint(out_dir / "checkpoint.pt")
    assert state["step"] == 300 and state["model_config"]["width"] == 512
    assert state["reference_inputs"].shape[1:] == (17, 2)


def test_resume_continues_exactly_where_a_run_stopped(data_root, tmp_path):
    """Train 20 of 40 steps, resume to 40: the same weights as an uninterrupted run. The learning
    rate decays at steps 24 and 36 (--lr-decay-at 0.6 0.9), after the stop, so the schedule must
    resume too; the critic's and the data streams' states likewise."""
    import torch
    args = ["--data-root", str(data_root), *TINY_TRAINING, "--steps", "40", "--width", "128",
            "--critic-kcs-width", "64", "--eval-every", "20", "--checkpoint-every", "20",
            "--lr-decay-at", "0.6", "0.9"]
    train.main(args + ["--out-dir", str(tmp_path / "full")])
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--stop-after", "20"])
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 20
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--resume", str(tmp_path / "split" / "checkpoint.pt")])
    resumed, full = load_checkpoint(tmp_path / "split" / "checkpoint.pt"), load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    for net in ("generator", "critic"):
        assert all(torch.allclose(resumed[net][k], full[net][k], atol=1e-5) for k in full[net]), net


def test_unknown_config_keys_are_refused(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"widht": 10}))
    with pytest.raises(SystemExit):
        train.parse_args(["--config", str(tmp_path / "c.json")])


def test_weight_average_is_what_is_saved_and_resumes_exactly(data_root, tmp_path):
    """--ema-decay: the checkpoint's "generator" is the running average (what export ships), the
    raw weights travel beside it, and a resumed run matches an uninterrupted one in both."""
    import torch
    args = ["--data-root", str(data_root), *TINY_TRAINING, "--steps", "20", "--eval-every", "20",
            "--checkpoint-every", "10", "--ema-decay", "0.8"]
    train.main(args + ["--out-dir", str(tmp_path / "full")])
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--stop-after", "10"])
    train.main(args + ["--out-dir", str(tmp_path / "split"), "--resume", str(tmp_path / "split" / "checkpoint.pt")])
    full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for key in ("generator", "generator_training"):
        assert all(torch.allclose(split[key][k], full[key][k], atol=1e-5) for k in full[key])
    name = next(k for k in full["generator"] if k.endswith("weight"))
    assert not torch.allclose(full["generator"][name], full["generator_training"][name])
    assert full["history"]["eval"][-1]["step"] == 20  # the average was evaluated


# ---- training on your own data: Human3.6M files (fixtures in the real format) and BVH folders ----

def _h36m_files(data_root, folder) -> tuple[str, str]:
    """data_3d_h36m.npz (S1: CMU 07 walking, S5: CMU 13 jumping) and data_2d_h36m_gt.npz (S7: CMU
    08 seen by 4 cameras), written in VideoPose3D's formats: 32 joints, metres, z up; pixels."""
    from models.data.cmu import load_cmu_poses
    from models.data.h36m import H36M_32_TO_17, H36M_Z_UP_TO_Y_DOWN
    from models.data.projection import project_random_cameras
    cmu = load_cmu_poses(data_root, progress=False)

    def as_h36m_32(poses_mm_y_down):
        full = np.zeros((len(poses_mm_y_down), 32, 3))
        full[:, list(H36M_32_TO_17)] = poses_mm_y_down @ H36M_Z_UP_TO_Y_DOWN / 1000.0
        return full

    path_3d, path_2d = folder / "data_3d_h36m.npz", folder / "data_2d_h36m_gt.npz"
    np.savez_compressed(path_3d, positions_3d={"S1": {"Walking": as_h36m_32(cmu["07"][:200])},
                                               "S5": {"Jumping": as_h36m_32(cmu["13"][:100])}})
    rng = np.random.default_rng(0)
    cameras = [project_random_cameras(cmu["08"][:150], rng).keypoints_2d for _ in range(4)]
    cameras[0][3, 5] = np.nan          # a frame with a missing coordinate is left out
    np.savez_compressed(path_2d, positions_2d={"S7": {"Walking": cameras}},
                        metadata={"layout_name": "h36m", "num_joints": 17})
    return str(path_3d), str(path_2d)


SMALL = ["--steps", "20", "--eval-every", "20", "--eval-frames", "200", "--width", "64",
         "--critic-kcs-width", "32", "--augmented-pool-factor", "0"]


def test_training_on_human36m_files_and_a_bvh_folder(data_root, tmp_path, capsys):
    path_3d, path_2d = _h36m_files(data_root, tmp_path)
    bvh_folder = data_root / "cmu_mocap" / "daz_friendly" / "03"       # CMU 03, 199 frames at 30 fps
    train.main(["--data-root", str(data_root), "--out-dir", str(tmp_path / "run"), *SMALL,
                "--critic-subjects", "--critic-3d", f"{path_3d}:S1,S5", str(bvh_folder),
                "--projection-subjects", "--given-2d", path_2d, "--mpii-fraction", "0"])
    assert "data: 499 critic poses, 0 projection poses, 0 MPII poses, 599 given 2D poses" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["data"]["critic_3d"] == f"{path_3d}:S1,S5 + {bvh_folder}"
    assert state["data"]["generator_2d"] == f"{path_2d} (100%)"          # the only 2D: the whole batch
    assert np.isfinite(state["history"]["reprojection"]).all() and state["history"]["eval"][0]["step"] == 20


def test_view_consistency_is_trained_only_when_asked_for(data_root, tmp_path):
    base = ["--data-root", str(data_root), *SMALL, "--steps", "101", "--eval-every", "101"]
    on = train.main(base + ["--out-dir", str(tmp_path / "on"), "--weight-view-consistency", "1"])
    off = train.main(base + ["--out-dir", str(tmp_path / "off")])
    assert len(on["view"]) == 3 and all(0 < v < 1 for v in on["view"])   # metres per joint
    assert off["view"] == [0.0, 0.0, 0.0]                                   # the paper's loss alone
    assert on["reprojection"][0] == off["reprojection"][0]                  # same start, same seed


def test_a_person_in_two_groups_is_refused(data_root, tmp_path):
    from models.data import DataError
    path_3d, _ = _h36m_files(data_root, tmp_path)
    base = ["--data-root", str(data_root), "--out-dir", str(tmp_path / "run"), *SMALL]
    with pytest.raises(DataError, match="H36M S1 in both the critic and the generator data"):
        train.main(base + ["--critic-3d", f"{path_3d}:S1", "--projection-3d", f"{path_3d}:S1,S5"])
    held_out = str(data_root / "cmu_mocap" / "daz_friendly" / "02")
    with pytest.raises(DataError, match="CMU 02 in both the generator and the held-out data"):
        train.main(base + ["--projection-3d", held_out])
    with pytest.raises(DataError, match="CMU 60 in both the critic and the generator data"):
        train.main(base + ["--projection-subjects", "03", "60"])
    with pytest.raises(DataError, match="CMU subject.s. 99 not found"):
        train.main(base + ["--critic-subjects", "99"])


def test_camera_input_and_2d_prior_train_and_resume(data_root, tmp_path):
    """--camera-input learns to follow a given camera (losses.given_camera_loss); --weight-2d-prior
    trains a second critic on MPII 2D poses; both are saved and resumed."""
    base = ["--data-root", str(data_root), *SMALL, "--camera-input", "true", "--weight-2d-prior", "1",
            "--mpii-fraction", "0.5", "--steps", "60", "--eval-every", "60", "--checkpoint-every", "30"]
    history = train.main(base + ["--out-dir", str(tmp_path / "full")])
    assert any(v != 0.0 for v in history["prior_2d"])
    state = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    assert state["model_config"]["camera_input"] and "critic_2d" in state
    train.main(base + ["--out-dir", str(tmp_path / "half"), "--stop-after", "30"])
    train.main(base + ["--out-dir", str(tmp_path / "half"), "--resume", str(tmp_path / "half" / "checkpoint.pt")])
    resumed = load_checkpoint(tmp_path / "half" / "checkpoint.pt")
    import torch
    assert all(torch.allclose(resumed["critic_2d"][k], state["critic_2d"][k], atol=1e-5) for k in state["critic_2d"])
