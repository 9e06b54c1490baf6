"""Profiler: the stage times a frame reports (FaceAligner.last_stats)."""
from __future__ import annotations

import time

import pytest

from facealign.profiler import STAGES, Profiler


def test_stage_blocks_add_their_time_also_when_they_raise():
    prof = Profiler()
    prof.start()
    with prof.stage("track"):
        time.sleep(0.002)
    with prof.stage("track"):
        pass
    with pytest.raises(KeyError):
        with prof.stage("smooth"):
            raise KeyError("the block's own error goes through")
    prof.add("stage2", 1.5)
    stats = prof.finish(faces=1)
    assert stats.stages_run == ("track", "stage2", "smooth")  # in STAGES order
    assert 2.0 <= stats.ms["track"] < 1000 and stats.ms["smooth"] >= 0 and stats.ms["stage2"] == 1.5
    assert set(stats.ms) == set(STAGES) and stats.ms["detect"] == 0.0 and not stats.ran("detect")
    assert stats.total_ms >= stats.ms["track"] and stats.faces == 1


def test_an_unknown_stage_is_refused():
    prof = Profiler()
    with pytest.raises(ValueError, match="unknown stage"):
        with prof.stage("warp"):
            pass
