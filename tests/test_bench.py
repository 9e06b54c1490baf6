"""`facealign bench`: a short real run writes the documented JSON (no speed assertions)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from facealign.bench import default_source, pingpong, stats

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "media" / "single_face.mp4"


def bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facealign", "bench", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def positive(d: dict) -> bool:
    return d["median"] > 0 and d["p95"] >= d["median"]


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is missing")
def test_short_run_writes_the_documented_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = bench("--frames", 20, "--runs", 2, "--json", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert {"ms_per_frame", "fps", "stages", "decode", "peers", "preset", "backend", "frames"} <= set(r)
    assert positive(r["ms_per_frame"]) and r["fps"] > 0
    assert r["fps"] == pytest.approx(1000.0 / r["ms_per_frame"]["median"], rel=0.01)
    assert r["frames"] == 20 and r["preset"] == "accurate" and r["backend"] in ("torch", "onnxruntime", "tensorrt")
    assert positive(r["decode"]) and r["decode"]["count"] == 72
    for name in ("stage1", "draw"):
        assert positive(r["stages"][name]), name
    assert all(positive(s) for s in r["stages"].values())
    assert positive(r["peers"]["mediapipe_facemesh"]) and r["peers"]["mediapipe_facemesh"]["count"] == 40
    ratio = r["ratios"]["mediapipe_facemesh"]  # ours / FaceMesh, timed in turn on the same frames
    assert len(ratio["runs"]) == 2 and all(x > 0 for x in ratio["runs"])
    assert min(ratio["runs"]) <= ratio["median"] <= max(ratio["runs"]) and r["runs"] == 2
    if importlib.util.find_spec("dlib") is not None:
        assert positive(r["peers"]["dlib_hog_68"])
    else:
        assert "dlib_hog_68" in r["peers_skipped"]
    assert "end to end" in proc.stdout and "x its time (median of runs:" in proc.stdout
    cpu = r["machine"]["cpu"]  # what the figures were measured on: int8 leans on VNNI
    assert cpu["model"] and f"CPU: {cpu['model']};" in proc.stdout


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is missing")
def test_no_peers(tmp_path):
    out = tmp_path / "bench.json"
    proc = bench("--frames", 5, "--runs", 1, "--no-peers", "--preset", "fast", "--json", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["peers"] == {} and r["ratios"] == {} and r["frames"] == 5 and r["preset"] == "fast"


def test_missing_source_is_a_clear_error(tmp_path):
    proc = bench("--source", tmp_path / "none.mp4", "--no-peers")
    assert proc.returncode == 2
    assert "no such video file" in proc.stderr


def test_missing_default_clip_names_no_path_inside_an_install(tmp_path, monkeypatch):
    installed = tmp_path / "venv" / "lib" / "python3" / "site-packages" / "facealign"  # no pyproject.toml above
    installed.mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(FileNotFoundError) as e:
        default_source(installed)
    msg = str(e.value)
    assert "venv" not in msg and "site-packages" not in msg and str(tmp_path) not in msg, msg
    assert msg == ("the default clip ../shared/data/media/single_face.mp4 is not beside the working folder; "
                   "pass --source VIDEO")


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is missing")
def test_default_clip_is_found_beside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_source() == CLIP.resolve()


def test_pingpong_and_stats():
    assert pingpong(4, 10) == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert pingpong(1, 3) == [0, 0, 0]
    s = stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["count"] == 5 and 4.0 < s["p95"] < 100.0 and s["mean"] == 22.0
    assert "per_frame" not in s and stats([8.0, 8.0], frames=10)["per_frame"] == 1.6


def test_parse_variant_takes_a_weights_file_and_checked_session_settings(tmp_path):
    from facealign.stagebench import parse_variant

    base = tmp_path / "fast.onnx"
    v = parse_variant("weights=other.int8.onnx,threads=2", base)
    assert v.label == "weights=other.int8.onnx,threads=2" and str(v.weights) == "other.int8.onnx"
    assert v.session == {"threads": "2"}
    assert parse_variant("spinning=1", base).weights == base
    with pytest.raises(ValueError, match="unknown session setting"):
        parse_variant("thread=2", base)


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is missing")
def test_stages_mode_times_each_variant_in_turn(tmp_path):
    out = tmp_path / "stages.json"
    weights = REPO / "weights" / "fast.onnx"
    proc = bench("--stages", "--weights", weights, "--frames", 17, "--runs", 2, "--variant", "threads=2",
                 "--variant", "spinning=1,execution=parallel", "--json", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert [v["label"] for v in r["variants"]] == ["base", "threads=2", "spinning=1,execution=parallel"]
    assert r["frames"] == 17 and r["runs"] == 2 and set(r["stages"]) == {"stage1", "stage2"}
    for row in r["stages"].values():
        assert row["base"]["ratio_runs"] == [1.0, 1.0]
        for s in row.values():
            assert s["median_ms"] > 0 and len(s["ratio_runs"]) == 2
            assert min(s["ratio_runs"]) <= s["ratio"] <= max(s["ratio_runs"])
    assert "ratio per run" in proc.stdout
    dup = bench("--stages", "--weights", weights, "--frames", 3, "--variant", "threads=2", "--variant", "threads=2")
    assert dup.returncode == 2 and "each variant once" in dup.stderr


@pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} is missing")
def test_pipeline_variants_are_timed_in_turn_with_ours(tmp_path):
    out = tmp_path / "bench.json"
    proc = bench("--frames", 6, "--runs", 2, "--no-peers", "--preset", "fast", "--variant", "threads=2,spinning=1",
                 "--json", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert list(r["variants"]) == ["base", "threads=2,spinning=1"]  # base: a copy of ours among the variants
    assert r["variants"]["base"]["ratio_runs"] == [1.0, 1.0]
    v = r["variants"]["threads=2,spinning=1"]
    assert v["count"] == 12 and positive(v) and len(v["ratio_runs"]) == 2
    assert min(v["ratio_runs"]) <= v["ratio"] <= max(v["ratio_runs"])
    assert "variant threads=2,spinning=1: median" in proc.stdout
    bad = bench("--frames", 3, "--no-peers", "--variant", "spin=1")
    assert bad.returncode == 2 and "unknown session setting" in bad.stderr
