"""Known poses for tests."""
import numpy as np

from models.skeleton import NUM_JOINTS


def standing_pose() -> np.ndarray:
    """A plausible standing pose in mm, canonical frame (y down, left side at +x, facing -z)."""
    p = np.zeros((NUM_JOINTS, 3))
    p[1], p[4] = [-130, 0, 0], [130, 0, 0]
    p[2], p[5] = [-130, 440, -30], [130, 440, -30]
    p[3], p[6] = [-130, 880, 0], [130, 880, 0]
    p[7], p[8], p[9], p[10] = [0, -230, -10], [0, -480, 0], [0, -560, -60], [0, -700, 0]
    p[11], p[12], p[13] = [170, -470, 0], [200, -190, 0], [210, 60, -40]
    p[14], p[15], p[16] = [-170, -470, 0], [-200, -190, 0], [-210, 60, -40]
    return p
