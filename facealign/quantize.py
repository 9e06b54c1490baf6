"""Calibration data for the INT8 copy of a cascade (formats/onnx_int8.py), made as the pipeline makes its inputs.

Stage 1 sees crops around the ground-truth point boxes of 300-W training faces (the box the
detector's calibrated box stands in for); every later stage sees the crops placed by the previous
stage's predicted points, from the float32 model itself, as in `run_cascade`. The faces are spread
evenly over the training split (never the test subsets the NME is measured on).

    feeds = calibration_feeds("weights/fast.onnx", load_split("train"), faces=256)
    int8 = to_int8(read_onnx("weights/fast.onnx").model, feeds)
"""
from __future__ import annotations

import logging

import numpy as np

from .data import FaceSet
from .formats.onnx_cascade import io_names
from .models.cascade import stage_input
from .transform import points_box

log = logging.getLogger(__name__)

CALIBRATION_FACES = 256
BATCH = 32


def spread(n_total: int, n: int, offset: float = 0.0) -> np.ndarray:
    """n indices spread evenly over range(n_total) (all of them when n >= n_total); offset in [0, 1)
    shifts the picks by that fraction of their spacing (offset 0.5: the faces between them)."""
    if n >= n_total:
        return np.arange(n_total)
    step = n_total / n
    return np.minimum((np.arange(n) + offset) * step, n_total - 1).astype(int)


def calibration_feeds(model, faces: FaceSet, count: int = CALIBRATION_FACES, batch: int = BATCH,
                      offset: float = 0.0) -> list[dict[str, np.ndarray]]:
    """Each stage's inputs for `count` faces of `faces`, `batch` at a time -> [{stage input name: (B, C, S, S)
    float32}], one dict per batch with every stage's input (the stages are independent subgraphs).

    model: the float32 CascadeModel (backends.load_backend), whose own predictions place the later
    stages' crops."""
    feeds = []
    picks = spread(len(faces), count, offset)
    for s in range(0, len(picks), batch):
        idx = picks[s:s + batch]
        frames = [faces.image(int(i)) for i in idx]
        boxes = np.stack([points_box(faces[int(i)].pts) for i in idx])
        points = model(frames, boxes)  # frame points after each stage
        feeds.append({io_names(k)[0]: stage_input(spec, frames, boxes, points[k - 1] if k else None,
                                                  scheme=model.scheme)[1]
                      for k, spec in enumerate(model.stages)})
    log.info("calibration: %d faces in %d batches", len(picks), len(feeds))
    return feeds
