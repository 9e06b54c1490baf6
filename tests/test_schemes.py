"""Point schemes: the 68-point one, flip consistency on real faces, storage, subsets."""
from pathlib import Path

import numpy as np
import pytest

from facealign.data import load_split
from facealign.schemes import MULTIPIE_68, PointScheme, subset

FLIP_PERMUTATION, CONNECTIONS = MULTIPIE_68.flip_permutation, MULTIPIE_68.connections
flip_points = MULTIPIE_68.flip

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"


def test_mirror_permutation_is_an_involution_with_known_pairs():
    assert sorted(FLIP_PERMUTATION) == list(range(68))
    np.testing.assert_array_equal(FLIP_PERMUTATION[FLIP_PERMUTATION], np.arange(68))
    for a, b in [(0, 16), (8, 8), (36, 45), (39, 42), (48, 54), (57, 57), (62, 62), (31, 35)]:
        assert FLIP_PERMUTATION[a] == b
    assert MULTIPIE_68.norm_pair == (36, 45) and MULTIPIE_68.centre == 30
    assert sum(len(idx) for _, idx, _ in MULTIPIE_68.regions) == 68
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


def test_a_scheme_round_trips_through_its_dict_and_weights_without_one_are_68_points():
    assert PointScheme.from_dict(MULTIPIE_68.to_dict()) is MULTIPIE_68
    assert PointScheme.from_dict(None) is MULTIPIE_68
    small = subset(MULTIPIE_68, "corners6", [36, 39, 42, 45, 48, 54])
    back = PointScheme.from_dict(small.to_dict())
    assert back == small and back.num_points == 6 and back.norm_pair == (0, 3)
    assert back.flip_pairs == ((0, 3), (1, 2), (4, 5)) and back.centre is None
    assert back.connections == ((0, 1), (2, 3), (4, 5))  # each region's kept points, joined (no longer closed)


def test_bad_schemes_are_refused():
    with pytest.raises(ValueError, match="every index must be in 0..3"):
        PointScheme("bad", 4, flip_pairs=((0, 4),))
    with pytest.raises(ValueError, match=r"model_3d must be \(3, 3\)"):
        PointScheme("bad", 3, model_3d=((0, 0, 0),))
    with pytest.raises(ValueError, match="must keep the norm pair"):
        subset(MULTIPIE_68, "no_eyes", [48, 54])
    with pytest.raises(ValueError, match=r"expected \(68, 2\) points \(multipie68\)"):
        MULTIPIE_68.check(np.zeros((12, 2)))
