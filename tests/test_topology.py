"""The 68-point scheme and flip consistency on real faces."""
from pathlib import Path

import numpy as np

from facealign.data import load_split
from facealign.topology import CONNECTIONS, FLIP_PERMUTATION, OUTER_EYE_CORNERS, REGIONS, flip_points

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"


def test_mirror_permutation_is_an_involution_with_known_pairs():
    assert sorted(FLIP_PERMUTATION) == list(range(68))
    np.testing.assert_array_equal(FLIP_PERMUTATION[FLIP_PERMUTATION], np.arange(68))
    for a, b in [(0, 16), (8, 8), (36, 45), (39, 42), (48, 54), (57, 57), (62, 62), (31, 35)]:
        assert FLIP_PERMUTATION[a] == b
    assert OUTER_EYE_CORNERS == (36, 45)
    assert sum(len(idx) for idx, _ in REGIONS.values()) == 68
    assert len(CONNECTIONS) == 16 + 4 + 4 + 3 + 4 + 6 + 6 + 12 + 8


def test_flipping_twice_is_identity():
    pts = np.random.default_rng(1).uniform(0, 383, (68, 2)).astype(np.float32)
    np.testing.assert_allclose(flip_points(flip_points(pts, 384), 384), pts, atol=1e-4)


def test_flipped_image_and_points_stay_aligned():
    """Pixels under each point of the picture match the pixels under the flipped points of the flipped picture,
    and the flipped face is again in anatomical order (right eye corner 36 left of 45 in the picture)."""
    faces = load_split("common", DATA)
    for i in range(5):
        img, pts = faces.image(i), faces[i].pts
        flipped = img[:, ::-1]
        fpts = flip_points(pts, img.shape[1])
        assert fpts[36, 0] < fpts[45, 0]
        # point i of the picture is point FLIP_PERMUTATION[i] of the flipped picture, at x -> W - 1 - x
        np.testing.assert_allclose(fpts[FLIP_PERMUTATION], np.c_[img.shape[1] - 1 - pts[:, 0], pts[:, 1]], atol=1e-4)
        ix, iy = np.floor(pts[:, 0] + 0.5).astype(int), np.floor(pts[:, 1] + 0.5).astype(int)
        np.testing.assert_array_equal(img[iy, ix], flipped[iy, img.shape[1] - 1 - ix])
