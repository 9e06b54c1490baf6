"""The detector interface: a frame in, face boxes out, plus each detector's box calibration.

Every detector draws its box differently (forehead or not, chin or not). The
cascade's first stage expects the tight box of the 68 points, so each detector
carries a `BoxMap` measured once on 300-W (`facealign calibrate`) that turns its
box into an estimate of that point box.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, eq=False)
class FaceBox:
    """One detected face, all in frame pixels (0-based pixel centres).

    box_xyxy: (4,) float32 (x0, y0, x1, y1) as the detector drew it (not yet calibrated);
    score: detector confidence in [0, 1];
    keypoints: (K, 2) float32 or None (MediaPipe: K=6, the subject's right eye, left eye,
    nose tip, mouth centre, right ear tragion, left ear tragion).
    """

    box_xyxy: np.ndarray
    score: float
    keypoints: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "box_xyxy", np.asarray(self.box_xyxy, dtype=np.float32).reshape(4))
        object.__setattr__(self, "score", float(self.score))
        if self.keypoints is not None:
            object.__setattr__(self, "keypoints", np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 2))


@dataclass(frozen=True)
class BoxMap:
    """Detector box -> box of the 68 points, as measured on 300-W.

    With the detector box's centre (cx, cy) and size (w, h):
    point box centre = (cx + dx * w, cy + dy * h), point box size = (sx * w, sy * h).
    """

    dx: float = 0.0
    dy: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def __call__(self, box_xyxy) -> np.ndarray:
        """(4,) or (N, 4) detector boxes -> point boxes of the same shape, float32 frame pixels."""
        b = np.asarray(box_xyxy, dtype=np.float64)
        cx, cy, w, h = _center_size(b)
        cx, cy = cx + self.dx * w, cy + self.dy * h
        w, h = self.sx * w, self.sy * h
        out = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
        return out.astype(np.float32)

    def inverse(self, point_box_xyxy) -> np.ndarray:
        """(4,) or (N, 4) point boxes -> the detector boxes this map turns into them."""
        b = np.asarray(point_box_xyxy, dtype=np.float64)
        cx, cy, w, h = _center_size(b)
        w, h = w / self.sx, h / self.sy
        cx, cy = cx - self.dx * w, cy - self.dy * h
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).astype(np.float32)

    @staticmethod
    def fit(det_boxes: np.ndarray, point_boxes: np.ndarray) -> "BoxMap":
        """Robust (median) fit from (N, 4) detector boxes to the (N, 4) matching point boxes."""
        r = box_residuals(det_boxes, point_boxes)
        med = np.median(r, axis=0)
        return BoxMap(float(med[0]), float(med[1]), float(np.exp(med[2])), float(np.exp(med[3])))


def box_residuals(det_boxes: np.ndarray, point_boxes: np.ndarray) -> np.ndarray:
    """(N, 4) per-face (dx, dy, log sx, log sy) that would map each detector box exactly."""
    dcx, dcy, dw, dh = _center_size(np.asarray(det_boxes, dtype=np.float64))
    pcx, pcy, pw, ph = _center_size(np.asarray(point_boxes, dtype=np.float64))
    return np.stack([(pcx - dcx) / dw, (pcy - dcy) / dh, np.log(pw / dw), np.log(ph / dh)], axis=-1)


def _center_size(b: np.ndarray):
    return (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]


def iou(a, b) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@runtime_checkable
class Detector(Protocol):
    """What the pipeline needs from a face detector (see also Confirms, which a detector may add)."""

    box_map: BoxMap  # detector box -> 68-point box

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        """(H, W, 3) uint8 BGR frame -> faces, best score first (empty list when none)."""
        ...

    def close(self) -> None:
        """Free the detector's resources; it is not used afterwards."""
        ...


@runtime_checkable
class Confirms(Protocol):
    """A detector that can also check cheaply that a tracked face is still there.

    The video pipeline calls confirm() every `confirm_every` frames for every track of a
    detector that has it; one without it relies on detect() every `redetect_every` frames
    to drop faces that have gone.
    """

    def confirm(self, frame_bgr: np.ndarray, point_box_xyxy) -> float | None:
        """(H, W, 3) uint8 BGR frame and a tracked face's (4,) 68-point box, frame pixels ->
        the detector's score for a face there, or None when there is none."""
        ...
