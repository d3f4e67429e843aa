"""Readers for the evaluation data users bring, in its standard formats (we cannot ship it).

- MPI-INF-3DHP test set: ``TS1..TS6/annot_data.mat`` as downloaded (MATLAB v7.3, i.e. HDF5).
- Human3.6M Protocol 1/2: VideoPose3D's ``data_3d_h36m.npz`` / ``data_2d_h36m_gt.npz`` (read by
  models.datasets), turned into per-camera sequences with the published camera extrinsics below.

Everything comes out in the project's conventions (core.skeleton, core.camera): H36M-17 joint
order, millimetres, camera frame x right / y down / z forward, pixels with y down.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

# The loader's z-up -> y-down world rotation, so the extrinsics can be applied to what it returns.
from models.datasets import H36M_Z_UP_TO_Y_DOWN
from models.datasets import DataError, load_h36m_2d, load_h36m_3d
from core.skeleton import NUM_JOINTS


class EvalFormatError(DataError):
    """An evaluation file that is missing, or not in the format the reader expects."""


# =========================================================================== MPI-INF-3DHP test set

# The 17 joints of the test-set annotations (mpii_get_joints('relevant') in the 3DHP code).
MPI_INF_3DHP_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "pelvis", "spine", "head",
)

# H36M-17 joint i is 3DHP joint MPI_INF_3DHP_TO_H36M[i]. Limbs, pelvis and spine match by name.
# The neck and head points differ between the datasets; we follow the usual lifting-literature
# correspondence, matching positions rather than names:
#   H36M thorax    <- 3DHP neck     (base of the neck, between the shoulders: H36M's thorax);
#   H36M neck_nose <- 3DHP head     (a point inside the head at about nose level);
#   H36M head      <- 3DHP head_top (the crown; H36M's "head" is the head top too).
MPI_INF_3DHP_TO_H36M: tuple[int, ...] = tuple(MPI_INF_3DHP_JOINT_NAMES.index(name) for name in (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "neck", "head", "head_top",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
))

# Activity ids in activity_annotation (mpii_get_activity_name.m).
MPI_INF_3DHP_ACTIVITIES: dict[int, str] = {
    1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
    5: "On The Floor", 6: "Sports", 7: "Miscellaneous",
}

# The 14 joints behind the official PCK/AUC "Total" (mpii_get_pck_auc_joint_groups.m: head top,
# neck, shoulders, elbows, wrists, hips, knees, ankles; not pelvis, spine or head), as H36M indices.
MPI_INF_3DHP_PCK_JOINTS: tuple[int, ...] = tuple(
    h36m for h36m, mpi in enumerate(MPI_INF_3DHP_TO_H36M)
    if MPI_INF_3DHP_JOINT_NAMES[mpi] not in ("pelvis", "spine", "head"))

# Image sizes (width, height): TS1-4 studio cameras, TS5-6 outdoor camera.
MPI_INF_3DHP_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
    "TS5": (1920, 1080), "TS6": (1920, 1080),
}
MPI_INF_3DHP_TEST_SEQUENCES: tuple[str, ...] = tuple(MPI_INF_3DHP_IMAGE_SIZES)

_3DHP_KEYS = ("annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation")


@dataclass
class MpiInf3dhpSequence:
    """One MPI-INF-3DHP test sequence in H36M-17 order. F frames, all of them (use `valid`)."""
    name: str                        # "TS1" .. "TS6" (the folder name)
    keypoints_2d: np.ndarray         # [F, 17, 2] pixels, y down (annot2)
    poses_3d: np.ndarray             # [F, 17, 3] mm, camera frame, y down (annot3; consistent with the 2D)
    poses_3d_universal: np.ndarray   # [F, 17, 3] mm, rescaled to the H36M "universal" skeleton height
                                     # (univ_annot3: what the official evaluation script scores against)
    activity_ids: np.ndarray         # [F] int, keys of MPI_INF_3DHP_ACTIVITIES (0 if unlabelled)
    valid: np.ndarray                # [F] bool, the frames the official evaluation uses
    image_size: tuple[int, int] | None  # (width, height) for TS1..TS6, else None

    @property
    def activity_names(self) -> np.ndarray:
        """[F] activity name per frame ('' where unlabelled)."""
        return np.array([MPI_INF_3DHP_ACTIVITIES.get(int(i), "") for i in self.activity_ids])


def _read_mat(path: Path) -> tuple[dict[str, np.ndarray], bool]:
    """The 3DHP variables of a .mat file and whether they are in h5py (reversed) axis order."""
    if h5py.is_hdf5(path):  # MATLAB v7.3: HDF5, which stores arrays with the axes reversed
        with h5py.File(path, "r") as f:
            missing = [k for k in _3DHP_KEYS if k not in f]
            if missing:
                raise EvalFormatError(f"{path} lacks {', '.join(missing)} (found: {', '.join(sorted(f))}); "
                                      "expected an MPI-INF-3DHP test-set annot_data.mat")
            return {k: np.asarray(f[k]) for k in _3DHP_KEYS}, True
    try:  # older v5 .mat: read with scipy only if the user already has it (not a dependency)
        from scipy.io import loadmat
    except ImportError:
        raise EvalFormatError(f"{path} is not a MATLAB v7.3 (HDF5) file; reading an older .mat needs scipy "
                              "(pip install scipy) or re-save it in MATLAB with save(..., '-v7.3')") from None
    try:
        data = loadmat(path)
    except Exception as err:  # scipy raises several types for non-.mat input
        raise EvalFormatError(f"{path} is not a readable .mat file ({err})") from None
    missing = [k for k in _3DHP_KEYS if k not in data]
    if missing:
        raise EvalFormatError(f"{path} lacks {', '.join(missing)}; expected an MPI-INF-3DHP test-set annot_data.mat")
    return {k: np.asarray(data[k]) for k in _3DHP_KEYS}, False


def _frames_joints(array: np.ndarray, dims: int, reversed_axes: bool, what: str, path: Path) -> np.ndarray:
    """MATLAB's dims x 17 x 1 x F as [F, 17, dims] (h5py shows it as F x 1 x 17 x dims)."""
    if reversed_axes:
        ok = array.ndim >= 2 and array.shape[-2:] == (17, dims)
        result = array.reshape(-1, 17, dims) if ok else None
    else:
        ok = array.ndim >= 2 and array.shape[:2] == (dims, 17)
        result = array.reshape(dims, 17, -1).transpose(2, 1, 0) if ok else None
    if result is None:
        raise EvalFormatError(f"{what} in {path} has shape {array.shape}; expected MATLAB {dims}x17x1xF "
                              "(17 test-set joints)")
    return result.astype(np.float64)


def _check_y_down(keypoints_2d: np.ndarray, poses_3d: np.ndarray, valid: np.ndarray, path: Path) -> None:
    """annot2 is the pinhole projection of annot3; with y down, image v grows with Y / Z.

    A y-up frame (negative slope) or unrelated arrays (no correlation) would make every 3D error
    silently wrong, so refuse them instead.
    """
    depth = poses_3d[..., 2]
    use = valid[:, None] & (depth > 1.0) & np.isfinite(keypoints_2d).all(-1) & np.isfinite(poses_3d).all(-1)
    if use.sum() < 3:
        return
    ratio, v = poses_3d[..., 1][use] / depth[use], keypoints_2d[..., 1][use]
    if ratio.std() == 0 or v.std() == 0:
        return
    correlation = np.corrcoef(ratio, v)[0, 1]
    if not correlation > 0.5:  # a y-up frame gives about -1, unrelated arrays about 0
        raise EvalFormatError(
            f"annot2 in {path} is not a y-down projection of annot3 (correlation of v with Y/Z: "
            f"{correlation:.2f}); expected the unmodified MPI-INF-3DHP test-set annotations")


def load_mpi_inf_3dhp_sequence(path: str | Path) -> MpiInf3dhpSequence:
    """Read one test sequence: a ``TSi`` folder or its ``annot_data.mat``, mapped to H36M-17."""
    path = Path(path)
    if path.is_dir():
        path = path / "annot_data.mat"
    if not path.is_file():
        raise EvalFormatError(f"{path} not found; point to an MPI-INF-3DHP test-set folder TS1..TS6 "
                              "or its annot_data.mat")
    data, reversed_axes = _read_mat(path)
    to_h36m = list(MPI_INF_3DHP_TO_H36M)
    keypoints_2d = _frames_joints(data["annot2"], 2, reversed_axes, "annot2", path)[:, to_h36m]
    poses_3d = _frames_joints(data["annot3"], 3, reversed_axes, "annot3", path)[:, to_h36m]
    universal = _frames_joints(data["univ_annot3"], 3, reversed_axes, "univ_annot3", path)[:, to_h36m]
    valid = data["valid_frame"].ravel() > 0     # 1 x F or F x 1: either way one value per frame
    activity = data["activity_annotation"].ravel()
    frames = len(poses_3d)
    if not (len(keypoints_2d) == len(universal) == len(valid) == len(activity) == frames):
        raise EvalFormatError(
            f"{path}: frame counts differ (annot2 {len(keypoints_2d)}, annot3 {frames}, univ_annot3 "
            f"{len(universal)}, valid_frame {len(valid)}, activity_annotation {len(activity)})")
    _check_y_down(keypoints_2d, poses_3d, valid, path)
    name = path.parent.name
    return MpiInf3dhpSequence(
        name=name, keypoints_2d=keypoints_2d, poses_3d=poses_3d, poses_3d_universal=universal,
        activity_ids=np.nan_to_num(activity).astype(np.int64), valid=valid,
        image_size=MPI_INF_3DHP_IMAGE_SIZES.get(name))


def load_mpi_inf_3dhp_test_set(root: str | Path, sequences: Sequence[str] = MPI_INF_3DHP_TEST_SEQUENCES
                               ) -> dict[str, MpiInf3dhpSequence]:
    """Read ``root/TS1..TS6/annot_data.mat`` (the extracted mpi_inf_3dhp_test_set folder)."""
    root = Path(root)
    missing = [s for s in sequences if not (root / s / "annot_data.mat").is_file()]
    if missing:
        raise EvalFormatError(f"{root} lacks {', '.join(s + '/annot_data.mat' for s in missing)}; "
                              "point to the extracted mpi_inf_3dhp_test_set folder")
    return {s: load_mpi_inf_3dhp_sequence(root / s / "annot_data.mat") for s in sequences}


# =========================================================================== Human3.6M

H36M_TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")

# The four Human3.6M cameras in the order of the per-camera lists in data_2d_h36m_gt.npz, with
# their published intrinsics: focal length and principal point in pixels, image (width, height).
H36M_CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
H36M_INTRINSICS: dict[str, dict[str, tuple[float, ...]]] = {
    "54138969": {"focal": (1145.0494384765625, 1143.7811279296875), "center": (512.54150390625, 515.4514770507812),
                 "size": (1000, 1002)},
    "55011271": {"focal": (1149.6756591796875, 1147.5916748046875), "center": (508.8486328125, 508.0649108886719),
                 "size": (1000, 1000)},
    "58860488": {"focal": (1149.1407470703125, 1148.7989501953125), "center": (519.8158569335938, 501.40264892578125),
                 "size": (1000, 1000)},
    "60457274": {"focal": (1145.5113525390625, 1144.77392578125), "center": (514.9682006835938, 501.88201904296875),
                 "size": (1000, 1002)},
}

# Published Human3.6M extrinsics per subject and camera (same camera order), as VideoPose3D keeps
# them in common/h36m_dataset.py (MIT licence; values from the dataset's own calibration):
# (orientation quaternion w, x, y, z rotating camera axes into the world, camera centre in world mm).
# The world frame is the dataset's own (z up, as stored in data_3d_h36m.npz); h36m_world_to_camera
# takes load_h36m_3d's y-down version of it and gives x right, y down, z forward.
H36M_EXTRINSICS: dict[str, tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]] = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}


def quaternion_to_matrix(q: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] of a unit quaternion (w, x, y, z), acting on column vectors."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def _extrinsics(subject: str, camera: int) -> tuple[np.ndarray, np.ndarray]:
    if subject not in H36M_EXTRINSICS:
        raise EvalFormatError(f"no camera parameters for Human3.6M subject {subject!r}; "
                              f"known: {', '.join(H36M_EXTRINSICS)}")
    if not 0 <= camera < len(H36M_CAMERA_IDS):
        raise EvalFormatError(f"Human3.6M camera index {camera} out of range 0..{len(H36M_CAMERA_IDS) - 1}")
    orientation, centre = H36M_EXTRINSICS[subject][camera]
    return quaternion_to_matrix(orientation), np.asarray(centre)


def h36m_world_to_camera(poses_world: np.ndarray, subject: str, camera: int) -> np.ndarray:
    """World poses [..., 3] as load_h36m_3d returns them (mm, y down) into camera `camera` (0..3).

    The extrinsics live in the dataset's own world frame (z up): undo the loader's z-up -> y-down
    rotation, then X_cam = R^T (X - c) with R the camera-to-world rotation of the orientation
    quaternion and c the camera centre (VideoPose3D's world_to_camera). Result: x right, y down,
    z forward, mm.
    """
    R, centre = _extrinsics(subject, camera)
    world_z_up = np.asarray(poses_world, dtype=np.float64) @ H36M_Z_UP_TO_Y_DOWN  # rows: M^T p
    return (world_z_up - centre) @ R


class H36MSequence(NamedTuple):
    """One (subject, action, camera) of Human3.6M; unpacks like a tuple in this order."""
    subject: str                # "S9"
    action: str                 # as in the npz, e.g. "Directions 1"; h36m_action_name() groups them
    camera: int                 # 0..3, index into H36M_CAMERA_IDS
    keypoints_2d: np.ndarray    # [F, 17, 2] pixels, H36M-17
    poses_3d: np.ndarray        # [F, 17, 3] mm, this camera's frame (y down), not root-centred


def h36m_action_name(action: str) -> str:
    """The action a sequence belongs to for per-action tables: "Directions 1" -> "Directions"."""
    return action.split(" ")[0]


def h36m_sequences(poses_world: Mapping[tuple[str, str], np.ndarray],
                   keypoints_2d: Mapping[tuple[str, str, int], np.ndarray],
                   subjects: Sequence[str] = H36M_TEST_SUBJECTS) -> Iterator[H36MSequence]:
    """Every (subject, action, camera) of `subjects` with its 2D keypoints and camera-frame 3D poses.

    Takes what models.datasets returns: poses_world from load_h36m_3d ({(subject, action):
    [F, 17, 3] mm, world y down}) and keypoints_2d from load_h36m_2d ({(subject, action, camera):
    [F, 17, 2] pixels}). Protocols 1 and 2 test on S9 and S11 (train on H36M_TRAIN_SUBJECTS).
    Where 2D and 3D frame counts differ, both are cut to the shorter, as VideoPose3D does.
    """
    for subject in subjects:
        actions = [a for s, a in poses_world if s == subject]
        if not actions:
            raise EvalFormatError(f"Human3.6M subject {subject} is missing from the 3D poses")
        for action in actions:
            world = np.asarray(poses_world[(subject, action)], dtype=np.float64)
            if world.ndim != 3 or world.shape[1:] != (NUM_JOINTS, 3):
                raise EvalFormatError(f"Human3.6M {subject} {action!r} 3D poses have shape {world.shape}; "
                                      f"expected [F, {NUM_JOINTS}, 3]")
            for camera in range(len(H36M_CAMERA_IDS)):
                if (subject, action, camera) not in keypoints_2d:
                    raise EvalFormatError(f"Human3.6M {subject} {action!r} camera {camera} has 3D poses but "
                                          "no 2D keypoints; use the 2D file that matches the 3D one")
                kp = np.asarray(keypoints_2d[(subject, action, camera)], dtype=np.float64)
                if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 2):
                    raise EvalFormatError(f"Human3.6M {subject} {action!r} camera {camera} 2D keypoints have "
                                          f"shape {kp.shape}; expected [F, {NUM_JOINTS}, 2]")
                frames = min(len(kp), len(world))
                yield H36MSequence(subject, action, camera, kp[:frames],
                                   h36m_world_to_camera(world[:frames], subject, camera))


def load_h36m_sequences(path_3d: str | Path, path_2d: str | Path,
                        subjects: Sequence[str] = H36M_TEST_SUBJECTS) -> Iterator[H36MSequence]:
    """h36m_sequences over VideoPose3D's data_3d_h36m.npz and a 2D file in H36M layout
    (data_2d_h36m_gt.npz, or detections such as data_2d_h36m_cpn_ft_h36m_dbb.npz)."""
    poses_world = load_h36m_3d(path_3d, subjects)
    keypoints_2d = load_h36m_2d(path_2d, subjects)
    return h36m_sequences(poses_world, keypoints_2d, subjects)
