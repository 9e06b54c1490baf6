"""Drawing 68 points, their contours, the face box and head-pose axes on BGR frames.

Everything takes and returns BGR uint8 frames in pixel coordinates (0-based
pixel centres) and draws on a copy. Contours (the face's scheme's connections) go first,
points over them, as in MediaPipe. Unless a DrawingSpec fixes them, point radius and
line thickness grow with the picture (2 px and 1 px per REFERENCE_SIDE pixels of its
long side, so an 8000 px picture shown at screen size still shows its points), capped
by the face's size (so the points of a small face in a big picture stay apart).
A point whose confidence (Landmarks.point_scores) is below DrawingSpec.low_score is drawn as a
ring in low_color instead of a filled dot, so the points not to trust stand out.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .schemes import MULTIPIE_68


LOW_SCORE = 0.45  # the default DrawingSpec.low_score: about the 10th percentile of accurate's point scores on clean faces


@dataclass(frozen=True)
class DrawingSpec:
    color: tuple[int, int, int] = (0, 255, 0)  # BGR, points
    line_color: tuple[int, int, int] = (255, 200, 0)  # BGR, contours
    radius: int | None = None  # points; 0 draws single pixels; None: scaled (see scaled_sizes)
    thickness: int | None = None  # contours and box; None: scaled
    points: bool = True
    contours: bool = True
    box: bool = False
    pose_axes: bool = False
    box_color: tuple[int, int, int] = (0, 0, 255)  # BGR
    antialias: bool = True  # cv2.LINE_AA; False draws 8-connected, pixel-exact shapes
    axis_length: float = 0.8  # pose axes, in inter-ocular distances
    # points scoring below this (Landmarks.point_scores) are drawn as rings in low_color; 0 draws every
    # point alike. LOW_SCORE: see weights/README.md, "Point confidences", for how it was chosen
    low_score: float = LOW_SCORE
    low_color: tuple[int, int, int] = (0, 140, 255)  # BGR, orange

    def __post_init__(self):
        if not 0.0 <= self.low_score <= 1.0:
            raise ValueError(f"DrawingSpec.low_score is a point score threshold in [0, 1] (0: off), got {self.low_score}")

    @property
    def line_type(self) -> int:
        return cv2.LINE_AA if self.antialias else cv2.LINE_8


REFERENCE_SIDE = 1000.0  # px of a picture's long side drawn with the base sizes
BASE_RADIUS, BASE_THICKNESS = 2, 1
FACE_PER_RADIUS, FACE_PER_THICKNESS = 40.0, 80.0  # caps: face width / these


def scaled_sizes(frame_shape, pts: np.ndarray) -> tuple[int, int]:
    """(point radius, line thickness) for a face with (68, 2) `pts` in a frame of `frame_shape`:
    the base sizes times long side / REFERENCE_SIDE, at most face width / FACE_PER_*, never
    below the base sizes."""
    k = max(frame_shape[:2]) / REFERENCE_SIDE
    ok = np.isfinite(pts).all(axis=1)
    width = float(np.ptp(pts[ok, 0])) if ok.any() else 0.0
    radius = max(BASE_RADIUS, min(round(BASE_RADIUS * k), round(width / FACE_PER_RADIUS)))
    thickness = max(BASE_THICKNESS, min(round(BASE_THICKNESS * k), round(width / FACE_PER_THICKNESS)))
    return radius, thickness


# x (the subject's left), up, forward (out of the face) in BGR: red, green, blue
AXIS_COLORS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))


def _pt(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _finite(p) -> bool:
    return bool(np.isfinite(p).all())


def draw_points(image: np.ndarray, pts: np.ndarray, color=(0, 255, 0), radius: int = 2) -> np.ndarray:
    """Copy of `image` with (68, 2) points drawn as filled circles (pixel centres, anti-aliased)."""
    out = image.copy()
    for x, y in np.asarray(pts, dtype=np.float32):
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)
    return out


def _pixels(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) float points -> (int32 rounded pixels, finite mask): rounded once for every shape."""
    ok = np.isfinite(pts).all(axis=1)
    return np.rint(np.where(ok[:, None], pts, 0)).astype(np.int32), ok


def _contours(img: np.ndarray, px: np.ndarray, ok: np.ndarray, spec: DrawingSpec, thickness: int,
              segments: np.ndarray) -> None:
    seg = segments[ok[segments].all(axis=1)]
    if len(seg):  # every segment in one call
        cv2.polylines(img, list(px[seg]), False, spec.line_color, thickness, spec.line_type)


def low_points(scores, n: int, threshold: float) -> np.ndarray:
    """(n,) bool: the points scoring below `threshold` (none when there are no scores or threshold is 0)."""
    if scores is None or not threshold:
        return np.zeros(n, bool)
    return np.asarray(scores, np.float32).reshape(n) < threshold


def _points(img: np.ndarray, px: np.ndarray, ok: np.ndarray, spec: DrawingSpec, radius: int,
            low: np.ndarray) -> None:
    """Filled dots in spec.color; the `low` ones as rings in spec.low_color."""
    ring = max(1, radius // 2)
    for (x, y), weak in zip(px[ok].tolist(), low[ok].tolist()):
        if weak:
            cv2.circle(img, (x, y), radius, spec.low_color, ring, spec.line_type)
        else:
            cv2.circle(img, (x, y), radius, spec.color, -1, spec.line_type)


def _axes(img: np.ndarray, pts: np.ndarray, pose, spec: DrawingSpec, thickness: int, scheme) -> None:
    """Pose axes from the scheme's centre (the nose tip), drawn orthographically (length =
    axis_length * the scheme's normalising distance, the outer eye corners')."""
    from .pose import rotation_from_euler

    origin = scheme.centre_of(pts).astype(np.float64)
    if not (_finite(np.asarray(pose)) and _finite(origin)):
        return
    r = rotation_from_euler(*pose)
    length = spec.axis_length * float(scheme.normaliser(pts))
    for axis, sign, color in zip(range(3), (1, -1, -1), AXIS_COLORS):
        end = origin + sign * length * r[:2, axis]
        cv2.line(img, _pt(origin), _pt(end), color, max(thickness, 2), spec.line_type)


def draw_landmarks(frame: np.ndarray, faces, style: DrawingSpec | None = None) -> np.ndarray:
    """Copy of the (H, W, 3) uint8 BGR `frame` with each face drawn.

    faces: a list of Landmarks (anything with .points (K, 2) frame pixels, .box_xyxy (4,),
    .pose (yaw, pitch, roll) degrees and, optionally, .scheme: the 68-point one if absent, and
    .point_scores (K,): points below style.low_score drawn as rings). style: a DrawingSpec
    (default DrawingSpec()). Contours first, points over them, then the box and
    the pose axes if the style asks for them.
    """
    spec = style or DrawingSpec()
    out = np.ascontiguousarray(frame).copy()
    for face in faces:
        pts = np.asarray(face.points, dtype=np.float32).reshape(-1, 2)
        scheme = getattr(face, "scheme", MULTIPIE_68)
        px, ok = _pixels(pts)
        radius, thickness = scaled_sizes(out.shape, pts)
        radius = radius if spec.radius is None else spec.radius
        thickness = thickness if spec.thickness is None else spec.thickness
        if spec.contours:
            _contours(out, px, ok, spec, thickness, scheme.segments)
        if spec.points:
            _points(out, px, ok, spec, radius, low_points(getattr(face, "point_scores", None), len(pts), spec.low_score))
        if spec.box and _finite(np.asarray(face.box_xyxy)):
            b = np.asarray(face.box_xyxy)
            cv2.rectangle(out, _pt(b[:2]), _pt(b[2:]), spec.box_color, thickness, spec.line_type)
        if spec.pose_axes:
            _axes(out, pts, face.pose, spec, thickness, scheme)
    return out
