"""Known poses for tests."""
import numpy as np

from core.skeleton import JOINT_INDEX, REST_POSE


def standing_pose() -> np.ndarray:
    """A plausible standing pose in mm, canonical frame (y down, left side at +x, facing -z)."""
    return REST_POSE.astype(np.float64)


def reaching_pose() -> np.ndarray:
    """The shared standing pose with both arms reaching forward (-z): clearly not planar, so a
    mirror image of it cannot be undone by any rotation."""
    pose = standing_pose()
    pose[JOINT_INDEX["left_elbow"]] = [300, -300, -120]
    pose[JOINT_INDEX["left_wrist"]] = [320, -250, -350]
    pose[JOINT_INDEX["right_elbow"]] = [-290, -250, -150]
    pose[JOINT_INDEX["right_wrist"]] = [-250, -350, -400]
    return pose
