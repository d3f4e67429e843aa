"""Checkpoint to ONNX: parity with torch, self-describing metadata, the app loads the result,
and every bad checkpoint gets a one-line refusal."""
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from app.lifter import Lifter
from export.__main__ import main as export_main
from export.onnx_export import export_checkpoint
from models.checkpoint import generator_from_checkpoint, load_checkpoint, save_checkpoint
from models.repnet import Lifter as TorchLifter
from models.release import slim

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_export_matches_torch_and_loads_in_the_app(tiny_training_run, tmp_path):
    checkpoint = tiny_training_run[0] / "checkpoint.pt"
    report = export_checkpoint(checkpoint, tmp_path / "tiny.onnx", precisions=("fp32", "fp16", "int8"))
    by_precision = {v.precision: v for v in report.variants}
    assert by_precision["fp32"].max_diff_mm < 1e-3
    assert by_precision["fp16"].size_mb < 0.6 * by_precision["fp32"].size_mb
    assert by_precision["int8"].size_mb < 0.4 * by_precision["fp32"].size_mb
    assert all(np.isfinite(v.pa_mpjpe_mm) for v in report.variants)
    # int8 is checked as the app runs it, one frame per call (activations get one scale per call).
    from export.onnx_export import verification_inputs
    state = load_checkpoint(checkpoint)
    inputs = verification_inputs(state)
    with torch.no_grad():
        expected = TorchLifter(generator_from_checkpoint(state)[0])(torch.from_numpy(inputs))[0].numpy()
    int8 = Lifter(tmp_path / "tiny_int8.onnx", threads=1)
    per_frame = np.concatenate([int8.session.run(["pose_3d"], {"keypoints_2d": inputs[i:i + 1]})[0]
                                for i in range(len(inputs))])
    assert by_precision["int8"].max_diff_mm == pytest.approx(np.abs(per_frame - expected).max(), rel=1e-3)

    model = onnx.load(str(tmp_path / "tiny.onnx"))
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert {"joint_names", "units", "training", "training_data", "project_version", "checkpoint_sha256"} <= set(meta)

    # Round trip through the app's runtime on real held-out poses: the same numbers as torch.
    state = load_checkpoint(checkpoint)
    inputs = state["reference_inputs"].numpy()[:64]
    generator, _ = generator_from_checkpoint(state)
    with torch.no_grad():
        expected_pose, expected_cam = TorchLifter(generator)(torch.from_numpy(inputs))
    for name in ("tiny.onnx", "tiny_fp16.onnx"):
        result = Lifter(tmp_path / name).process(inputs)
        assert result.valid.all()
        tolerance = 1e-3 if name == "tiny.onnx" else 5.0
        assert np.abs(result.pose_3d - expected_pose.numpy()).max() < tolerance
    assert Lifter(tmp_path / "tiny.onnx").metadata["joint_names"][0] == "pelvis"


def test_release_checkpoint_is_slim_and_exports_identically(tiny_training_run, tmp_path):
    state = load_checkpoint(tiny_training_run[0] / "checkpoint.pt")
    save_checkpoint(tmp_path / "release.pt", slim(state))
    release = load_checkpoint(tmp_path / "release.pt")
    assert "critic" not in release and "opt_generator" not in release
    assert all(t.dtype == torch.float16 for t in release["generator"].values())
    report = export_checkpoint(tmp_path / "release.pt", tmp_path / "release.onnx")
    assert report.variants[0].max_diff_mm < 1e-3


def test_shipped_checkpoint_exports_to_the_shipped_model(tmp_path):
    shipped = Lifter(REPO / "models" / "repnet.onnx")
    precision = shipped.metadata["precision"]
    report = export_checkpoint(REPO / "models" / "repnet.pt", tmp_path / "again.onnx", precisions=("fp32", precision))
    assert report.variants[0].max_diff_mm < 1e-3
    again = Lifter(next(v.path for v in report.variants if v.precision == precision))
    kp = load_checkpoint(REPO / "models" / "repnet.pt")["reference_inputs"].numpy()[:32]
    assert np.abs(shipped.process(kp).pose_3d - again.process(kp).pose_3d).max() < 1e-3


def _run_export(*args):
    return subprocess.run([sys.executable, "-m", "export", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_cli_refuses_a_truncated_checkpoint_in_one_line(tiny_training_run, tmp_path):
    data = (tiny_training_run[0] / "checkpoint.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 3])
    result = _run_export("--checkpoint", tmp_path / "cut.pt", "--output", tmp_path / "x.onnx")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "truncated" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_foreign_and_malicious_checkpoints(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "repnet-live-checkpoint", "version": 1, "x": Payload()}, evil)
    assert export_main(["--checkpoint", str(evil), "--output", str(tmp_path / "x.onnx")]) == 2
    assert not marker.exists()
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    assert export_main(["--checkpoint", str(tmp_path / "foreign.pt"), "--output", str(tmp_path / "x.onnx")]) == 2


def test_cli_refuses_a_checkpoint_of_another_architecture(tiny_training_run, tmp_path):
    state = load_checkpoint(tiny_training_run[0] / "checkpoint.pt")
    state["model_config"] = {**state["model_config"], "width": 100}
    save_checkpoint(tmp_path / "wrong.pt", state)
    result = _run_export("--checkpoint", tmp_path / "wrong.pt", "--output", tmp_path / "x.onnx")
    assert result.returncode == 2 and "does not match the RepNet architecture" in result.stderr


def test_cli_refuses_an_output_in_a_missing_folder(tiny_training_run, tmp_path):
    code = export_main(["--checkpoint", str(tiny_training_run[0] / "checkpoint.pt"),
                        "--output", str(tmp_path / "missing" / "x.onnx")])
    assert code == 2


def test_release_ships_a_slim_checkpoint_and_the_int8_lifter_it_was_verified_as(tiny_training_run, tmp_path):
    from models import release
    release.main([str(tiny_training_run[0] / "checkpoint.pt"), "--out-dir", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repnet.onnx", "repnet.pt"]
    slim = load_checkpoint(tmp_path / "repnet.pt")
    assert "critic" not in slim and "opt_generator" not in slim
    assert all(t.dtype == torch.float16 for t in slim["generator"].values())
    lifter = Lifter(tmp_path / "repnet.onnx")
    assert lifter.metadata["precision"] == "int8" and lifter.metadata["checkpoint"] == "repnet.pt"
    assert lifter.metadata["test_time_augmentation"].startswith("mirror average")
    assert lifter.metadata["pose_size"].startswith("the reference body")
    kp = slim["reference_inputs"].numpy()[:64]
    generator, _ = generator_from_checkpoint(slim)
    with torch.no_grad():
        expected, _ = TorchLifter(generator)(torch.from_numpy(kp))
    error = np.linalg.norm(lifter.process(kp).pose_3d - expected.numpy(), axis=-1).mean()
    assert error < 10.0  # mm per joint: quantization noise, not a different model


def test_test_time_steps_can_be_left_out_of_the_graph(tiny_training_run, tmp_path):
    """--no-mirror-average / --no-reference-size: the graph computes exactly the plain network."""
    checkpoint = tiny_training_run[0] / "checkpoint.pt"
    assert export_main(["--checkpoint", str(checkpoint), "--output", str(tmp_path / "plain.onnx"),
                        "--no-mirror-average", "--no-reference-size"]) == 0
    lifter = Lifter(tmp_path / "plain.onnx")
    assert lifter.metadata["test_time_augmentation"] == "none"
    assert lifter.metadata["pose_size"] == "as the network gives it"
    state = load_checkpoint(checkpoint)
    kp = state["reference_inputs"].numpy()[:16]
    generator, _ = generator_from_checkpoint(state)
    with torch.no_grad():
        expected, _ = TorchLifter(generator, mirror_average=False, reference_size=False)(torch.from_numpy(kp))
    np.testing.assert_allclose(lifter.process(kp).pose_3d, expected.numpy(), atol=1e-2)


def test_a_release_whose_export_fails_leaves_the_shipped_pair_untouched(tiny_training_run, tmp_path, monkeypatch):
    from export import onnx_export
    from models import release
    (tmp_path / "repnet.pt").write_bytes(b"the shipped checkpoint")
    (tmp_path / "repnet.onnx").write_bytes(b"the shipped lifter")
    monkeypatch.setitem(onnx_export.TOLERANCE_MM, "int8", 0.0)     # no int8 model is that faithful
    with pytest.raises(onnx_export.ExportError, match="ship fp32 instead"):
        release.main([str(tiny_training_run[0] / "checkpoint.pt"), "--out-dir", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repnet.onnx", "repnet.pt"]
    assert (tmp_path / "repnet.pt").read_bytes() == b"the shipped checkpoint"
    assert (tmp_path / "repnet.onnx").read_bytes() == b"the shipped lifter"
