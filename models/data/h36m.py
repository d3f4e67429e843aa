"""Human3.6M, read from the files users bring (it cannot be shipped): VideoPose3D's
data_3d_h36m.npz and data_2d_h36m_gt.npz (or detections in H36M layout), the dataset's published
cameras, and the per-camera sequences of Protocols 1 and 2 (test subjects S9 and S11).

Everything comes out in the project's conventions (core.skeleton, core.camera): H36M-17 joint
order, millimetres, world and camera frames y down (camera: x right, y down, z forward), pixels.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.skeleton import MM_PER_METRE, NUM_JOINTS
from models.data import DataError, EvalFormatError

# ---- the files: VideoPose3D's .npz formats ----------------------------------------------------

# H36M's 32-joint layout -> H36M-17 (as VideoPose3D's h36m_dataset.py keeps them).
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays, nothing else: the .npz files hold pickled
    objects, and a plain pickle.load would run whatever code a crafted file asks for."""
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy._core.multiarray":   # written by numpy 2, read by numpy 1
            module = "numpy.core.multiarray"
        return super().find_class(module, name)


def _read_npz_object(path: Path, key: str):
    """The pickled object stored under `key` of an .npz, read with _ArraysOnly."""
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(f"{key}.npy")
    except FileNotFoundError:
        raise DataError(f"Human3.6M file not found: {path}") from None
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not an .npz archive ({err})") from None
    except KeyError:
        raise DataError(f"{path}: no {key!r} entry; expected a VideoPose3D-format Human3.6M file") from None
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        _, _, dtype = read_header(stream)
        if dtype.hasobject:
            array = _ArraysOnly(stream).load()
        else:
            stream.seek(0)
            array = np.lib.format.read_array(stream)
    except (ValueError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
        raise DataError(f"{path}: {key!r} is not a plain dict of arrays ({err})") from None
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def _h36m_joints(array, where: str, dims: int) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.ndim != 3 or array.shape[2] != dims or array.shape[1] not in (17, 32):
        raise DataError(f"{where}: expected float [frames, 32 or 17, {dims}], got {array.dtype} {array.shape}")
    return array[:, list(H36M_32_TO_17)] if array.shape[1] == 32 else array


def _select_subjects(data, path: Path, subjects: Iterable[str] | None, key: str) -> list[str]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path}: {key!r} is not a dict of subjects -> dict of actions")
    wanted = list(data) if subjects is None else list(subjects)
    unknown = [s for s in wanted if s not in data]
    if unknown:
        raise DataError(f"{path}: no subject {unknown[0]!r}; the file has {', '.join(sorted(data))}")
    return wanted


# H36M world is z up, metres; (x, y, z) -> (x, -z, y) is a proper rotation (90 degrees about x)
# that sends up to -y (y down), then metres -> mm.
H36M_Z_UP_TO_Y_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def load_h36m_3d(path: str | Path, subjects: Iterable[str] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """VideoPose3D's data_3d_h36m.npz ('positions_3d': subject -> action -> [F, 32, 3] metres,
    world frame z up) as {(subject, action): [F, 17, 3] float32 mm, world frame y down}.

    Only trust files you made or got from a known source: the format stores pickled objects.
    This reader unpickles nothing but dicts and numpy arrays and checks every shape.
    """
    path = Path(path)
    data = _read_npz_object(path, "positions_3d")
    out = {}
    for subject in _select_subjects(data, path, subjects, "positions_3d"):
        for action, positions in data[subject].items():
            joints = _h36m_joints(positions, f"{path}: {subject}/{action}", 3)
            out[(subject, action)] = (joints @ H36M_Z_UP_TO_Y_DOWN.T * MM_PER_METRE).astype(np.float32)
    return out


def load_h36m_2d(path: str | Path, subjects: Iterable[str] | None = None) -> dict[tuple[str, str, int], np.ndarray]:
    """VideoPose3D's data_2d_h36m_gt.npz or a detections file in H36M layout ('positions_2d':
    subject -> action -> list of 4 cameras [F, 17, 2] pixels; 'metadata' with layout_name 'h36m', or num_joints 17 in the ground-truth file)
    as {(subject, action, camera index): [F, 17, 2] float32 pixels}. Detection files in COCO
    layout are refused (their joint order differs). Same trust note as load_h36m_3d."""
    path = Path(path)
    metadata = _read_npz_object(path, "metadata")
    if not isinstance(metadata, dict):
        raise DataError(f"{path}: no 'metadata' dict; expected VideoPose3D's 2D npz format")
    # Detection files name their layout; the ground-truth file only gives num_joints (17 = H36M order).
    layout = metadata.get("layout_name", "h36m" if metadata.get("num_joints") == 17 else None)
    if layout != "h36m":
        raise DataError(f"{path}: 2D layout {layout!r} is not 'h36m'; only H36M-ordered keypoints are supported")
    data = _read_npz_object(path, "positions_2d")
    out = {}
    for subject in _select_subjects(data, path, subjects, "positions_2d"):
        for action, cameras in data[subject].items():
            if not isinstance(cameras, (list, tuple)):
                raise DataError(f"{path}: {subject}/{action} is not a list of cameras")
            for c, keypoints in enumerate(cameras):
                where = f"{path}: {subject}/{action} camera {c}"
                out[(subject, action, c)] = _h36m_joints(keypoints, where, 2).astype(np.float32)
    return out


# ---- the cameras, and the per-camera sequences of Protocols 1 and 2 ---------------------------

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

    Takes what the readers above return: poses_world from load_h36m_3d ({(subject, action):
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
