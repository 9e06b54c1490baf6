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
