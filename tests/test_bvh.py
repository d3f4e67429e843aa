"""BVH parsing and forward kinematics: a hand-written file with known answers, broken files, a real CMU file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.data.bvh import BVHError, forward_kinematics, read_bvh

# Root: 6 channels in one order; "leg" and "arm" use two other rotation orders; End Sites.
TINY_BVH = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT leg
  {
    OFFSET 0 -10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 -5 0
    }
  }
  JOINT arm
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 3 0 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.5
1 2 3 0 0 0 0 0 0 0 0 0
0 0 0 90 0 0 90 0 0 0 90 0
0 0 0 0 0 0 90 90 0 0 0 0
"""


def write(tmp_path: Path, text: str, name: str = "tiny.bvh") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tiny_bvh_structure(tmp_path):
    bvh = read_bvh(write(tmp_path, TINY_BVH))
    assert bvh.joint_names == ("hips", "leg", "leg_End", "arm", "arm_End")
    assert bvh.parents == (-1, 0, 1, 0, 3)
    assert bvh.channels[1] == ("Xrotation", "Zrotation", "Yrotation")
    assert bvh.channels[2] == ()
    assert bvh.motion.shape == (3, 12)
    assert bvh.fps == pytest.approx(2.0)


def test_forward_kinematics_known_positions(tmp_path):
    kin = forward_kinematics(read_bvh(write(tmp_path, TINY_BVH)))
    expected = np.array([
        # frame 0: translation only
        [[1, 2, 3], [1, -8, 3], [1, -13, 3], [3, 2, 3], [6, 2, 3]],
        # frame 1: root turned 90 deg about z (x -> y, y -> -x); leg bent 90 deg about x;
        # arm turned 90 deg about y (x -> -z)
        [[0, 0, 0], [10, 0, 0], [10, 0, -5], [0, 2, 0], [0, 2, -3]],
        # frame 2: leg channels X=90 then Z=90 compose as Rx @ Rz: (0,-5,0) -> (5,0,0)
        # (the other order, Rz @ Rx, would give (0,0,-5))
        [[0, 0, 0], [0, -10, 0], [5, -10, 0], [2, 0, 0], [5, 0, 0]],
    ], dtype=float)
    np.testing.assert_allclose(kin.positions, expected, atol=1e-9)
    # world rotations are proper rotations
    np.testing.assert_allclose(np.linalg.det(kin.rotations), 1.0, atol=1e-9)


def test_forward_kinematics_frame_selection(tmp_path):
    bvh = read_bvh(write(tmp_path, TINY_BVH))
    every = forward_kinematics(bvh).positions
    np.testing.assert_allclose(forward_kinematics(bvh, np.array([2, 0])).positions, every[[2, 0]])


def test_any_whitespace_layout_and_crlf(tmp_path):
    squeezed = TINY_BVH.replace("{\n    OFFSET 0 -5 0\n    }", "{ OFFSET 0 -5 0 }").replace("\n", "\r\n")
    bvh = read_bvh(write(tmp_path, squeezed))
    assert bvh.joint_names[2] == "leg_End"
    np.testing.assert_allclose(forward_kinematics(bvh).positions[0, 2], [1, -13, 3])


@pytest.mark.parametrize("edit, message, line", [
    (lambda t: t.rsplit("\n", 2)[0] + "\n", "truncated: Frames: says 3 but only 2 motion lines", None),
    (lambda t: t.replace("0 0 0 90 0 0 90 0 0 0 90 0", "0 0 0 90 0 0 90 0 0 0 90"), "has 11 values, expected 12", 29),
    (lambda t: t.replace("0 0 0 90 0 0 90 0 0 0 90 0", "0 0 0 90 0 0 90 0 0 0 90 x"), "not a number", 29),
    (lambda t: t.replace("Frames: 3", "Frames: three"), "Frames: is not a whole number", 26),
    (lambda t: t.replace("OFFSET 0 -10 0", "OFFSET 0 -10"), "is not a number", 9),
    (lambda t: t.replace("Xrotation Zrotation", "Xrotation Wrotation"), "unknown channel 'Wrotation'", 9),
    (lambda t: t.replace("HIERARCHY", "HIERARCHIE"), "expected HIERARCHY", 1),
    (lambda t: t.split("MOTION")[0], "no MOTION section", None),
    (lambda t: t.replace("}\nMOTION", "MOTION"), "is not closed", None),
])
def test_malformed_files_name_file_and_line(tmp_path, edit, message, line):
    path = write(tmp_path, edit(TINY_BVH), "broken.bvh")
    with pytest.raises(BVHError) as info:
        read_bvh(path)
    text = str(info.value)
    assert str(path) in text and message in text
    assert "\n" not in text
    if line is not None:
        assert f"{path}:{line}:" in text


def test_missing_file(tmp_path):
    with pytest.raises(BVHError, match="cannot read BVH file"):
        read_bvh(tmp_path / "nope.bvh")


def test_real_cmu_file(data_root):
    """A DAZ-friendly CMU file: 43 joints (+ End Sites), 120 fps, rigid bones, head above feet (y up)."""
    bvh = read_bvh(data_root / "cmu_mocap" / "daz_friendly" / "02" / "02_03.bvh")
    joints = [n for n in bvh.joint_names if not n.endswith("_End")]
    assert len(joints) == 43 and joints[0] == "hip"
    assert bvh.num_frames == 174 and bvh.fps == pytest.approx(120.0, rel=1e-4)
    assert bvh.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    kin = forward_kinematics(bvh)
    assert kin.positions.shape == (174, len(bvh.joint_names), 3)
    # bones are rigid: every joint stays at its offset's distance from its parent
    for j, parent in enumerate(bvh.parents):
        if parent >= 0:
            d = np.linalg.norm(kin.positions[:, j] - kin.positions[:, parent], axis=-1)
            np.testing.assert_allclose(d, np.linalg.norm(bvh.offsets[j]), rtol=1e-9, atol=1e-9)
    head, feet = bvh.index("head"), [bvh.index("rFoot"), bvh.index("lFoot")]
    assert (kin.positions[:, head, 1] > kin.positions[:, feet, 1].max(axis=1) + 60).all()  # cm, y up
