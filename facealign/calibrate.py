"""Measure a detector's boxes against the 68-point boxes.

The cascade's first stage crops around the tight box of the 68 points. A
detector draws its own kind of box, so we run it on the 300-W training faces,
match each ground-truth face to the detection that overlaps it most, and fit
(median, so a few odd boxes do not move it) the centre offset and the scale that
turn a detector box into a point box. The residual spread says how well a
detector box predicts the point box (the stage-1 training jitter should cover it).
`facealign calibrate` runs it on MediaPipe.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from .detectors.base import BoxMap, Detector, box_residuals, iou
from .transform import points_box

log = logging.getLogger(__name__)


@dataclass
class Calibration:
    detector: str
    box_map: BoxMap
    faces: int  # ground-truth faces tried
    detected: int  # of those, matched to a detection
    spread: dict = field(default_factory=dict)  # residual statistics after the fit
    iou_raw: float = float("nan")  # median IoU of the detector box with the point box
    iou_mapped: float = float("nan")  # the same after the box map
    scores: dict = field(default_factory=dict)  # percentiles of the matched detections' scores

    @property
    def rate(self) -> float:
        return self.detected / self.faces if self.faces else float("nan")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rate"] = self.rate
        return d


def match(det_boxes: np.ndarray, gt_box: np.ndarray, min_iou: float) -> int | None:
    """Index of the (K, 4) detection overlapping `gt_box` most, or None below `min_iou`."""
    if len(det_boxes) == 0:
        return None
    overlaps = iou(gt_box, det_boxes)[0]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= min_iou else None


def collect(faceset, detector: Detector, min_iou: float = 0.25, limit: int | None = None):
    """Run the detector on each face picture -> ((M, 4) detector boxes, (M, 4) point boxes,
    (M,) scores, faces tried)."""
    n = len(faceset) if limit is None else min(limit, len(faceset))
    det_boxes, pt_boxes, scores = [], [], []
    for i in range(n):
        gt = points_box(faceset[i].pts)
        faces = detector.detect(faceset.image(i))
        j = match(np.array([f.box_xyxy for f in faces]).reshape(-1, 4), gt, min_iou)
        if j is not None:
            det_boxes.append(faces[j].box_xyxy)
            pt_boxes.append(gt)
            scores.append(faces[j].score)
        if (i + 1) % 250 == 0:
            log.info("%d / %d faces, %d detected", i + 1, n, len(det_boxes))
    return np.array(det_boxes).reshape(-1, 4), np.array(pt_boxes).reshape(-1, 4), np.array(scores), n


def spread(det_boxes: np.ndarray, pt_boxes: np.ndarray, box_map: BoxMap) -> dict:
    """Residuals of the mapped boxes: robust std (1.4826 MAD) and 5-95 % range of each of
    dx, dy (fractions of the detector box) and the log scale ratios (about fractions, too)."""
    r = box_residuals(box_map(det_boxes), pt_boxes)
    out = {}
    for k, name in enumerate(("dx", "dy", "log_sx", "log_sy")):
        v = r[:, k]
        out[name] = {"robust_std": float(1.4826 * np.median(np.abs(v - np.median(v)))),
                     "p05": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}
    return out


def calibrate(faceset, detector: Detector, name: str, min_iou: float = 0.25, limit: int | None = None) -> Calibration:
    """Fit the detector's BoxMap on `faceset` (a FaceSet) and measure what is left."""
    det_boxes, pt_boxes, scores, n = collect(faceset, detector, min_iou, limit)
    if len(det_boxes) < 2:
        raise RuntimeError(f"{name}: only {len(det_boxes)} of {n} faces detected; cannot calibrate")
    box_map = BoxMap.fit(det_boxes, pt_boxes)
    raw = np.diag(iou(det_boxes, pt_boxes))
    mapped = np.diag(iou(box_map(det_boxes), pt_boxes))
    pct = {f"p{q:02d}": float(np.percentile(scores, q)) for q in (1, 5, 50)}
    return Calibration(name, box_map, n, len(det_boxes), spread(det_boxes, pt_boxes, box_map),
                       float(np.median(raw)), float(np.median(mapped)), pct)


def report(c: Calibration) -> str:
    m = c.box_map
    lines = [f"detector: {c.detector}",
             f"detected: {c.detected} / {c.faces} faces ({100 * c.rate:.1f} %)",
             f"box map:  dx={m.dx:+.4f} dy={m.dy:+.4f} sx={m.sx:.4f} sy={m.sy:.4f}",
             f"median IoU with the point box: raw {c.iou_raw:.3f}, mapped {c.iou_mapped:.3f}",
             "scores of the matched detections: " + ", ".join(f"{k} {v:.3f}" for k, v in c.scores.items()),
             "residual spread after the map (robust std, 5-95 %):"]
    for name, s in c.spread.items():
        lines.append(f"  {name:7s} {s['robust_std']:.4f}   [{s['p05']:+.4f}, {s['p95']:+.4f}]")
    return "\n".join(lines)
