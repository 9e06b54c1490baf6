"""The study's floor: a constant predictor, the mean training face placed in each test face's box.

The mean face is the mean of the training faces' points in their own crops (the template a
stage-2 crop aligns to, facealign.models.mean_template), from the faces a run trains on (the
training split less the fixed validation hold-out). It is placed in each test face's
ground-truth point box through the same CropTransform a stage-1 crop is cut with
(StageSpec.transform), so it is exactly what a network that always output the mean face
would score. The result does not depend on the crop's input size (a similarity cancels out).
"""
from __future__ import annotations

import numpy as np

from facealign.data import load_split, train_val_split
from facealign.metrics import NORMALISATIONS, nme, summarize
from facealign.models import StageSpec, mean_template
from facealign.transform import points_box

from .config import Config

NAME = "mean face in the ground-truth box"


def mean_face_points(train_pts: np.ndarray, test_pts: np.ndarray, input_size: int = 64,
                     crop_scale: float = Config.crop_scale) -> np.ndarray:
    """(N, 68, 2) frame pixels: the mean of (M, 68, 2) training faces (in crop pixels) placed in the
    ground-truth point box of each of the (N, 68, 2) test faces (frame pixels) as a stage-1 crop is."""
    template_crop = mean_template(train_pts, input_size, crop_scale)
    stage = StageSpec(crop="box", input_size=input_size, crop_scale=crop_scale)
    return np.stack([stage.transform(points_box(gt)).to_frame(template_crop) for gt in test_pts])


def training_points(data=None, val_fraction: float = Config.val_fraction) -> np.ndarray:
    """(M, 68, 2) points of the faces a run trains on: the train split less the validation hold-out."""
    faces = load_split("train", data)
    train_idx, _ = train_val_split(len(faces), val_fraction, seed=0)
    return faces.points()[train_idx]


def score(pred: np.ndarray, gt: np.ndarray) -> dict:
    """{"n", "nme", "fr", "auc", "norms": {norm: {"nme", "fr", "auc"}}, "errors": per-face NME in %
    (outer eyes, 4 decimals)}: the test.json cache's fields (nme, fr in %; auc a fraction)."""
    per_norm = {n: nme(pred, gt, n) for n in NORMALISATIONS}
    main = summarize(per_norm["outer_eyes"])
    norms = {n: {k: round(v, 6) for k, v in summarize(e).items() if k != "n"} for n, e in per_norm.items()}
    return {**{k: round(v, 6) if k != "n" else v for k, v in main.items()}, "norms": norms,
            "errors": [round(float(e) * 100, 4) for e in per_norm["outer_eyes"]]}


def mean_face_baseline(data=None, subset: str = "common") -> dict:
    """The constant mean-face predictor scored on a test subset: score()'s fields + how it was made."""
    train_pts = training_points(data)
    gt = load_split(subset, data).points()
    result = score(mean_face_points(train_pts, gt), gt)
    return {"predictor": NAME, "subset": subset, "train_faces": int(len(train_pts)), **result}


def main(argv=None) -> int:
    """`python -m facealign.training.baseline [--data DIR] [--subset common]`: the baseline's figures as JSON."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m facealign.training.baseline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)")
    p.add_argument("--subset", default="common", help="test subset (default: %(default)s)")
    args = p.parse_args(argv)
    result = mean_face_baseline(args.data, args.subset)
    print(json.dumps({k: v for k, v in result.items() if k != "errors"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
