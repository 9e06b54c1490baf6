"""The landmark network's presence check (facealign/presence.py): its calibration and its clip figures."""
from __future__ import annotations

import numpy as np

from facealign.backends import load_backend
from facealign.data import load_split
from facealign.presence import NEGATIVES, calibrate, delays, misplaced
from facealign.tracking import PRESENCE_MIN
from facealign.weights import WEIGHTS_DIR


def test_delays_count_frames_from_the_references_change():
    ref = [True] * 5 + [False] * 5
    assert delays([1] * 7 + [0] * 3, ref) == {"leaves_at": 5, "dropped_after": 2, "enters_at": None,
                                              "found_after": None, "tracked_without_face": 2}
    ref = [False] * 4 + [True] * 6
    assert delays([0] * 5 + [1] * 5, ref) == {"leaves_at": None, "dropped_after": None, "enters_at": 4,
                                              "found_after": 1, "tracked_without_face": 0}
    assert delays([0] * 6, [False] * 6)["tracked_without_face"] == 0


def test_misplaced_points_leave_the_face():
    rng = np.random.default_rng(0)
    pts = np.array([[100, 100], [140, 100], [120, 150]], np.float32)
    side = 50.0  # the points' box is 40 x 50
    for kind in NEGATIVES:
        moved = misplaced(pts, kind, 384, rng)
        centre = moved.mean(0)
        spread = np.ptp(moved, axis=0).max()
        assert np.linalg.norm(centre - pts.mean(0)) > 0.4 * side or not 0.5 < spread / side < 2, kind


def test_faces_score_above_the_threshold_and_crops_without_one_below(w300, media):
    """On 12 training faces: every face crop above PRESENCE_MIN, (nearly) every misplaced crop below
    (calibration over 200 faces: faces from 0.58, misplaced crops at most 0.36, `python -m facealign.presence`)."""
    model = load_backend(WEIGHTS_DIR / "fast.onnx")
    scores = calibrate(model, load_split("train", w300), n=12, media=media("dogs.jpg").parent)
    assert set(scores) == {"face", *NEGATIVES, "no-face picture"}
    assert scores["face"].min() > PRESENCE_MIN
    negatives = np.concatenate([v for k, v in scores.items() if k != "face"])
    assert np.median(negatives) < 0.25 and (negatives >= PRESENCE_MIN).mean() < 0.05
