"""demo.webcam run headless as a user would: annotated output with every frame, Ctrl-C, clear errors."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "media" / "single_face.mp4"  # 72 frames, 640x360
LONG_CLIP = REPO.parent / "shared" / "data" / "media" / "WolfgangLanger_Pexels.mp4"  # 19.7 s: time to press Ctrl-C
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def read_back(path) -> list[np.ndarray]:
    from facealign.video import read_frames

    return read_frames(path)[0]


def demo_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "demo.webcam", *map(str, args)]


@pytest.fixture(scope="module", autouse=True)
def need_clip():
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is missing")


def test_headless_run_writes_every_frame_annotated(tmp_path):
    out = tmp_path / "annotated.mp4"
    proc = subprocess.run(demo_cmd("--source", CLIP, "--no-display", "--output", out), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "processed 72 frames" in proc.stdout
    frames = read_back(out)
    original = read_back(CLIP)
    assert len(frames) == len(original) == 72
    assert frames[0].shape == (360, 640, 3)
    # the overlay band (FPS and stage ms) darkens the top-left corner; the face area has drawing on it
    corner = (slice(0, 30), slice(0, 120))
    assert frames[40][corner].mean() < 0.7 * original[40][corner].mean()
    face = (slice(100, 320), slice(180, 420))
    diff = np.abs(frames[40][face].astype(np.int16) - original[40][face].astype(np.int16)).max(axis=2)
    assert (diff > 60).sum() > 200, "no landmarks drawn on the face"


def test_ctrl_c_leaves_a_playable_output(tmp_path):
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen(demo_cmd("--source", LONG_CLIP, "--no-display", "--output", out), cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # headless progress: "frame 30: ... FPS"
            if line.startswith("frame 30"):
                proc.send_signal(signal.SIGINT)
                break
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    m = re.search(r"interrupted after (\d+) frames; wrote (\d+) frames", rest)
    assert m, rest
    written = int(m.group(2))
    assert 30 <= written < 500  # stopped part-way through the clip's ~590 frames
    assert len(read_back(out)) == written


def test_missing_camera_says_to_pass_a_video():
    proc = subprocess.run(demo_cmd("--source", "97", "--no-display"), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--source path/to/video.mp4" in proc.stderr


def test_unreadable_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    proc = subprocess.run(demo_cmd("--source", bad, "--no-display"), cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "not a video" in proc.stderr


def test_import_runs_nothing():
    proc = subprocess.run([sys.executable, "-c", "import demo.webcam as w; print(callable(w.main))"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "True" and proc.returncode == 0
