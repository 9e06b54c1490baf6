"""The lean runtime: no PyTorch on the onnxruntime path, the packaging that ships the weights,
weights resolution and its errors, and device routing of backend auto (no GPU needed)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from facealign.backends import FORMATS, backend_for, tensorrt_usable
from facealign.backends.devices import check_device, cuda_device_count, wants_gpu

ROOT = Path(__file__).resolve().parents[1]
ACCURATE_ONNX = ROOT / "weights" / "accurate.onnx"
PICTURE = ROOT.parent / "shared" / "data" / "media" / "single_face.jpg"

# Runs in a fresh interpreter in which `import torch` fails, as in a base install.
NO_TORCH = """
import sys
for name in ("torch", "torchvision"):
    sys.modules[name] = None  # import torch -> ImportError
import cv2
from facealign import FaceAligner
with FaceAligner(weights={weights!r}) as fa:
    faces = fa(cv2.imread({picture!r}))
with FaceAligner(device="cpu") as fa2:  # the preset's file for the CPU: the .onnx
    assert fa2.weights.suffix == ".onnx", fa2.weights
print(fa.model.backend, len(faces), faces[0].points.shape, sorted(m for m, v in sys.modules.items() if m.startswith("torch") and v is not None))
"""


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.skipif(not (ACCURATE_ONNX.is_file() and PICTURE.is_file()), reason="weights or test picture absent")
def test_onnx_pipeline_runs_without_torch_in_a_fresh_process(tmp_path):
    code = NO_TORCH.format(weights=str(ACCURATE_ONNX), picture=str(PICTURE))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "onnxruntime 1 (68, 2) []"


def test_base_install_has_no_torch_and_dev_has_the_extras():
    project = _pyproject()["project"]
    names = [d.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
             for d in project["dependencies"]]
    assert not {"torch", "torchvision", "tensorrt", "tensorboard"} & set(names)
    assert {"onnxruntime", "mediapipe", "opencv-contrib-python", "gradio"} <= set(names)
    extras = project["optional-dependencies"]
    assert {"torch", "train", "tensorrt", "dlib", "dev"} <= set(extras)
    assert any(d.startswith("facealign[") and "train" in d and "dlib" in d for d in extras["dev"])
    assert any(d.startswith("tensorrt-cu13") for d in extras["tensorrt"])  # torch 2.14's wheels are CUDA 13


def test_every_package_is_listed_and_the_weights_travel_as_package_data():
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "facealign").rglob("*.py")
             if "__pycache__" not in p.parts}
    found |= {"facealign.training.configs", "facealign._weights"}
    assert found == listed, f"pyproject.toml's packages differ: missing {sorted(found - listed)}, extra {sorted(listed - found)}"
    assert {p.split(".")[0] for p in listed} == {"facealign"}  # the repository's train/ and demo/ are not installed
    assert tool["package-dir"]["facealign._weights"] == "weights"
    assert tool["package-dir"]["facealign.training.configs"] == "train/configs"
    assert {"*.pt", "*.onnx"} <= set(tool["package-data"]["facealign._weights"])


def test_missing_weights_name_the_file_and_the_override(tmp_path, monkeypatch):
    from facealign import weights

    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        weights.resolve(preset="fast", backend="onnxruntime")
    assert str(e.value).startswith(f"{tmp_path / 'fast.onnx'}: ")
    assert "weights=PATH" in str(e.value) and "--weights PATH" in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"fast\.pt: .*torch backend"):
        weights.resolve(preset="fast", backend="torch")
    with pytest.raises(ValueError, match="unknown preset 'slow'; choose from accurate, fast"):
        weights.resolve(preset="slow")


def test_shipped_weights_for_the_cpu_are_the_onnx_files():
    """On a CPU the presets take their INT8 copies (shipped: within 0.05 NME of the float files), a
    float file when asked by path; torch takes the .pt."""
    from facealign.weights import WEIGHTS_DIR, resolve

    if not (WEIGHTS_DIR / "accurate.int8.onnx").is_file():
        pytest.skip(f"{WEIGHTS_DIR / 'accurate.int8.onnx'} absent")
    assert resolve(device="cpu") == WEIGHTS_DIR / "accurate.int8.onnx"
    assert resolve(backend="onnxruntime", preset="fast") == WEIGHTS_DIR / "fast.int8.onnx"
    assert resolve(WEIGHTS_DIR / "fast.onnx") == WEIGHTS_DIR / "fast.onnx"
    assert resolve(backend="torch") == WEIGHTS_DIR / "accurate.pt"


def test_backend_auto_honours_the_device():
    assert backend_for("w.pt", "auto", "cpu") == "torch" and not tensorrt_usable("cpu")
    assert backend_for("w.onnx", "auto", "cuda:1") == "onnxruntime"
    assert backend_for("w.engine", "auto", "cpu") == "tensorrt"  # an engine file names its backend
    assert not wants_gpu("cpu") and wants_gpu("cuda:0") and wants_gpu("auto") == (cuda_device_count() > 0)
    for bad in ("gpu", "cuda:x", "CPU", "", None):
        with pytest.raises(ValueError, match="unknown device"):
            check_device(bad)
    from facealign.backends.tensorrt_backend import cuda_device

    with pytest.raises(ValueError, match="TensorRT backend runs on a CUDA GPU, not device='cpu'"):
        cuda_device("cpu")


def test_driver_probe_needs_no_torch():
    code = "import sys; from facealign.backends.devices import cuda_device_count; " \
           "n = cuda_device_count(); print(n, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-1000:]
    n, torch_loaded = done.stdout.split()
    assert int(n) >= 0 and torch_loaded == "False"


def test_formats_table_options_match_the_loaders():
    import importlib
    import inspect

    for fmt in FORMATS.values():
        load = importlib.import_module(f"facealign.backends.{fmt.module}").load if fmt.name != "torch" or \
            importlib.util.find_spec("torch") else None
        if load is None:
            continue
        params = [p for p in inspect.signature(load).parameters if p != "path"]
        assert tuple(params) == fmt.options, fmt.name


GPU_CHECKS = ["env", "graph-fast", "graph-accurate", "capture-threads", "speed-fast", "speed-accurate",
              "train-stage1", "train-stage2", "ddp-nccl", "nproc-too-many", "trt-build", "trt-export",
              "trt-two-processes", "trt-damaged-entry", "auto-cpu"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the GPU checks need PyTorch")
def test_gpu_check_script_runs_and_says_why_it_skips():
    """tools/gpu_check.py here (no GPU): one `STATUS name: figures` line per check, every GPU check a
    SKIP with its reason, the CPU one (the FP16 ONNX on onnxruntime) a PASS, no MediaPipe; exit 0."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: run tools/gpu_check.py itself")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py")], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-2000:]
    lines = {line.split()[1].rstrip(":"): line for line in done.stdout.splitlines()
             if line.split()[:1] in (["PASS"], ["FAIL"], ["SKIP"])}
    assert list(lines) == GPU_CHECKS[:10] + ["onnx-fp16"] + GPU_CHECKS[10:] + ["no-mediapipe"]
    for name in GPU_CHECKS:
        assert lines[name].startswith(f"SKIP {name}: PyTorch sees no CUDA GPU"), lines[name]
    assert lines["onnx-fp16"].startswith("PASS onnx-fp16: "), lines["onnx-fp16"]
    assert lines["no-mediapipe"].startswith("PASS"), lines["no-mediapipe"]


def test_a_packed_face_sample_round_trips_and_is_never_committed(tmp_path, w300):
    """tools/gpu_check.py --pack-data: a few real faces for a lent GPU machine, small, git-ignored."""
    from facealign.data.sample import DEFAULT_DIR, FILE, read_sample

    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--pack-data", str(tmp_path),
                           "--faces", "4", "--w300", str(w300)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "never commit it" in done.stdout
    frames, pts = read_sample(tmp_path)
    assert len(frames) == 4 and pts.shape == (4, 68, 2) and (tmp_path / FILE).stat().st_size < 400_000
    for frame, p in zip(frames, pts):
        assert frame.dtype == np.uint8 and frame.ndim == 3 and max(frame.shape[:2]) <= 384
        assert (p > 0).all() and (p < frame.shape[1]).all()
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{DEFAULT_DIR}/{FILE}"], cwd=ROOT)
    assert ignored.returncode == 0, f"{DEFAULT_DIR}/ is not git-ignored"
