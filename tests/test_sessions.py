"""onnxruntime session settings (backends/onnxruntime_backend.py): parsed and checked, applied to the
SessionOptions, passed through load_backend / FaceAligner."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from facealign.backends import load_backend
from facealign.backends.onnxruntime_backend import SESSION_DEFAULTS, parse_session, session_options

ROOT = Path(__file__).resolve().parents[1]
FAST = ROOT / "weights" / "fast.onnx"
need_fast = pytest.mark.skipif(not FAST.is_file(), reason=f"{FAST} not shipped in this checkout")


def test_defaults_are_one_thread_without_spinning():
    assert parse_session() == SESSION_DEFAULTS == {"threads": 1, "spinning": False, "optimization": "all",
                                                   "execution": "sequential"}


@pytest.mark.parametrize("spec, want", [
    ("threads=2,spinning=1", {"threads": 2, "spinning": True}),
    ("threads=0, spinning=off", {"threads": 0, "spinning": False}),
    ({"optimization": "basic", "execution": "parallel"}, {"optimization": "basic", "execution": "parallel"}),
    ("", {}),
])
def test_session_settings_are_parsed_over_the_defaults(spec, want):
    assert parse_session(spec) == {**SESSION_DEFAULTS, **want}


@pytest.mark.parametrize("spec, words", [
    ("threads", "key=value pairs"),
    ("thread=2", "unknown session setting(s) 'thread'; valid: threads, spinning, optimization, execution"),
    ("threads=-1", "whole number >= 0"),
    ("threads=1.5", "whole number >= 0"),
    ("spinning=maybe", "spinning must be 1/0"),
    ("optimization=max", "optimization must be one of disabled, basic, extended, layout, all"),
    ("execution=async", "execution must be one of sequential, parallel"),
])
def test_bad_session_settings_say_what_is_wrong(spec, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_session(spec)


def test_threads_option_and_session_threads_agree_or_fail():
    assert parse_session("threads=2", threads=2)["threads"] == 2
    assert parse_session(None, threads=3)["threads"] == 3
    with pytest.raises(ValueError, match="disagree"):
        parse_session("threads=2", threads=1)


def test_session_options_apply_the_settings():
    opts = session_options(session="threads=2,spinning=1,optimization=extended,execution=parallel")
    assert opts.intra_op_num_threads == 2
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert opts.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    default = session_options()
    assert default.intra_op_num_threads == 1 and default.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert default.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert session_options(session="threads=0").intra_op_num_threads == 0  # onnxruntime's own choice


@need_fast
def test_load_backend_and_the_aligner_take_session_settings(read_media):
    from facealign import FaceAligner

    with pytest.raises(ValueError, match="unknown session setting"):
        load_backend(FAST, session="fast=1")
    frame = read_media("single_face.jpg")
    with FaceAligner(weights=FAST) as a, FaceAligner(weights=FAST, session="threads=2,spinning=1") as b:
        pa, pb = a(frame), b(frame)
    assert len(pa) == len(pb) == 1
    assert np.abs(pa[0].points - pb[0].points).max() < 1e-3  # same graph, other threads: same points
