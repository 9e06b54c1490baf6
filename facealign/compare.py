"""facealign and dlib's 68-point predictor on the same 300-W faces, one run.

dlib gets its own HOG face detector (the way its predictor is meant to be fed);
facealign is scored with ground-truth point boxes (the study's protocol) and with
MediaPipe boxes (what the pipeline does). Faces a detector misses are counted and
reported; the NME table is over the faces both detectors found.
dlib is wrapped in facealign/peers.py; it needs the `dlib` extra: pip install ".[dlib]" in the
checkout (dlib-bin + face-recognition-models).
"""
from __future__ import annotations

import numpy as np

from .metrics import nme, summarize


def _nearest(cands: list[np.ndarray], gt: np.ndarray):
    if not cands:
        return None
    return min(cands, key=lambda p: np.linalg.norm(p.mean(0) - gt.mean(0)))


def compare(model, faces, detector, dlib_pred) -> dict:
    """NME summaries of dlib (its own HOG boxes; a peers.DlibLandmarks) and of `model` (MediaPipe
    boxes from `detector`, and ground-truth boxes) over the faces both detectors found, with the
    counts under "_faces"."""
    from .evaluate import detector_boxes, predict_faceset

    gt = faces.points()
    dl = [_nearest(dlib_pred(faces.image(i)), gt[i]) for i in range(len(faces))]
    dl_found = np.array([p is not None for p in dl])
    mp_boxes, mp_found = detector_boxes(faces, detector)
    both = dl_found & mp_found
    ours_gt = predict_faceset(model, faces)[-1]
    ours_mp = np.zeros_like(gt)
    ours_mp[mp_found] = predict_faceset(model, faces.subset(np.flatnonzero(mp_found)), mp_boxes[mp_found])[-1]
    dl_pts = np.stack([p if p is not None else np.zeros((68, 2), np.float32) for p in dl])
    rows = {
        "dlib (HOG boxes)": nme(dl_pts[both], gt[both]),
        "facealign (MediaPipe boxes)": nme(ours_mp[both], gt[both]),
        "facealign (ground-truth boxes)": nme(ours_gt[both], gt[both]),
    }
    result = {name: summarize(err) for name, err in rows.items()}
    result["_faces"] = {"total": len(faces), "dlib_missed": int((~dl_found).sum()),
                        "mediapipe_missed": int((~mp_found).sum()), "compared": int(both.sum())}
    result["facealign (ground-truth boxes, all faces)"] = summarize(nme(ours_gt, gt))
    return result
