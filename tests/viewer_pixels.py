"""Reading the viewer's rendered pixels: which are the skeleton's left and right sides and the
camera frustum, and which differ from the background (tests/test_viewer.py, tests/test_viewer_room.py)."""
from __future__ import annotations

import numpy as np


def side_masks(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Pixels of the left (blue), right (orange-red) and frustum (yellow) colours, shading allowed."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return {
        "left": (b > 120) & (b > r + 80) & (b > g + 30),
        "right": (r > 120) & (r > b + 80) & (g < 0.6 * r),
        "frustum": (r > 120) & (g > 0.7 * r) & (b < 0.5 * r),
    }


def foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background colour."""
    from app.viewer import BACKGROUND
    background = np.round(np.asarray(BACKGROUND) * 255)
    return np.abs(rgb.astype(np.int32) - background).max(axis=-1) > 12
