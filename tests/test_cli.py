"""The `facealign` CLI: help and defaults for every flag, --version, third-party noise hidden unless --verbose."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facealign.cli import COMMANDS, command_parser, main

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


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_each_default_once_and_none_on_required_options(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    p = command_parser(name)
    formatter = p._get_formatter()
    for action in p._actions:
        shown = formatter._expand_help(action) if action.help else ""
        assert len(re.findall(r"\(default\b", shown, re.IGNORECASE)) <= 1, f"{name} {action.option_strings}: {shown}"
        if action.required:
            assert "default" not in shown.lower(), f"{name} {action.option_strings}: {shown}"
        assert " ".join(shown.split()) in text


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


def test_third_party_noise_hidden_unless_verbose(tmp_path):
    """Silenced where it is born, so nothing comes late: MediaPipe's graphs start (and log) inside
    lognoise.native_start(), FFmpeg's level is set before a capture opens. Run three times: the flaky
    old filter let a MediaPipe thread's W0000 line through on a busy machine."""
    cut = tmp_path / "cut.mp4"  # the header of a real video: FFmpeg says "moov atom not found"
    cut.write_bytes((MEDIA / "single_face.mp4").read_bytes()[:4096])
    args = (cut, MEDIA / "single_face.jpg", "--out", tmp_path / "out")
    for _ in range(3):
        quiet = cli("predict", *args)
        assert quiet.returncode == 1
        assert quiet.stderr == f"FAILED {cut}: not a video OpenCV can open (is it an MP4/MOV/AVI/MKV/WebM file?)\n"
    loud = cli("--verbose", "predict", *args)
    assert loud.returncode == 1
    assert "moov atom not found" in loud.stderr and "TensorFlow Lite" in loud.stderr
    assert loud.stderr.index("moov atom") < loud.stderr.index("FAILED")


def test_first_command_of_the_readme_prints_no_third_party_lines(tmp_path):
    """`python -m demo.webcam --source single_face.mp4 --no-display --output out.mp4`: no TFLite,
    absl, OpenCV or FFmpeg line; a camera that is not there is one line of ours, OpenCV's own
    warnings only with --verbose."""
    done = subprocess.run([sys.executable, "-m", "demo.webcam", "--source", str(MEDIA / "single_face.mp4"),
                           "--no-display", "--output", str(tmp_path / "o.mp4")], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "" and done.stdout.splitlines()[-1] == f"processed 72 frames; wrote 72 frames to {tmp_path / 'o.mp4'}"
    camera = ("webcam", "--source", "63", "--no-display")
    quiet = cli(*camera, timeout=120)
    assert quiet.returncode == 2 and quiet.stderr.count("\n") == 1 and quiet.stderr.startswith("facealign webcam: ")
    loud = cli("--verbose", *camera, timeout=120)
    assert loud.returncode == 2 and "VIDEOIO" in loud.stderr


def test_serve_speaks_of_the_share_flag_not_of_launch(tmp_path):
    """... and Ctrl-C (SIGINT) stops it without leaving its work folder in $TMPDIR, also when it was
    started with SIGINT ignored (as a background job of a non-interactive shell is: `nohup ... &`)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "TMPDIR": str(tmp_path), "PYTHONFAULTHANDLER": "1"}
    from facealign.app.load_test import free_port

    proc = subprocess.Popen([sys.executable, "-m", "facealign", "serve", "--port", str(free_port())], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    lines, rest = [], ""
    try:
        deadline = time.time() + 120
        for line in proc.stdout:
            lines.append(line)
            if "facealign page on" in line or time.time() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:  # read on while it stops: a full pipe would block its last writes (and so its exit)
            rest = proc.communicate(timeout=90)[0]
        except subprocess.TimeoutExpired:  # (on 2 busy cores a shutdown once took over 90 s; this says where)
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            rest = proc.communicate()[0]
    text = "".join(lines)
    assert "facealign page on http://127.0.0.1:" in text and "pass --share for a public link" in text, text
    assert "share=True" not in text
    assert proc.returncode == 0, f"serve did not stop on SIGINT (exit {proc.returncode}); its last output:\n{rest[-8000:]}"
    assert not list(tmp_path.glob("facealign-app-*"))


def test_shared_flags_take_their_choices_from_the_tables():
    from facealign.backends import FORMATS
    from facealign.detectors import list_detectors
    from facealign.weights import PRESETS

    tables = {"--backend": ("auto", *FORMATS), "--preset": PRESETS, "--detector": tuple(list_detectors())}
    found: dict[str, set[str]] = {flag: set() for flag in tables}
    for name in COMMANDS:
        for action in command_parser(name)._actions:
            for flag, choices in tables.items():
                if flag in action.option_strings and action.choices is not None:
                    assert tuple(action.choices) == tuple(choices), f"{name} {flag}: {action.choices}"
                    found[flag].add(name)
    assert found["--backend"] == found["--preset"] == {"eval", "predict", "bench", "stability", "webcam", "compare"}
    assert found["--detector"] == {"predict"}


def test_shared_flags_are_declared_once():
    """--backend, --weights, --max-faces, --detector and the shipped-weights --preset are declared in
    facealign/commands/args.py alone (export's --preset names a new preset: its own flag)."""
    package = REPO / "facealign"
    for flag in ("--backend", "--weights", "--max-faces", "--detector", "--data"):
        where = [p.relative_to(REPO).as_posix() for p in package.rglob("*.py")
                 if re.search(rf"add_argument\(\s*[\"']{flag}[\"']", p.read_text())]
        scripts = {"facealign/training/baseline.py", "facealign/training/throughput.py"}  # python -m tools
        assert set(where) - scripts == {"facealign/commands/args.py"}, (flag, where)
