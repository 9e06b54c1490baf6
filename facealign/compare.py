"""`facealign compare dlib`: facealign and dlib's 68-point predictor on the same 300-W faces, one run.

dlib gets its own HOG face detector (the way its predictor is meant to be fed);
facealign is scored with ground-truth point boxes (the study's protocol) and with
MediaPipe boxes (what the pipeline does). Faces a detector misses are counted and
reported; the NME table is over the faces both detectors found.
Needs the `dlib` extra: pip install ".[dlib]" in the checkout (dlib-bin + face-recognition-models).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from .metrics import nme, summarize


def dlib_model_path() -> Path:
    """shape_predictor_68_face_landmarks.dat of face-recognition-models, found without importing it
    (its __init__ needs pkg_resources, gone from recent setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        from .install import pip_hint

        raise ImportError(f"dlib's 68-point model is missing: {pip_hint('dlib')} "
                          "(dlib-bin and face-recognition-models)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"


class DlibPredictor:
    """dlib HOG detector + 68-point ERT predictor. __call__(bgr) -> list of (68, 2) float32 frame points."""

    def __init__(self, upsample: int = 1):
        import dlib

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.upsample = upsample

    def __call__(self, frame_bgr: np.ndarray) -> list[np.ndarray]:
        rgb = np.ascontiguousarray(frame_bgr[..., ::-1])
        out = []
        for rect in self.detector(rgb, self.upsample):
            shape = self.predictor(rgb, rect)
            out.append(np.array([(p.x, p.y) for p in shape.parts()], np.float32))
        return out


def _nearest(cands: list[np.ndarray], gt: np.ndarray):
    if not cands:
        return None
    return min(cands, key=lambda p: np.linalg.norm(p.mean(0) - gt.mean(0)))


def compare(model, faces, detector, dlib_pred: DlibPredictor) -> dict:
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


def add_arguments(p) -> None:
    p.add_argument("peer", choices=["dlib"], help="the peer to compare with")
    p.add_argument("weights", nargs="?", help="default: the preset's shipped weights")
    p.add_argument("--preset", default="accurate", help="shipped weights to use when WEIGHTS is not given")
    p.add_argument("--backend", default="auto", help="auto (by the weights' suffix), torch, onnxruntime or tensorrt")
    p.add_argument("--data", help="300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)")
    p.add_argument("--subset", default="common", help="300-W split: common, challenging, full or train")
    p.add_argument("--limit", type=int, default=0, help="only the first N faces")
    p.add_argument("--json", help="write the table as JSON here")


def run(args) -> int:
    from .backends import load_backend
    from .data import load_split
    from .detectors import create_detector
    from .weights import resolve

    try:
        dlib_pred = DlibPredictor()
    except ImportError as e:
        print(f"facealign compare: {e}", file=sys.stderr)
        return 2
    path = resolve(args.weights, args.preset, args.backend)
    model = load_backend(path, args.backend)
    faces = load_split(args.subset, args.data)
    if args.limit:
        faces = faces.subset(range(min(args.limit, len(faces))))
    res = compare(model, faces, create_detector("mediapipe"), dlib_pred)
    f = res["_faces"]
    print(f"{args.subset}: {f['total']} faces; dlib's detector missed {f['dlib_missed']}, MediaPipe missed "
          f"{f['mediapipe_missed']}; compared on the {f['compared']} both found.  weights: {path}")
    print(f"{'method':<44}{'faces':>6}{'NME %':>8}{'FR@8 %':>8}{'AUC@8':>8}")
    for name, r in res.items():
        if not name.startswith("_"):
            print(f"{name:<44}{r['n']:>6}{r['nme']:>8.3f}{r['fr']:>8.2f}{r['auc']:>8.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0
