"""Calibration data for the INT8 copy of a cascade (formats/onnx_int8.py), made as the pipeline makes its inputs.

Stage 1 sees crops around the ground-truth point boxes of 300-W training faces (the box the
detector's calibrated box stands in for); every later stage sees the crops placed by the previous
stage's predicted points, from the float32 model itself, as in `run_cascade`. The faces are spread
evenly over the training split (never the test subsets the NME is measured on).

    int8 = quantize(read_onnx("weights/fast.onnx").model, load_split("train"))   # an onnx.ModelProto
    check(float_model, int8_model, load_split("train"))   # NME of both on other training faces

`facealign export weights/fast.onnx --format onnx --int8` runs both and writes weights/fast.int8.onnx.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import FaceSet
from .formats.onnx_cascade import io_names
from .formats.onnx_int8 import to_int8
from .models.cascade import stage_input
from .transform import points_box

log = logging.getLogger(__name__)

CALIBRATION_FACES = 256
CHECK_FACES = 64
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


def _load(model, tmp: Path):
    """A CascadeModel (onnxruntime) of an onnx.ModelProto, through a file in `tmp`."""
    from .backends import load_backend

    import onnx

    path = tmp / f"model{len(list(tmp.iterdir()))}.onnx"
    onnx.save(model, str(path))
    return load_backend(path, "onnxruntime", device="cpu")


def quantize(model, faces: FaceSet, count: int = CALIBRATION_FACES, method: str = "minmax", head_float: bool = False):
    """A float32 facealign cascade (onnx.ModelProto) -> its INT8 copy, calibrated on `count` of `faces`
    (formats/onnx_int8.to_int8; head_float: the heads' convolutions stay float32)."""
    with tempfile.TemporaryDirectory() as tmp:
        feeds = calibration_feeds(_load(model, Path(tmp)), faces, count)
    return to_int8(model, feeds, method, head_float=head_float)


@dataclass(frozen=True)
class Check:
    """The float32 and INT8 cascades on faces the calibration did not use: NME % of each (last stage)
    and the largest distance between their points (frame pixels)."""

    faces: int
    nme_float: float
    nme_int8: float
    max_px: float


def check(float_model, int8_model, faces: FaceSet, count: int = CHECK_FACES) -> Check:
    """Both models (onnx.ModelProto) on `count` faces half-way between the calibration's picks."""
    from .evaluate import predict_faceset
    from .metrics import nme

    sub = faces.subset(spread(len(faces), count, offset=0.5))
    with tempfile.TemporaryDirectory() as tmp:
        ref, got = (predict_faceset(_load(m, Path(tmp)), sub)[-1] for m in (float_model, int8_model))
    gt = sub.points()
    return Check(len(sub), float(nme(ref, gt, scheme=sub.scheme).mean() * 100),
                 float(nme(got, gt, scheme=sub.scheme).mean() * 100), float(np.linalg.norm(got - ref, axis=-1).max()))
