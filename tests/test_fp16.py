"""The FP16-typed ONNX of every shipped preset (what TensorRT 11 builds, formats/onnx_fp16.py):
valid under onnx.checker's full check, runnable on onnxruntime's CPU provider, and within a stated
frame-pixel bound of the float32 graph on real 300-W test faces (issue 22)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from facealign.backends import load_backend
from facealign.data.dataset import load_split
from facealign.transform import points_box

pytest.importorskip("torch", reason='exporting needs PyTorch (pip install ".[torch]" in the checkout)')
from facealign.export import export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("fast", "accurate")
# FP16 vs float32, per point, frame pixels (300-W pictures, faces ~100-400 px wide), last stage
BOUND_P99_PX, BOUND_MAX_PX = 0.5, 3.0  # measured on 64 faces: fast p99 0.12, max 1.88 px; accurate 0.04, 0.07
BOUND_SCORES = 0.05  # the last stage's point scores, max |FP16 - float32|: measured on the 64 faces fast 0.018, accurate 0.002


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{preset: (float32 .onnx, float16 .onnx)}, both written by `export` (which runs the full checker)."""
    out = tmp_path_factory.mktemp("fp16")
    files = {}
    for preset in PRESETS:
        pt = ROOT / "weights" / f"{preset}.pt"
        if not pt.is_file():
            pytest.skip(f"{pt} not shipped in this checkout")
        files[preset] = (export(pt, "onnx", out / f"{preset}.onnx", preset=preset),
                         export(pt, "onnx", out / f"{preset}.fp16.onnx", preset=preset, fp16=True))
    return files


@pytest.fixture(scope="module")
def faces(w300):
    """64 faces spread over the common test split: (pictures, point boxes)."""
    common = load_split("common", w300)
    picks = np.linspace(0, len(common) - 1, 64).round().astype(int)
    return [common.image(i) for i in picks], np.stack([points_box(common[i].pts) for i in picks])


@pytest.mark.parametrize("preset", PRESETS)
def test_fp16_onnx_passes_the_full_checker(exported, preset):
    model = onnx.load(str(exported[preset][1]))
    onnx.checker.check_model(model, full_check=True)
    assert "If" not in {n.op_type for n in model.graph.node}
    weights = [i for i in model.graph.initializer if len(i.dims) == 4]  # convolution kernels
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "float16"
    for v in [*model.graph.input, *model.graph.output]:
        assert v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, v.name


@pytest.mark.parametrize("preset", PRESETS)
def test_fp16_onnx_points_are_within_bounds_of_float32_on_real_faces(exported, faces, preset, capsys):
    frames, boxes = faces
    f32, f16 = (load_backend(path, "onnxruntime", device="cpu") for path in exported[preset])
    assert f16.meta.get("precision") == "float16"
    full, half = f32(frames, boxes), f16(frames, boxes)
    for k, (a, b) in enumerate(zip(full, half)):
        d = np.linalg.norm(a - b, axis=-1)
        p99, worst = float(np.percentile(d, 99)), float(d.max())
        with capsys.disabled():
            print(f"\n{preset} stage {k + 1}: FP16 vs float32 on {len(frames)} faces: median {np.median(d):.3f} px, "
                  f"p99 {p99:.3f} px, max {worst:.3f} px")
    assert p99 <= BOUND_P99_PX and worst <= BOUND_MAX_PX, (p99, worst)
    assert f16.has_scores and half.scores.shape == full.scores.shape == (len(frames), 68)  # FP16 copies keep them
    diff = float(np.abs(half.scores - full.scores).max())
    with capsys.disabled():
        print(f"{preset}: point scores, FP16 vs float32: max {diff:.4f}")
    assert diff <= BOUND_SCORES
