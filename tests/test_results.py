"""Landmarks: a frozen, typed result whose shape never depends on flags."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facealign import Landmarks


def test_types_are_normalised_and_frozen():
    f = Landmarks(np.ones((68, 2), np.float64), np.float32(0.8), [0, 0, 1, 1], 3, (1, 2, 3))
    assert f.points.dtype == np.float32 and f.box_xyxy.dtype == np.float32
    assert isinstance(f.score, float) and f.pose == (1.0, 2.0, 3.0)
    with pytest.raises(AttributeError):
        f.track_id = 4


def test_wrong_point_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        Landmarks(np.ones((5, 2)), 0.5, [0, 0, 1, 1])


def test_to_dict_is_json_ready():
    f = Landmarks(np.arange(136, dtype=np.float32).reshape(68, 2) / 3, 0.91234, [0, 0, 1, 1], None,
                  (float("nan"), 2.0, -3.0))
    d = json.loads(json.dumps(f.to_dict()))
    assert len(d["points"]) == 68 and d["points"][1] == [pytest.approx(0.67), 1.0]
    assert d["pose"] == {"yaw": None, "pitch": 2.0, "roll": -3.0} and d["track_id"] is None


def test_point_scores_are_checked_and_give_the_face_level_score():
    pts = np.zeros((68, 2), np.float32)
    scores = np.linspace(0.2, 1.0, 68)
    f = Landmarks(pts, 0.9, [0, 0, 1, 1], point_scores=scores)
    assert f.point_scores.dtype == np.float32 and f.point_scores.shape == (68,)
    assert f.landmark_score == pytest.approx(0.6, abs=1e-6)
    d = json.loads(json.dumps(f.to_dict()))
    assert len(d["point_scores"]) == 68 and d["point_scores"][0] == 0.2 and d["point_scores"][-1] == 1.0
    assert d["point_scores"][1] == round(0.2 + 0.8 / 67, 4)  # rounded to 1e-4
    none = Landmarks(pts, 0.9, [0, 0, 1, 1])  # weights without scores: None, never made up
    assert none.point_scores is None and none.landmark_score is None and none.to_dict()["point_scores"] is None
    with pytest.raises(ValueError, match=r"point_scores must have shape \(68,\), one per point, got \(5,\)"):
        Landmarks(pts, 0.9, [0, 0, 1, 1], point_scores=np.ones(5))
    with pytest.raises(ValueError, match=r"point_scores must be in \[0, 1\]"):
        Landmarks(pts, 0.9, [0, 0, 1, 1], point_scores=np.full(68, 1.5))
    with pytest.raises(ValueError, match=r"point_scores must be in \[0, 1\]"):
        Landmarks(pts, 0.9, [0, 0, 1, 1], point_scores=np.full(68, np.nan))
