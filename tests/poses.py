"""Known poses for tests."""
import numpy as np

from core.skeleton import REST_POSE


def standing_pose() -> np.ndarray:
    """A plausible standing pose in mm, canonical frame (y down, left side at +x, facing -z)."""
    return REST_POSE.astype(np.float64)
