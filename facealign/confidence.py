"""Do the point confidences mean something? What `facealign eval --confidence` measures.

On faces with ground-truth points, cropped from their ground-truth point boxes (the study's protocol):
  - ranking: Spearman's rank correlation between each point's confidence (Landmarks.point_scores,
    the last stage's) and its error (distance to the truth / the face's outer-eye-corner distance),
    over every point of every face; clearly negative when low confidence marks bad points;
  - the LOW_FRACTION (10 %) least confident points' mean error against the other points';
  - occlusion: the same faces with a mid-grey rectangle painted over one region (the mouth, then
    the right eye: the box of its true points, grown by MARGIN of the eye distance each side) on
    the picture before cropping. The points whose true place the rectangle covers should lose
    confidence; the others should keep theirs.
Spearman's correlation is computed here in numpy (ranks with ties averaged), not with scipy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .data import FaceSet
from .transform import points_box

LOW_FRACTION = 0.10  # the least confident share of points compared with the rest
MARGIN = 0.10  # occluder: grown by this fraction of the outer-eye-corner distance on each side
GREY = (128, 128, 128)  # BGR, the occluder's colour
OCCLUDERS = {"mouth": ("outer_lip", "inner_lip"), "right eye": ("right_eye",)}  # name -> scheme regions
QUANTILES = (0.01, 0.05, 0.10, 0.25, 0.50)  # of the point scores on the clean faces, reported
BOOTSTRAP = 200  # resamples of the faces for the Spearman correlation's 95 % interval (seed 0)


def rankdata(values) -> np.ndarray:
    """1-based ranks of a 1-D array, tied values sharing the mean of their ranks (as scipy's default)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), np.float64)
    ranks[order] = np.arange(1, len(a) + 1)
    _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def spearman(x, y) -> float:
    """Spearman's rank correlation of two equally long 1-D arrays (NaN when either is constant)."""
    rx, ry = rankdata(x), rankdata(y)
    if len(rx) != len(ry):
        raise ValueError(f"spearman needs two arrays of one length, got {len(rx)} and {len(ry)}")
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def spearman_interval(scores: np.ndarray, errors: np.ndarray, reps: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of spearman() over (N, K) scores and errors, resampling whole faces
    (a face's points are not independent of each other)."""
    rng = np.random.default_rng(seed)
    n = len(scores)
    rhos = [spearman(scores[i].ravel(), errors[i].ravel()) for i in (rng.integers(0, n, n) for _ in range(reps))]
    lo, hi = np.quantile(rhos, [0.025, 0.975])
    return float(lo), float(hi)


def point_errors(pred: np.ndarray, gt: np.ndarray, scheme) -> np.ndarray:
    """(N, K, 2) predictions and truth -> (N, K) distances / each face's normalising distance."""
    gt = np.asarray(gt, np.float64)
    return np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1) / scheme.normaliser(gt)[:, None]


def occluder_box(gt: np.ndarray, region_idx, scheme, margin: float = MARGIN) -> np.ndarray:
    """(4,) xyxy rectangle over the true points `region_idx` of one face (K, 2), grown by `margin` x its
    normalising distance on each side."""
    pad = margin * float(scheme.normaliser(np.asarray(gt, np.float64)))
    box = points_box(np.asarray(gt)[list(region_idx)]).astype(np.float64)
    return box + np.array([-pad, -pad, pad, pad])


def occlude(image: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
    """A copy of the BGR picture with a filled GREY rectangle over `box_xyxy` (pixel centres inside it)."""
    out = image.copy()
    x0, y0 = np.ceil(box_xyxy[:2]).astype(int)
    x1, y1 = np.floor(box_xyxy[2:]).astype(int)
    cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), GREY, -1)
    return out


def inside(pts: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
    """(K,) bool: which (K, 2) points lie inside the rectangle."""
    return ((pts[:, 0] >= box_xyxy[0]) & (pts[:, 0] <= box_xyxy[2])
            & (pts[:, 1] >= box_xyxy[1]) & (pts[:, 1] <= box_xyxy[3]))


def region_indices(scheme, names) -> list[int]:
    """The point indices of the scheme's named regions; ValueError when it lacks one."""
    regions = {name: idx for name, idx, _ in scheme.regions}
    missing = [n for n in names if n not in regions]
    if missing:
        raise ValueError(f"scheme {scheme.name!r} has no region {', '.join(missing)} to occlude")
    return sorted(i for n in names for i in regions[n])


def predict_scored(model, images, boxes, flip: bool = False, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The cascade on pictures with their point boxes -> ((N, K, 2) last-stage frame points, (N, K) scores)."""
    pts, scores = [], []
    for s in range(0, len(images), batch):
        out = model(images[s:s + batch], boxes[s:s + batch], flip=flip)
        if out.scores is None:
            raise ValueError("these weights give no point scores (their last stage's head has none: only "
                             "scoring heads such as pip do); evaluate weights with a PIP last stage")
        pts.append(out[-1])
        scores.append(out.scores)
    return np.concatenate(pts), np.concatenate(scores)


@dataclass(frozen=True)
class Occlusion:
    """One occluder over every face: mean confidence (and normalised error, %) of the covered points
    (true place inside the rectangle) and of the others, without and with the rectangle."""

    region: str
    covered_points: int  # over all faces
    covered_before: float
    covered_after: float
    uncovered_before: float
    uncovered_after: float
    covered_error_before: float
    covered_error_after: float
    covered_low_before: float  # % of the covered points below the low threshold, without the rectangle
    covered_low_after: float  # ... and with it


@dataclass(frozen=True)
class ConfidenceResult:
    """The figures of one face set (errors in % of the outer-eye-corner distance)."""

    faces: int
    points: int
    spearman: float
    spearman_95: tuple[float, float]  # bootstrap interval over faces
    low_threshold: float  # the score below which the LOW_FRACTION least confident points lie
    error_low: float  # mean error of those points
    error_rest: float  # mean error of the others
    score_quantiles: dict
    occlusions: tuple[Occlusion, ...]

    def to_json(self) -> dict:
        d = asdict(self)
        d["occlusions"] = [asdict(o) for o in self.occlusions]
        d["spearman_95"] = list(self.spearman_95)
        d["low_fraction"] = LOW_FRACTION
        return _rounded(d)


def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


def ranking(scores: np.ndarray, errors: np.ndarray) -> tuple[float, float, float, float]:
    """(N, K) scores and errors -> (Spearman, low threshold, mean error % of the LOW_FRACTION least
    confident points, of the rest). Ties at the threshold go to the rest."""
    s, e = scores.ravel(), errors.ravel()
    threshold = float(np.quantile(s, LOW_FRACTION))
    low = s < threshold
    if not low.any():  # many ties at the bottom (scores clipped at 0): take those at the threshold
        low = s <= threshold
    return spearman(s, e), threshold, float(e[low].mean() * 100), float(e[~low].mean() * 100)


def occlusion_test(model, faces: FaceSet, name: str, clean: tuple, threshold: float, flip: bool = False) -> Occlusion:
    """One occluder over every face of `faces`; clean: (points, scores, errors) of the faces as they are."""
    scheme, gt = faces.scheme, faces.points()
    idx = region_indices(scheme, OCCLUDERS[name])
    boxes_occ = [occluder_box(g, idx, scheme) for g in gt]
    images = [occlude(faces.image(i), b) for i, b in enumerate(boxes_occ)]
    boxes = np.stack([points_box(g) for g in gt])
    pts, scores = predict_scored(model, images, boxes, flip)
    errors = point_errors(pts, gt, scheme)
    covered = np.stack([inside(g, b) for g, b in zip(gt, boxes_occ)])
    _, s0, e0 = clean
    return Occlusion(name, int(covered.sum()), float(s0[covered].mean()), float(scores[covered].mean()),
                     float(s0[~covered].mean()), float(scores[~covered].mean()),
                     float(e0[covered].mean() * 100), float(errors[covered].mean() * 100),
                     float((s0[covered] < threshold).mean() * 100), float((scores[covered] < threshold).mean() * 100))


def evaluate_confidence(model, faces: FaceSet, flip: bool = False, threshold: float | None = None) -> ConfidenceResult:
    """All the figures on `faces` (ground-truth boxes). threshold: the score below which a covered point
    counts as low (default: the drawing's default, draw.LOW_SCORE)."""
    from .draw import LOW_SCORE

    if model.scheme != faces.scheme:
        raise ValueError(f"the weights predict the {model.scheme.name!r} points, the faces have {faces.scheme.name!r}")
    gt = faces.points()
    boxes = np.stack([points_box(g) for g in gt])
    pts, scores = predict_scored(model, [faces.image(i) for i in range(len(faces))], boxes, flip)
    errors = point_errors(pts, gt, faces.scheme)
    rho, low_threshold, err_low, err_rest = ranking(scores, errors)
    quantiles = {f"{q:g}": float(np.quantile(scores, q)) for q in QUANTILES}
    low = LOW_SCORE if threshold is None else threshold
    occlusions = tuple(occlusion_test(model, faces, name, (pts, scores, errors), low, flip) for name in OCCLUDERS)
    return ConfidenceResult(len(faces), int(scores.size), rho, spearman_interval(scores, errors), low_threshold,
                            err_low, err_rest, quantiles, occlusions)


def report_lines(name: str, res: ConfidenceResult) -> list[str]:
    """The figures as printed lines."""
    q = ", ".join(f"{k}: {v:.3f}" for k, v in res.score_quantiles.items())
    lines = [f"{name}: {res.faces} faces, {res.points} points",
             f"  Spearman rank correlation, point confidence vs point error: {res.spearman:+.3f} "
             f"(95 % over faces: {res.spearman_95[0]:+.3f} .. {res.spearman_95[1]:+.3f})",
             f"  mean error of the {LOW_FRACTION:.0%} least confident points (score < {res.low_threshold:.3f}): "
             f"{res.error_low:.2f} %; of the other {1 - LOW_FRACTION:.0%}: {res.error_rest:.2f} %",
             f"  point score quantiles: {q}"]
    for o in res.occlusions:
        lines.append(f"  grey rectangle over the {o.region} ({o.covered_points} covered points): covered "
                     f"{o.covered_before:.3f} -> {o.covered_after:.3f}, uncovered {o.uncovered_before:.3f} -> "
                     f"{o.uncovered_after:.3f}; covered error {o.covered_error_before:.2f} -> "
                     f"{o.covered_error_after:.2f} %; covered below the drawing's threshold "
                     f"{o.covered_low_before:.1f} -> {o.covered_low_after:.1f} %")
    return lines
