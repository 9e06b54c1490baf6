"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for landmark tracks.

A low-pass filter whose cutoff rises with speed: at rest it smooths hard
(`min_cutoff`, Hz) to remove jitter; when the face moves the cutoff grows by
`beta` per unit of speed, so the points do not lag. The speed is measured in
face sizes per second (face size = sqrt of the point box's area), which makes
the same parameters work for a face of 60 or 600 pixels, at any resolution.
`d_cutoff` (Hz) smooths the speed estimate itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DEFAULT_MIN_CUTOFF = 1.0  # Hz
DEFAULT_BETA = 10.0  # Hz per (face size / s)
DEFAULT_D_CUTOFF = 1.0  # Hz


def alpha(dt: float, cutoff) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with `cutoff` Hz sampled every `dt` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


def face_size(pts: np.ndarray) -> float:
    """sqrt(width * height) of the point box of (K, 2) points, in their pixels (at least 1)."""
    span = np.ptp(np.asarray(pts, dtype=np.float64).reshape(-1, 2), axis=0)
    return max(float(np.sqrt(span[0] * span[1])), 1.0)


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
        speed = np.linalg.norm(self._dx, axis=-1, keepdims=True)
        a = alpha(dt, self.min_cutoff + self.beta * speed)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.astype(np.float32)


@dataclass
class TrackSmoother:
    """One OneEuroFilter per track id, made on first use and dropped with the track."""

    min_cutoff: float = DEFAULT_MIN_CUTOFF
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF
    filters: dict = field(default_factory=dict, repr=False)

    def __call__(self, track_id, pts: np.ndarray, t: float, scale: float | None = None) -> np.ndarray:
        f = self.filters.get(track_id)
        if f is None:
            f = self.filters[track_id] = OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff)
        return f(pts, t, scale)

    def keep(self, track_ids) -> None:
        """Forget every track not in `track_ids`."""
        keep = set(track_ids)
        self.filters = {k: v for k, v in self.filters.items() if k in keep}

    def reset(self) -> None:
        self.filters.clear()
