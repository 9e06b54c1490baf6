"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for landmark tracks.

A low-pass filter whose cutoff rises with speed: at rest it smooths hard
(`min_cutoff`, Hz) to remove jitter; when the face moves the cutoff grows by
`beta` per unit of speed, so the points do not lag. The speed is measured in
face sizes per second (face size = sqrt of the point box's area), which makes
the same parameters work for a face of 60 or 600 pixels, at any resolution.
`d_cutoff` (Hz) smooths the speed estimate itself.

Video mode filters in the face's aligned frame (`AlignedFilter`, the default): each frame's
points are mapped by their least-squares similarity onto a reference face, the shape is
filtered there, and the same similarity maps it back. The head's own motion (moving, turning
in the picture, coming closer) passes through without lag; only the shape's changes
(expression, the noise of the points, turning out of the picture) are smoothed. Its defaults
were chosen on measured shake and lag (`facealign stability`, docs/video.md): the least
shake with both lags (of the points and of the shape) under one frame on two clips.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from .transform import SimilarityTarget, apply

DEFAULT_MIN_CUTOFF = 1.0  # Hz
DEFAULT_BETA = 10.0  # Hz per (face size / s)
DEFAULT_D_CUTOFF = 1.0  # Hz
# the video-mode default (AlignedFilter), from the sweep in docs/video.md
ALIGNED_MIN_CUTOFF = 0.3  # Hz
ALIGNED_BETA = 20.0  # Hz per (face size / s)
ALIGNED_D_CUTOFF = 3.0  # Hz
SPACES = ("aligned", "frame")  # where TrackSmoother filters: the face's aligned frame, or frame pixels


def alpha(dt: float, cutoff) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with `cutoff` Hz sampled every `dt` s (a float for
    a number, an array for an array)."""
    if isinstance(cutoff, (int, float)):  # a number: plain floats, the same operations as numpy's, cheaper
        tau = 1.0 / (2.0 * math.pi * cutoff)
    else:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def face_size(pts: np.ndarray) -> float:
    """sqrt(width * height) of the point box of (K, 2) points, in their pixels (at least 1).
    The span is taken in float64 (min and max are exact in the points' own type)."""
    pts = np.asarray(pts).reshape(-1, 2)
    return _box_size(*pts.min(0).tolist(), *pts.max(0).tolist())


def box_size(box_xyxy: np.ndarray) -> float:
    """face_size of the points whose (4,) point box this is (float32 points: the same value)."""
    return _box_size(*np.asarray(box_xyxy).tolist())


def _box_size(x0: float, y0: float, x1: float, y1: float) -> float:
    return max(math.sqrt((x1 - x0) * (y1 - y0)), 1.0)


@dataclass
class OneEuroFilter:
    """Filters one track of (K, 2) points; call it once per frame with the frame's time in seconds."""

    min_cutoff: float = DEFAULT_MIN_CUTOFF
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF
    _x: np.ndarray | None = field(default=None, repr=False)  # last output, pixels
    _dx: np.ndarray | None = field(default=None, repr=False)  # last speed, face sizes / s
    _t: float = field(default=0.0, repr=False)

    def __post_init__(self):
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self.min_cutoff}, "
                             f"{self.d_cutoff}, {self.beta}")

    def reset(self) -> None:
        self._x = self._dx = None

    def __call__(self, pts: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        """(K, 2) points (any pixel space) at time `t` s -> filtered (K, 2) float32.

        scale: the face size in the points' pixels (default: face_size(pts)).
        The first call passes the points through unchanged.
        """
        x = np.asarray(pts, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.astype(np.float32)
        dt = float(t) - self._t
        if dt <= 0:  # a repeated or out-of-order timestamp: treat as a very short step
            dt = 1e-3
        s = scale if scale is not None else face_size(x)
        dx = (x - self._x) / (dt * s)
        self._dx = self._dx + alpha(dt, self.d_cutoff) * (dx - self._dx)
        speed = np.sqrt(np.add.reduce(self._dx * self._dx, axis=-1, keepdims=True))  # np.linalg.norm's own sum
        a = alpha(dt, self.min_cutoff + self.beta * speed)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.astype(np.float32)


@dataclass
class AlignedFilter:
    """Filters one track of (K, 2) points in the face's aligned frame; the rigid motion passes through.

    Each call fits the similarity A that maps the points onto the reference (the track's first
    points, centred, at unit RMS radius), One Euro filters the aligned shape A(pts) and returns
    A^-1 of it: a face that only moves, turns in the picture or changes size comes back exactly
    as it went in (no lag), while the shape's shake is smoothed.
    """

    min_cutoff: float = ALIGNED_MIN_CUTOFF
    beta: float = ALIGNED_BETA
    d_cutoff: float = ALIGNED_D_CUTOFF
    _shape: OneEuroFilter | None = field(default=None, repr=False)
    _ref: SimilarityTarget | None = field(default=None, repr=False)  # the reference face, centred for the fit

    def __post_init__(self):
        self._shape = OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff)  # (checks them)

    def reset(self) -> None:
        self._ref = None
        self._shape.reset()

    def __call__(self, pts: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        """(K, 2) points (any pixel space) at time `t` s -> filtered (K, 2) float32. `scale` is
        ignored (the aligned frame has its own); the first call passes the points through."""
        x = np.asarray(pts, dtype=np.float64)
        if self._ref is None or self._ref.points.shape != x.shape:
            c = x - x.mean(0)
            self._ref = SimilarityTarget(c / max(float(np.sqrt((c ** 2).sum(1).mean())), 1e-9))
            self._shape.reset()
        to_ref = self._ref.fit(x)
        shape = self._shape(apply(to_ref, x), t)
        # (cv2's closed form: numpy's LAPACK inverse took 0.5 ms a call inside the pipeline, against 5 us alone)
        return apply(cv2.invertAffineTransform(to_ref), shape)


@dataclass
class TrackSmoother:
    """One filter per track id, made on first use and dropped with the track.

    space: "aligned" (AlignedFilter, the video-mode default) or "frame" (OneEuroFilter on the frame
    points, the filter before it); min_cutoff, beta, d_cutoff: its One Euro parameters (None: that
    filter's defaults).
    """

    min_cutoff: float | None = None
    beta: float | None = None
    d_cutoff: float | None = None
    space: str = "aligned"
    filters: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"unknown smoothing space {self.space!r}; choose from {', '.join(SPACES)}")
        self.make()  # checks the parameters now, not on the first face

    def make(self) -> "AlignedFilter | OneEuroFilter":
        """A new filter with these settings."""
        kind = AlignedFilter if self.space == "aligned" else OneEuroFilter
        given = {"min_cutoff": self.min_cutoff, "beta": self.beta, "d_cutoff": self.d_cutoff}
        return kind(**{k: v for k, v in given.items() if v is not None})

    def __call__(self, track_id, pts: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        f = self.filters.get(track_id)
        if f is None:
            f = self.filters[track_id] = self.make()
        return f(pts, t, scale)

    def keep(self, track_ids) -> None:
        """Forget every track not in `track_ids`."""
        keep = set(track_ids)
        self.filters = {k: v for k, v in self.filters.items() if k in keep}

    def reset(self) -> None:
        self.filters.clear()
