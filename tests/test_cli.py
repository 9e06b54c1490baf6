"""The `facealign` CLI: help and defaults for every flag, --version, third-party noise hidden unless --verbose."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facealign.cli import COMMANDS, command_parser, main
from facealign.lognoise import is_noise

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "data" / "media"
OURS = [name for name, (module, _) in COMMANDS.items() if not module.startswith("train.")]


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facealign", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", OURS)
def test_every_flag_has_help_showing_its_default(name):
    p = command_parser(name)
    for action in p._actions:
        assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
    text = " ".join(p.format_help().split())
    for action in p._actions:
        if action.option_strings and action.default not in (None, "==SUPPRESS==") and action.dest != "help":
            shown = (f"(default: {action.default})", f"(default {action.default})")
            assert any(s in text for s in shown), f"{name} {action.option_strings}: default not shown"


def test_summaries_say_what_each_command_does(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "export export weights to ONNX, a TensorRT engine or a half-precision torch cascade" in out
    serve = " ".join(command_parser("serve").format_help().split())
    assert ".onnx" in serve and "--share" in serve and "port to listen on (default: 7860)" in serve


def test_version():
    from facealign import __version__

    proc = cli("--version", timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"facealign {__version__}"


def test_unknown_command_is_an_error(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_noise_patterns():
    assert is_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert is_noise("W0000 00:00:1796104415.312743    7248 inference_feedback_manager.cc:114] Feedback ...\n")
    assert is_noise("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x562552fd5300] moov atom not found\n")
    assert not is_noise("FAILED /tmp/cut.mp4: not a video OpenCV can open\n")
    assert not is_noise("WARNING facealign.pipeline: max_faces=4 left out 1 face(s)\n")


def test_third_party_noise_hidden_unless_verbose(tmp_path):
    cut = tmp_path / "cut.mp4"  # the header of a real video: FFmpeg says "moov atom not found"
    cut.write_bytes((MEDIA / "single_face.mp4").read_bytes()[:4096])
    args = (cut, MEDIA / "single_face.jpg", "--out", tmp_path / "out")
    quiet = cli("predict", *args)
    assert quiet.returncode == 1
    assert quiet.stderr.strip() == f"FAILED {cut}: not a video OpenCV can open (is it an MP4/MOV/AVI/MKV/WebM file?)"
    loud = cli("--verbose", "predict", *args)
    assert loud.returncode == 1
    assert "moov atom not found" in loud.stderr and "TensorFlow Lite" in loud.stderr
    assert loud.stderr.index("moov atom") < loud.stderr.index("FAILED")


def test_serve_speaks_of_the_share_flag_not_of_launch():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    from facealign.app.load_test import free_port

    proc = subprocess.Popen([sys.executable, "-m", "facealign", "serve", "--port", str(free_port())], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.time() + 120
        for line in proc.stdout:
            lines.append(line)
            if "facealign page on" in line or time.time() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = "".join(lines)
    assert "facealign page on http://127.0.0.1:" in text and "pass --share for a public link" in text, text
    assert "share=True" not in text
