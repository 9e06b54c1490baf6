"""What the pipeline returns: one frozen Landmarks per face."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .schemes import MULTIPIE_68, PointScheme

_NAN3 = (float("nan"),) * 3


@dataclass(frozen=True, eq=False)
class Landmarks:
    """One face in one frame; every coordinate in frame pixels (0-based pixel centres).

    points: (K, 2) float32 in the order of `scheme` (the 68-point Multi-PIE one by default);
    score: confidence in [0, 1] of the detection that found (or last confirmed) the face;
    box_xyxy: (4,) float32 tight box (x0, y0, x1, y1) of `points`;
    track_id: the same int for the same face across video frames; None in picture mode;
    pose: (yaw, pitch, roll) degrees (facealign.pose for the conventions), NaN if unsolvable.
      Given, or solved from the points on first access when frame_size (width, height) is
      known (the pipeline passes it), so a caller that never reads it never pays for it.
    point_scores: (K,) float32 in [0, 1], the network's confidence in each point (how well the
      cascade's last PIP stage's estimates of it agree: models/heads/pip.py); None when the weights' last stage
      has no scores (a regression or heatmap head): there is then no confidence, not a made-up one.
    landmark_score: the face's mean point score (None without point scores); `score` is the
      detector's, this one the landmark network's.
    """

    points: np.ndarray
    score: float
    box_xyxy: np.ndarray
    track_id: int | None = None
    given_pose: tuple[float, float, float] | None = field(default=None, repr=False)
    frame_size: tuple[int, int] | None = field(default=None, repr=False)
    scheme: PointScheme = field(default=MULTIPIE_68, repr=False)
    point_scores: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "points", self.scheme.check(self.points))
        object.__setattr__(self, "point_scores", check_point_scores(self.point_scores, self.scheme.num_points))
        object.__setattr__(self, "box_xyxy", np.asarray(self.box_xyxy, dtype=np.float32).reshape(4))
        object.__setattr__(self, "score", float(self.score))
        if self.given_pose is not None:
            object.__setattr__(self, "given_pose", tuple(float(v) for v in self.given_pose))

    @property
    def landmark_score(self) -> float | None:
        """The mean of point_scores, in [0, 1]; None when there are none."""
        return None if self.point_scores is None else float(self.point_scores.mean())

    @property
    def pose(self) -> tuple[float, float, float]:
        if self.given_pose is None:
            pose = _NAN3
            if self.frame_size is not None:
                from .pose import head_pose

                pose = tuple(float(v) for v in head_pose(self.points, self.frame_size, self.scheme))
            object.__setattr__(self, "given_pose", pose)  # solved once
        return self.given_pose

    def plot(self, frame: np.ndarray, style=None) -> np.ndarray:
        """Copy of the BGR `frame` with this face drawn (see draw.draw_landmarks)."""
        from .draw import draw_landmarks

        return draw_landmarks(frame, [self], style)

    def to_dict(self, scale: float = 1.0) -> dict:
        """JSON-ready: plain lists and floats, coordinates rounded to 0.01 pixel, an unsolved pose as
        nulls, point scores rounded to 1e-4 (null without them). scale: the frame's size over the
        input's (a downscaled frame): coordinates are divided by it, so they are in the input's
        pixels. The one face record (README, "JSON schema")."""
        pts = np.asarray(self.points, np.float64) / scale  # float64: no float32 digits (187.9499969)
        box = np.asarray(self.box_xyxy, np.float64) / scale
        scores = None if self.point_scores is None else np.round(self.point_scores.astype(np.float64), 4).tolist()
        return {"points": np.round(pts, 2).tolist(), "score": round(self.score, 4), "point_scores": scores,
                "box_xyxy": np.round(box, 2).tolist(), "track_id": self.track_id,
                "pose": {k: (None if np.isnan(v) else round(float(v), 2))
                         for k, v in zip(("yaw", "pitch", "roll"), self.pose)}}


def check_point_scores(scores, k: int) -> np.ndarray | None:
    """None, or (k,) numbers in [0, 1] -> a float32 array; ValueError saying what is wrong otherwise."""
    if scores is None:
        return None
    arr = np.asarray(scores, dtype=np.float32)
    if arr.shape != (k,):
        raise ValueError(f"point_scores must have shape ({k},), one per point, got {arr.shape}")
    lo, hi = arr.min(), arr.max()
    if not (lo >= 0.0 and hi <= 1.0):  # (also refuses NaN, which min and max carry, and inf)
        raise ValueError(f"point_scores must be in [0, 1], got values from {lo} to {hi}")
    return arr
