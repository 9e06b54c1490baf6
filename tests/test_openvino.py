"""The openvino backend on real 300-W faces: parity with onnxruntime on the shipped .onnx files, batches
of several faces, the backend chosen by name and by "auto", and the CPU-only device check.

Runs real OpenVINO (the `openvino` extra); skipped with a reason where it is not installed.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from facealign.backends import FORMATS, backend_for, load_backend
from facealign.data import load_split
from facealign.transform import points_box

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "300w"
WEIGHTS = ROOT / "weights"
FACES = (0, 41, 97, 230, 333, 480)  # a spread of helen and lfpw test faces (as tests/test_backends.py)

# Measured on 80 common-set faces (384 x 384 pictures, OpenVINO 2026.4.1 f32, onnxruntime 1.32), the
# cascade's last-stage frame points, OpenVINO against onnxruntime:
#   float files: at most 0.009 px apart (mean 0.0003), scores at most 4e-4;
#   int8 files:  mean 0.21-0.24 px, at most 3.4 px (two int8 implementations round differently, and a
#                point's PIP cell can flip), scores mean 0.01, at most 0.25.
# The bounds leave ~2-5x headroom.
FLOAT_MAX_PX, FLOAT_MAX_SCORE = 0.05, 2e-3
INT8_MEAN_PX, INT8_MAX_PX, INT8_MEAN_SCORE = 0.5, 8.0, 0.03

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason='openvino is not installed (pip install -e ".[openvino]")')
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"300-W data not found at {DATA}")
pytestmark = [needs_openvino, needs_data]


def shipped(name: str) -> Path:
    path = WEIGHTS / f"{name}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not shipped in this checkout")
    return path


@pytest.fixture(scope="module")
def faces():
    common = load_split("common", DATA)
    frames = [common.image(i) for i in FACES]
    return frames, np.stack([points_box(common[i].pts) for i in FACES])


@pytest.mark.parametrize("name", ["fast.int8", "accurate.int8", "fast", "accurate"])
def test_openvino_matches_onnxruntime_on_real_faces(name, faces):
    """Every shipped .onnx file compiles (the int8 ones too) and places the points where onnxruntime does."""
    frames, boxes = faces
    path = shipped(name)
    ort = load_backend(path, "onnxruntime", device="cpu")(frames, boxes)
    ov_model = load_backend(path, "openvino", device="cpu")
    assert ov_model.backend == "openvino" and ov_model.has_scores
    ov = ov_model(frames, boxes)
    assert len(ov) == len(ort) == 2 and ov[-1].shape == ort[-1].shape == (len(FACES), 68, 2)
    assert ov[-1].dtype == np.float32 and ov.scores.dtype == np.float32
    dist = np.linalg.norm(ov[-1] - ort[-1], axis=-1)
    score_diff = np.abs(ov.scores - ort.scores)
    if name.endswith("int8"):
        assert dist.mean() < INT8_MEAN_PX and dist.max() < INT8_MAX_PX, (dist.mean(), dist.max())
        assert score_diff.mean() < INT8_MEAN_SCORE, score_diff.mean()
    else:
        assert dist.max() < FLOAT_MAX_PX and score_diff.max() < FLOAT_MAX_SCORE, (dist.max(), score_diff.max())


@pytest.mark.parametrize("name", ["fast.int8", "accurate.int8"])
def test_a_batch_of_faces_is_one_call_and_matches_them_one_at_a_time(name, faces):
    """The batch axis stays dynamic: N=3 and N=1 through the same compiled stage, same answers."""
    frames, boxes = faces
    model = load_backend(shipped(name), "openvino", device="cpu")
    spec = model.stages[0]
    x = np.random.default_rng(0).random((3, 3, spec.input_size, spec.input_size), dtype=np.float32)
    pts3, scores3 = model.runners[0](x)
    assert pts3.shape == (3, 68, 2) and scores3.shape == (3, 68)
    for i in range(3):
        pts1, scores1 = model.runners[0](x[i:i + 1])
        np.testing.assert_allclose(pts1[0], pts3[i], atol=1e-5)
        np.testing.assert_allclose(scores1[0], scores3[i], atol=1e-5)
    together = model(frames[:3], boxes[:3])[-1]
    alone = np.concatenate([model(frames[i:i + 1], boxes[i:i + 1])[-1] for i in range(3)])
    np.testing.assert_allclose(together, alone, atol=1e-3)


def test_openvino_by_name_and_onnxruntime_still_by_suffix(faces):
    path = shipped("fast.int8")
    assert "openvino" in FORMATS and FORMATS["openvino"].suffix == ".onnx"
    assert backend_for(path, "openvino") == "openvino"
    assert backend_for(path, "onnxruntime") == "onnxruntime"  # the shared suffix does not redirect a named backend
    assert backend_for(path) == "onnxruntime"  # auto keeps onnxruntime for .onnx files (docs/speed.md, section 11)
    assert load_backend(path, "onnxruntime", device="cpu").backend == "onnxruntime"


def test_the_aligner_and_the_cli_take_backend_openvino(faces):
    from facealign import FaceAligner
    from facealign.cli import command_parser

    with FaceAligner(preset="fast", backend="openvino", max_faces=1) as fa:
        assert fa.model.backend == "openvino" and fa.weights.name == "fast.int8.onnx"  # the CPU's int8 file
    for command in ("eval", "bench", "stability"):  # --backend's choices come from FORMATS
        assert command_parser(command).parse_args(["--backend", "openvino"]).backend == "openvino"


def test_openvino_options_are_checked():
    path = shipped("fast.int8")
    with pytest.raises(ValueError, match="the openvino backend runs on the CPU only"):
        load_backend(path, "openvino", device="cuda")
    with pytest.raises(ValueError, match="the openvino backend runs on the CPU only"):
        load_backend(path, "openvino", device="cuda:0")
    with pytest.raises(ValueError, match="precision must be one of f32, bf16, f16"):
        load_backend(path, "openvino", precision="int4")
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        load_backend(path, "openvino", threads=0)
    with pytest.raises(ValueError, match="unknown option 'session' for the openvino backend; "
                                         "valid options: device, threads, precision"):
        load_backend(path, "openvino", session="threads=1")
    assert load_backend(path, "openvino", device="cpu", threads=2, precision="f32").backend == "openvino"
