"""CropTransform: the one place where frame and crop coordinates meet.

A crop is a 2x3 affine matrix M that maps frame pixel centres to crop pixel
centres (0-based): p_crop = M @ [x, y, 1]. `warp` cuts the crop out of a frame,
`to_crop` and `to_frame` move points across.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CropTransform:
    matrix: np.ndarray  # (2, 3) float64, frame pixels -> crop pixels
    size: int  # the crop is size x size

    @staticmethod
    def from_box(box_xyxy, size: int, scale: float = 1.0, shift=(0.0, 0.0), angle: float = 0.0) -> "CropTransform":
        """Square crop around a box.

        The crop's side is `scale * max(w, h)` frame pixels, centred on the box
        centre moved by `shift` (fractions of the side). `angle` (degrees,
        counter-clockwise in the picture) rotates the crop about its centre.
        """
        x0, y0, x1, y1 = (float(v) for v in box_xyxy)
        side = scale * max(x1 - x0, y1 - y0)
        if not side > 0:
            raise ValueError(f"box has no area: {box_xyxy}")
        cx = (x0 + x1) / 2 + shift[0] * side
        cy = (y0 + y1) / 2 + shift[1] * side
        return CropTransform.from_center(cx, cy, side, size, angle)

    @staticmethod
    def from_center(cx: float, cy: float, side: float, size: int, angle: float = 0.0) -> "CropTransform":
        k = size / side
        t = np.deg2rad(angle)
        c, s = np.cos(t) * k, np.sin(t) * k
        # rotate by -angle in image coordinates (y down) so the content turns counter-clockwise
        rot = np.array([[c, -s], [s, c]])
        mid = (size - 1) / 2.0
        offset = np.array([mid, mid]) - rot @ np.array([cx, cy])
        return CropTransform(np.hstack([rot, offset[:, None]]), int(size))

    @staticmethod
    def from_points(pts_frame: np.ndarray, template_crop, size: int) -> "CropTransform":
        """Similarity (rotation, uniform scale, shift; no reflection) that best maps
        `pts_frame` (K, 2) onto `template_crop` (K, 2 points, or their SimilarityTarget) in the
        least-squares sense."""
        target = template_crop if isinstance(template_crop, SimilarityTarget) else SimilarityTarget(template_crop)
        return CropTransform(target.fit(pts_frame), int(size))

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def then(self, matrix: np.ndarray) -> "CropTransform":
        """This crop followed by another 2x3 map of the crop (e.g. an augmentation)."""
        m = np.vstack([matrix, [0, 0, 1]]) @ np.vstack([self.matrix, [0, 0, 1]])
        return CropTransform(m[:2], self.size)

    def warp(self, frame: np.ndarray, border_value=0) -> np.ndarray:
        """Cut the (size, size[, C]) crop out of `frame` with bilinear sampling."""
        return cv2.warpAffine(
            frame, self.matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=border_value,
        )

    def to_crop(self, pts_frame: np.ndarray) -> np.ndarray:
        return apply(self.matrix, pts_frame)

    def to_frame(self, pts_crop: np.ndarray) -> np.ndarray:
        return apply(self.inverse, pts_crop)


def apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points; float32 out."""
    out = np.asarray(pts, dtype=np.float64) @ matrix[:, :2].T
    out += matrix[:, 2]
    return out.astype(np.float32)


class SimilarityTarget:
    """Fixed destination points of a least-squares similarity fit (a crop's template, a track's
    reference face), centred once: `fit(src)` is similarity(src, dst), bit for bit, without
    redoing dst's half of the work on every frame."""

    def __init__(self, dst: np.ndarray):
        dst = np.asarray(dst, dtype=np.float64)
        self.points = dst
        self.mean = dst.mean(0)
        self.centred = dst - self.mean
        self._flat, self._x, self._y = self.centred.ravel(), self.centred[:, 0], self.centred[:, 1]

    def fit(self, src: np.ndarray) -> np.ndarray:
        """Least-squares similarity (Umeyama, no reflection) mapping src (K, 2) -> these points, as 2x3."""
        src = np.asarray(src, dtype=np.float64)
        mu_s = np.add.reduce(src, 0) / len(src)  # src.mean(0), without its dispatch
        s = src - mu_s
        # complex-number form: d ~ a * s with a = (sum conj(s) d) / sum |s|^2, in real arithmetic
        flat = s.ravel()
        denom = float(flat @ flat)
        if denom <= 1e-12:
            raise ValueError("points are degenerate (all in one place): cannot fit a similarity")
        re = float(flat @ self._flat) / denom  # sum(sx dx + sy dy)
        im = float(s[:, 0] @ self._y - s[:, 1] @ self._x) / denom  # sum(sx dy - sy dx)
        rot = np.array([[re, -im], [im, re]])
        t = self.mean - rot @ mu_s
        return np.array([[re, -im, t[0]], [im, re, t[1]]])


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, no reflection) mapping src (K,2) -> dst (K,2) as 2x3."""
    return SimilarityTarget(dst).fit(src)


def points_box(pts: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) box around (K, 2) points."""
    pts = np.asarray(pts)
    return np.concatenate((pts.min(0), pts.max(0))).astype(np.float32, copy=False)
