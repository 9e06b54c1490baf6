"""Rank 0's look at the cascade so far: validation NME and a grid of predicted faces."""
from __future__ import annotations

import numpy as np
import torch

from facealign.backends.torch_backend import EagerRunner
from facealign.data import FaceSet
from facealign.metrics import nme
from facealign.models import StageSpec
from facealign.models.cascade import run_cascade
from facealign.transform import CropTransform, points_box


def runners(models: list[torch.nn.Module], device: torch.device) -> list[EagerRunner]:
    """numpy (N, 3, S, S) -> numpy ((N, K, 2), scores or None) callables for run_cascade, each model on `device`:
    the torch backend's own runner, so validation sees exactly what inference does."""
    return [EagerRunner(m, str(device)) for m in models]


def predict(stages: list[StageSpec], models, faces: FaceSet, device, indices) -> np.ndarray:
    """Frame points (N, K, 2) of the whole cascade for faces[indices], ground-truth boxes."""
    frames = [faces.image(i, cache=True) for i in indices]
    boxes = [points_box(faces[i].pts) for i in indices]
    return run_cascade(stages, runners(models, device), frames, boxes, scheme=faces.scheme)[-1]


def validate(stages, models, faces: FaceSet, device, loss=None, batch: int = 64) -> tuple[float, float | None]:
    """(mean NME %, mean loss) of the cascade on `faces`, ground-truth boxes. The loss, when given
    (training.losses.point_loss), is taken on the points in the crop the last stage's input size and
    crop scale cut around each true face box."""
    preds = np.concatenate([predict(stages, models, faces, device, range(s, min(s + batch, len(faces))))
                            for s in range(0, len(faces), batch)])
    truth = faces.points()
    mean_nme = float(nme(preds, truth, scheme=faces.scheme).mean() * 100)
    if loss is None:
        return mean_nme, None
    last = stages[-1]
    tfs = [CropTransform.from_box(points_box(t), last.input_size, last.crop_scale) for t in truth]
    in_crop = [torch.from_numpy(np.stack([tf.to_crop(p) for tf, p in zip(tfs, pts)])).float() for pts in (preds, truth)]
    with torch.no_grad():
        return mean_nme, loss(*in_crop).item()


def face_grid(stages, models, faces: FaceSet, device, count: int = 16) -> np.ndarray:
    """(N, 3, 128, 128) uint8 RGB tiles of the first faces with their predicted points."""
    import cv2

    from facealign.draw import draw_points

    idx = range(min(count, len(faces)))
    pts = predict(stages, models, faces, device, idx)
    tiles = []
    for i, p in zip(idx, pts):
        tf = CropTransform.from_box(points_box(faces[i].pts), 128, 1.4)
        tile = draw_points(tf.warp(faces.image(i, cache=True)), tf.to_crop(p), radius=1)
        tiles.append(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB))
    return np.stack(tiles).transpose(0, 3, 1, 2)
