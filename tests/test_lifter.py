"""The lifter runtime: contract checks on load, and inputs that must never produce NaN."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto

from core.lifter import DEFAULT_MODEL_PATH, Lifter
from core.contract import ModelContractError
from core.camera import rotation_from_camera
from core.skeleton import JOINT_NAMES, NUM_JOINTS
from tests.onnx_models import onnx_model
from tests.poses import standing_pose


def test_refuses_a_missing_model(tmp_path):
    with pytest.raises(ModelContractError, match="model not found"):
        Lifter(tmp_path / "missing.onnx")


def test_refuses_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("this is not a model")
    with pytest.raises(ModelContractError, match="not a loadable ONNX model"):
        Lifter(path)


def test_refuses_the_wrong_input_name(tmp_path):
    with pytest.raises(ModelContractError, match="inputs are \\['pose_2d'\\]"):
        Lifter(onnx_model(tmp_path / "m.onnx", input_name="pose_2d"))


def test_refuses_the_wrong_input_shape(tmp_path):
    with pytest.raises(ModelContractError, match="needs float32 \\[N,17,2\\]"):
        Lifter(onnx_model(tmp_path / "m.onnx", input_shape=("N", 16, 2)))


def test_refuses_a_missing_output(tmp_path):
    with pytest.raises(ModelContractError, match="output 'camera' is missing"):
        Lifter(onnx_model(tmp_path / "m.onnx", outputs=("pose_3d",)))


def test_accepts_a_model_that_follows_the_interface(tmp_path):
    lifter = Lifter(onnx_model(tmp_path / "m.onnx"))
    result = lifter.lift(np.random.default_rng(0).normal(300, 50, (NUM_JOINTS, 2)))
    assert result.pose_3d.shape == (1, NUM_JOINTS, 3) and result.valid.tolist() == [True]
    assert lifter.lift(np.random.default_rng(1).normal(300, 50, (4, NUM_JOINTS, 2))).valid.all()


def test_refuses_a_fixed_input_batch(tmp_path):
    with pytest.raises(ModelContractError, match="input 'keypoints_2d' has a fixed batch of 5"):
        Lifter(onnx_model(tmp_path / "m.onnx", input_shape=(5, 17, 2), output_batch=5))


def test_refuses_a_fixed_output_batch(tmp_path):
    with pytest.raises(ModelContractError, match="output 'pose_3d' has a fixed batch of 1"):
        Lifter(onnx_model(tmp_path / "m.onnx", output_batch=1))


@pytest.mark.parametrize("dtype,name", [(TensorProto.INT64, "tensor\\(int64\\)"), (TensorProto.DOUBLE, "tensor\\(double\\)")])
def test_refuses_outputs_that_are_not_float32(tmp_path, dtype, name):
    with pytest.raises(ModelContractError, match=f"output 'pose_3d' is {name}, the contract needs float32"):
        Lifter(onnx_model(tmp_path / "m.onnx", output_type=dtype))


def test_counts_the_frames_in_a_row_a_broken_model_answers_nan(tmp_path):
    lifter = Lifter(onnx_model(tmp_path / "nan.onnx", scale=float("nan")))
    keypoints = np.random.default_rng(0).normal(300, 50, (3, NUM_JOINTS, 2))
    result = lifter.lift(keypoints)
    assert result.valid.tolist() == [False] * 3 and np.isfinite(result.pose_3d).all()
    lifter.lift(keypoints[0])
    assert lifter.non_finite_streak == 4
    lifter.lift(np.full((NUM_JOINTS, 2), np.nan))  # not sent to the model: the streak stands
    assert lifter.non_finite_streak == 4
    healthy = Lifter(onnx_model(tmp_path / "ok.onnx"))
    healthy.lift(keypoints)
    assert healthy.non_finite_streak == 0


# ---- the shipped model -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> Lifter:
    return Lifter(DEFAULT_MODEL_PATH)


def _frontal_keypoints(height_px=400.0, centre=(320.0, 240.0)):
    """A standing person seen from the front: H36M-17 in pixels (image y down)."""
    pose = standing_pose()
    return pose[:, :2] / 1600.0 * height_px + np.array(centre)


def test_shipped_model_follows_the_contract_and_describes_itself(shipped):
    assert shipped.metadata["joint_names"] == list(JOINT_NAMES)
    assert "millimetres" in str(shipped.metadata["units"])
    assert shipped.metadata["training"] and shipped.metadata["project_version"]
    result = shipped.lift(np.stack([_frontal_keypoints(), _frontal_keypoints(200, (100, 90))]))
    assert result.pose_3d.shape == (2, NUM_JOINTS, 3) and result.camera.shape == (2, 2, 3)
    assert result.valid.all() and np.isfinite(result.pose_3d).all()
    assert np.allclose(result.pose_3d[:, 0], 0.0, atol=1e-3)  # pelvis at the origin
    # Translation and scale of the input do not change the 3D pose.
    assert np.allclose(result.pose_3d[0], result.pose_3d[1], atol=1.0)


def test_shipped_model_lifts_a_frontal_standing_person_plausibly(shipped):
    result = shipped.lift(_frontal_keypoints())
    pose = result.pose_3d[0]
    from core.skeleton import JOINT_INDEX as J
    assert pose[J["head"], 1] < pose[J["pelvis"], 1] < pose[J["left_ankle"], 1]  # upright (y down)
    height = pose[J["left_ankle"], 1] - pose[J["head"], 1]
    assert 1200 < height < 2100  # millimetres, a human size
    R, _ = rotation_from_camera(result.camera[0])
    # Seen from the front: the camera's viewing axis is close to the canonical -z facing direction.
    assert R[2, 2] > 0.8
    # The camera reprojects the pose onto the normalized input.
    kp = _frontal_keypoints()
    centred = kp - kp[0]
    normalized = centred / np.sqrt((centred ** 2).sum(-1).mean())
    assert np.abs(pose @ result.camera[0].T - normalized).mean() < 0.1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e30])
def test_non_finite_or_absurd_keypoints_are_flagged_not_lifted(shipped, bad):
    kp = np.stack([_frontal_keypoints(), _frontal_keypoints()])
    kp[1, 4, 0] = bad
    result = shipped.lift(kp)
    assert result.valid.tolist() == [True, False]
    assert np.isfinite(result.pose_3d).all() and np.all(result.pose_3d[1] == 0)


def test_degenerate_pose_is_flagged(shipped):
    result = shipped.lift(np.full((NUM_JOINTS, 2), 123.0))
    assert result.valid.tolist() == [False]


def test_wrong_keypoint_shape_is_a_clear_error(shipped):
    with pytest.raises(ValueError, match="must be \\[17, 2\\]"):
        shipped.lift(np.zeros((16, 2)))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, (3, NUM_JOINTS, 2), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_lifter_never_returns_nan_for_arbitrary_floats(shipped, keypoints):
    result = shipped.lift(keypoints)
    assert np.isfinite(result.pose_3d).all() and np.isfinite(result.camera).all()
    assert result.valid.shape == (3,)
