"""Drawing 68 points, their contours and head-pose axes on BGR frames."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .topology import CONNECTIONS


@dataclass(frozen=True)
class DrawingSpec:
    color: tuple[int, int, int] = (0, 255, 0)  # BGR
    line_color: tuple[int, int, int] = (255, 200, 0)
    radius: int = 2
    thickness: int = 1
    points: bool = True
    contours: bool = True
    box: bool = False
    pose_axes: bool = False


def draw_points(image: np.ndarray, pts: np.ndarray, color=(0, 255, 0), radius: int = 2) -> np.ndarray:
    """Copy of `image` with (68, 2) points drawn as filled circles (pixel centres, anti-aliased)."""
    out = image.copy()
    for x, y in np.asarray(pts, dtype=np.float32):
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)
    return out
