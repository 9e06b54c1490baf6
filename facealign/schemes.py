"""Point schemes as values: how many points a model predicts and what they mean.

A `PointScheme` says everything the rest of the library needs to know about a set of
landmarks: the number of points, each point's mirror partner (flip augmentation and
flip averaging), the contours to draw, the pair whose distance normalises NME, the
point the pose axes start from, and optionally a 3-D model for head pose. It travels
with the weights (.pt, .onnx, .engine metadata) as `to_dict()` and is read back with
`PointScheme.from_dict`; weights that carry none are the 68-point scheme.

    scheme = MULTIPIE_68
    scheme.num_points, scheme.flip_permutation, scheme.connections
    scheme.normaliser(pts)              # (..., K, 2) -> (...,) outer-eye-corner distance
    scheme.flip(pts, width)             # mirrored picture's points, in this scheme's order

Point indices are 0-based. "Right" and "left" are the subject's: point 36 of the
68-point scheme is the outer corner of the subject's right eye, on the image's left.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class PointScheme:
    """name; num_points K; flip_pairs: (i, j) mirror partners (unpaired points mirror onto
    themselves); regions: (name, indices, closed) contours; norm_pair: the two points whose
    distance normalises errors; centre: where the pose axes are drawn (None: the mean point);
    model_3d: (K, 3) millimetres for head pose, or None (no pose for this scheme)."""

    name: str
    num_points: int
    flip_pairs: tuple[tuple[int, int], ...] = ()
    regions: tuple[tuple[str, tuple[int, ...], bool], ...] = ()
    norm_pair: tuple[int, int] = (0, 1)
    centre: int | None = None
    model_3d: tuple[tuple[float, float, float], ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        k = self.num_points
        used = [i for pair in self.flip_pairs for i in pair] + [i for _, idx, _ in self.regions for i in idx]
        used += list(self.norm_pair) + ([self.centre] if self.centre is not None else [])
        if k < 2 or any(not 0 <= i < k for i in used):
            raise ValueError(f"scheme {self.name!r}: every index must be in 0..{k - 1} (num_points={k})")
        if self.model_3d is not None and np.shape(self.model_3d) != (k, 3):
            raise ValueError(f"scheme {self.name!r}: model_3d must be ({k}, 3), got {np.shape(self.model_3d)}")

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """(K,) int: flip_permutation[i] is the index of point i's mirror partner."""
        perm = np.arange(self.num_points)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    @cached_property
    def connections(self) -> tuple[tuple[int, int], ...]:
        """Line segments (i, j) that draw the contours."""
        lines = []
        for _, idx, closed in self.regions:
            lines += list(zip(idx[:-1], idx[1:]))
            if closed:
                lines.append((idx[-1], idx[0]))
        return tuple(lines)

    @cached_property
    def segments(self) -> np.ndarray:
        """connections as an (S, 2) intp array, made once (drawing indexes points with it)."""
        return np.asarray(self.connections, dtype=np.intp).reshape(-1, 2)

    @cached_property
    def model(self) -> np.ndarray | None:
        """(K, 3) float64 millimetres of the 3-D model, or None."""
        return None if self.model_3d is None else np.asarray(self.model_3d, np.float64)

    def flip(self, pts: np.ndarray, width: int) -> np.ndarray:
        """Mirror (..., K, 2) pixel-centre points of an image `width` pixels wide: x -> width - 1 - x,
        then each point takes its partner's place. Flipping twice is the identity."""
        out = np.asarray(pts, dtype=np.float32).copy()
        out[..., 0] = (width - 1) - out[..., 0]
        return out[..., self.flip_permutation, :]

    def normaliser(self, pts: np.ndarray) -> np.ndarray:
        """Distance of the norm_pair of (..., K, 2) points -> (...,)."""
        a, b = self.norm_pair
        return np.linalg.norm(pts[..., a, :] - pts[..., b, :], axis=-1)

    def centre_of(self, pts: np.ndarray) -> np.ndarray:
        """(K, 2) points -> (2,) where the pose axes start: the centre point, else the mean."""
        return pts[self.centre] if self.centre is not None else pts.mean(axis=0)

    def check(self, pts: np.ndarray, what: str = "points") -> np.ndarray:
        """`pts` as float32 (K, 2), or a ValueError naming the scheme's shape."""
        arr = np.asarray(pts, dtype=np.float32)
        if arr.shape != (self.num_points, 2):
            raise ValueError(f"expected ({self.num_points}, 2) {what} ({self.name}), got {arr.shape}")
        return arr

    def to_dict(self) -> dict:
        """JSON-ready: what a weights file stores."""
        return {"name": self.name, "num_points": self.num_points, "flip_pairs": [list(p) for p in self.flip_pairs],
                "regions": [[n, list(idx), closed] for n, idx, closed in self.regions],
                "norm_pair": list(self.norm_pair), "centre": self.centre,
                "model_3d": None if self.model_3d is None else [list(p) for p in self.model_3d]}

    @classmethod
    def from_dict(cls, d: dict | None) -> "PointScheme":
        """A stored scheme; None (weights from before schemes were stored) is the 68-point one."""
        if d is None:
            return MULTIPIE_68
        if d.get("name") in SCHEMES and SCHEMES[d["name"]].to_dict() == d:
            return SCHEMES[d["name"]]
        return cls(d["name"], int(d["num_points"]), tuple(tuple(p) for p in d.get("flip_pairs", ())),
                   tuple((n, tuple(idx), bool(c)) for n, idx, c in d.get("regions", ())),
                   tuple(d.get("norm_pair", (0, 1))), d.get("centre"),
                   None if d.get("model_3d") is None else tuple(tuple(p) for p in d["model_3d"]))


# ----- the 68-point Multi-PIE / iBUG scheme (300-W) -----------------------------------------------------

_REGIONS_68 = (
    ("jaw", tuple(range(0, 17)), False),
    ("right_brow", tuple(range(17, 22)), False),
    ("left_brow", tuple(range(22, 27)), False),
    ("nose_bridge", tuple(range(27, 31)), False),
    ("nose_lower", tuple(range(31, 36)), False),
    ("right_eye", tuple(range(36, 42)), True),
    ("left_eye", tuple(range(42, 48)), True),
    ("outer_lip", tuple(range(48, 60)), True),
    ("inner_lip", tuple(range(60, 68)), True),
)

_PAIRS_68 = tuple(
    [(i, 16 - i) for i in range(8)]  # jaw
    + [(17 + i, 26 - i) for i in range(5)]  # brows
    + [(31, 35), (32, 34)]  # nostrils
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    + [(60, 64), (61, 63), (65, 67)]  # inner lip
)

# (68, 3) generic face, millimetres. Its x and y are the mean 300-W training shape (similarity-
# aligned, mirrored and averaged so it is symmetric, scaled to a 90 mm outer-eye-corner distance,
# nose tip at x=y=0); its depths are rounded anthropometric estimates (nose tip 32 mm ahead of the
# outer eye corners, the jaw's ends 50 mm behind them). Axes: x to the image's right, y down, z away
# from the camera (facealign.pose).
_MODEL_3D_68 = (
    # jaw 0-16
    (-74.2, -34.8, 50.0), (-73.6, -15.3, 45.0), (-71.4, 4.1, 38.0), (-67.3, 23.1, 30.0),
    (-59.7, 40.8, 20.0), (-48.0, 56.2, 9.0), (-33.8, 69.1, -1.0), (-18.0, 79.5, -9.0),
    (0.0, 82.4, -13.0), (18.0, 79.5, -9.0), (33.8, 69.1, -1.0), (48.0, 56.2, 9.0),
    (59.7, 40.8, 20.0), (67.3, 23.1, 30.0), (71.4, 4.1, 38.0), (73.6, -15.3, 45.0),
    (74.2, -34.8, 50.0),
    # brows 17-26
    (-59.8, -50.3, 0.0), (-50.6, -58.3, -8.0), (-38.0, -60.6, -13.0), (-24.8, -58.8, -16.0),
    (-12.3, -54.0, -17.0), (12.3, -54.0, -17.0), (24.8, -58.8, -16.0), (38.0, -60.6, -13.0),
    (50.6, -58.3, -8.0), (59.8, -50.3, 0.0),
    # nose 27-35
    (0.0, -38.3, -12.0), (0.0, -25.6, -17.0), (0.0, -13.0, -24.0), (0.0, 0.0, -32.0),
    (-14.9, 8.6, -14.0), (-7.7, 11.3, -19.0), (0.0, 13.6, -22.0), (7.7, 11.3, -19.0),
    (14.9, 8.6, -14.0),
    # eyes 36-47
    (-45.0, -36.4, 0.0), (-37.1, -41.1, -6.0), (-27.5, -41.0, -8.0), (-19.4, -34.7, -8.0),
    (-28.2, -32.9, -7.0), (-37.7, -33.0, -4.0), (19.4, -34.7, -8.0), (27.5, -41.0, -8.0),
    (37.1, -41.1, -6.0), (45.0, -36.4, 0.0), (37.7, -33.0, -4.0), (28.2, -32.9, -7.0),
    # lips 48-67
    (-28.5, 32.7, -4.0), (-18.1, 28.2, -12.0), (-7.4, 26.0, -17.0), (0.0, 27.8, -19.0),
    (7.4, 26.0, -17.0), (18.1, 28.2, -12.0), (28.5, 32.7, -4.0), (18.4, 42.9, -12.0),
    (8.0, 47.3, -16.0), (0.0, 48.1, -17.0), (-8.0, 47.3, -16.0), (-18.4, 42.9, -12.0),
    (-24.1, 33.3, -6.0), (-7.5, 32.4, -15.0), (0.0, 33.1, -17.0), (7.5, 32.4, -15.0),
    (24.1, 33.3, -6.0), (7.6, 37.7, -14.0), (0.0, 38.5, -16.0), (-7.6, 37.7, -14.0),
)

MULTIPIE_68 = PointScheme("multipie68", 68, _PAIRS_68, _REGIONS_68, norm_pair=(36, 45), centre=30,
                          model_3d=_MODEL_3D_68)

SCHEMES: dict[str, PointScheme] = {MULTIPIE_68.name: MULTIPIE_68}


def get_scheme(name: str) -> PointScheme:
    """A registered scheme by name; an unknown one is a ValueError listing the choices."""
    if name not in SCHEMES:
        raise ValueError(f"unknown point scheme {name!r}; choose from {', '.join(SCHEMES)}")
    return SCHEMES[name]


def subset(scheme: PointScheme, name: str, keep: list[int]) -> PointScheme:
    """A scheme of some of `scheme`'s points (in `keep`'s order): pairs, regions and the norm pair
    follow when all their points are kept (regions are cut to their kept points)."""
    where = {old: new for new, old in enumerate(keep)}
    pairs = tuple((where[a], where[b]) for a, b in scheme.flip_pairs if a in where and b in where)
    regions = tuple((n, tuple(where[i] for i in idx if i in where), c and all(i in where for i in idx))
                    for n, idx, c in scheme.regions if sum(i in where for i in idx) >= 2)
    a, b = scheme.norm_pair
    if a not in where or b not in where:
        raise ValueError(f"subset {name!r} must keep the norm pair {scheme.norm_pair}")
    model = None if scheme.model_3d is None else tuple(scheme.model_3d[i] for i in keep)
    return PointScheme(name, len(keep), pairs, regions, (where[a], where[b]), where.get(scheme.centre), model)
