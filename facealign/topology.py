"""The 68-point Multi-PIE / iBUG scheme in one place.

Point indices are 0-based. "Right" and "left" are the subject's: point 36 is the
outer corner of the subject's right eye, which sits on the image's left.
"""
from __future__ import annotations

import numpy as np

NUM_POINTS = 68

# Outer eye corners: the inter-ocular pair that normalises NME.
OUTER_EYE_CORNERS = (36, 45)

# name -> (indices, closed contour?)
REGIONS: dict[str, tuple[tuple[int, ...], bool]] = {
    "jaw": (tuple(range(0, 17)), False),
    "right_brow": (tuple(range(17, 22)), False),
    "left_brow": (tuple(range(22, 27)), False),
    "nose_bridge": (tuple(range(27, 31)), False),
    "nose_lower": (tuple(range(31, 36)), False),
    "right_eye": (tuple(range(36, 42)), True),
    "left_eye": (tuple(range(42, 48)), True),
    "outer_lip": (tuple(range(48, 60)), True),
    "inner_lip": (tuple(range(60, 68)), True),
}

_PAIRS = (
    [(i, 16 - i) for i in range(8)]  # jaw
    + [(17 + i, 26 - i) for i in range(5)]  # brows
    + [(31, 35), (32, 34)]  # nostrils
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    + [(60, 64), (61, 63), (65, 67)]  # inner lip
)


def _mirror_permutation() -> np.ndarray:
    perm = np.arange(NUM_POINTS)
    for a, b in _PAIRS:
        perm[a], perm[b] = b, a
    return perm


# FLIP_PERMUTATION[i] is the index of point i's mirror partner.
FLIP_PERMUTATION: np.ndarray = _mirror_permutation()


def connections() -> list[tuple[int, int]]:
    """Line segments (i, j) that draw the 68-point contours."""
    lines = []
    for idx, closed in REGIONS.values():
        lines += list(zip(idx[:-1], idx[1:]))
        if closed:
            lines.append((idx[-1], idx[0]))
    return lines


CONNECTIONS: tuple[tuple[int, int], ...] = tuple(connections())


def flip_points(pts: np.ndarray, width: int) -> np.ndarray:
    """Mirror (68, 2) pixel-centre points of an image `width` pixels wide.

    x -> width - 1 - x, then each point takes its mirror partner's place, so the
    result is again in the 68-point order. Flipping twice is the identity.
    """
    out = np.asarray(pts, dtype=np.float32).copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out[..., FLIP_PERMUTATION, :]


def interocular(pts: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distance of (..., 68, 2) points."""
    a, b = OUTER_EYE_CORNERS
    return np.linalg.norm(pts[..., a, :] - pts[..., b, :], axis=-1)
