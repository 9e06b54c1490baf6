"""NME, failure rate, CED and its AUC (pure numpy).

NME is the mean point-to-point error divided by the distance of the scheme's normalising
pair in the ground truth: the outer eye corners (points 36 and 45) of the 68-point scheme,
ours and 300-W's. Two other conventions, to line up figures reported under them (`norm=`):
"pupils", the distance between the eye centres (the means of the scheme's right_eye and
left_eye regions: points 36-41 and 42-47), and "box", the square root of the ground-truth
point box's area (sqrt(w * h)). Functions take and return fractions
(0.05 = 5 %); `summarize` returns percentages for reporting.
"""
from __future__ import annotations

import numpy as np

from .schemes import MULTIPIE_68, PointScheme

FAILURE_THRESHOLD = 0.08
NORMALISATIONS = ("outer_eyes", "pupils", "box")  # the first is ours


def normaliser(gt: np.ndarray, norm: str = "outer_eyes", scheme: PointScheme = MULTIPIE_68) -> np.ndarray:
    """The distance that divides each face's error, from (N, K, 2) ground truth -> (N,), in its pixels."""
    gt = np.asarray(gt, dtype=np.float64)
    if norm == "outer_eyes":
        return scheme.normaliser(gt)
    if norm == "pupils":
        eyes = {name: list(idx) for name, idx, _ in scheme.regions if name in ("right_eye", "left_eye")}
        if len(eyes) < 2:
            raise ValueError(f"norm='pupils' needs right_eye and left_eye regions; scheme {scheme.name!r} has none")
        return np.linalg.norm(gt[:, eyes["right_eye"]].mean(axis=1) - gt[:, eyes["left_eye"]].mean(axis=1), axis=-1)
    if norm == "box":
        w, h = (gt.max(axis=1) - gt.min(axis=1)).T
        return np.sqrt(w * h)
    raise ValueError(f"unknown normalisation {norm!r}; choose from {', '.join(NORMALISATIONS)}")


def nme(pred: np.ndarray, gt: np.ndarray, norm: str = "outer_eyes", scheme: PointScheme = MULTIPIE_68) -> np.ndarray:
    """Per-face NME of (N, K, 2) predictions against (N, K, 2) ground truth -> (N,); norm: one of
    NORMALISATIONS ("outer_eyes": the scheme's normalising pair, by default)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"expected two (N, K, 2) arrays of one shape, got {pred.shape} and {gt.shape}")
    err = np.linalg.norm(pred - gt, axis=-1).mean(axis=-1)
    return err / normaliser(gt, norm, scheme)


def failure_rate(errors: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> float:
    """Fraction of faces whose NME exceeds `threshold`."""
    errors = np.asarray(errors, dtype=np.float64)
    return float((errors > threshold).mean()) if errors.size else float("nan")


def ced(errors: np.ndarray, threshold: float = FAILURE_THRESHOLD, steps: int = 1000):
    """Cumulative error distribution: (x, y) with x in [0, threshold], y = share of faces <= x."""
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    x = np.linspace(0.0, threshold, steps + 1)
    y = np.searchsorted(errors, x, side="right") / max(len(errors), 1)
    return x, y


def auc(errors: np.ndarray, threshold: float = FAILURE_THRESHOLD, steps: int = 1000) -> float:
    """Area under the CED up to `threshold`, normalised to [0, 1]."""
    x, y = ced(errors, threshold, steps)
    return float(np.trapz(y, x) / threshold)


def summarize(errors: np.ndarray) -> dict:
    """{"n", "nme", "fr", "auc"} with nme and fr in percent, auc as a fraction."""
    errors = np.asarray(errors, dtype=np.float64)
    return {
        "n": int(errors.size),
        "nme": float(errors.mean() * 100) if errors.size else float("nan"),
        "fr": failure_rate(errors) * 100,
        "auc": auc(errors),
    }
