"""`facealign export`: ONNX (checked + compared), torch half-precision files from checkpoints, errors."""
from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.cli import main
from facealign.export import EXPORTERS, compare, export
from facealign.formats.cascade_pt import atomic_save, load_cascade
from facealign.formats.onnx_cascade import read_onnx

ROOT = Path(__file__).resolve().parents[1]
ACCURATE = ROOT / "weights" / "accurate.pt"

pytestmark = pytest.mark.skipif(not ACCURATE.is_file(), reason=f"{ACCURATE} not shipped in this checkout")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A training checkpoint as train/engine.py writes it: float32 cascade under "cascade"."""
    casc = load_cascade(ACCURATE)
    sds = [{k: v.float() if v.is_floating_point() else v for k, v in sd.items()} for sd in casc.state_dicts]
    g = torch.Generator().manual_seed(0)
    for sd in sds:  # float32 detail below float16's resolution, as a trained checkpoint has
        for k, v in sd.items():
            if v.is_floating_point() and v.ndim > 1:
                sd[k] = v + torch.randn(v.shape, generator=g) * 1e-5
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    atomic_save({"epoch": 3, "best": 4.2, "cascade": {
        "stages": [asdict(s) for s in casc.stages], "state_dicts": sds,
        "meta": {"config": {"name": "test"}, "val_nme": 4.2}}}, path)
    return path


def test_export_onnx_cli_checks_and_compares(tmp_path, capsys):
    out = tmp_path / "acc.onnx"
    assert main(["export", str(ACCURATE), "--format", "onnx", "-o", str(out), "--preset", "accurate"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "onnx.checker: ok" in text
    diffs = [float(d) for d in re.findall(r"stage \d+: ([0-9.e+-]+)", text)]
    assert len(diffs) == len(load_cascade(ACCURATE).stages)
    assert max(diffs) < 1e-5  # measured 2.4e-7 on a random batch
    assert read_onnx(out).meta["preset"] == "accurate"


def test_export_torch_from_checkpoint_round_trip(tmp_path, checkpoint, capsys):
    out = tmp_path / "mine.pt"
    assert main(["export", str(checkpoint), "--format", "torch", "-o", str(out), "--preset", "mine"]) == 0
    assert "max |torch - torch|" in capsys.readouterr().out
    src, got = load_cascade(checkpoint), load_cascade(out)
    assert got.stages == src.stages
    assert got.meta["preset"] == "mine" and got.meta["val_nme"] == 4.2 and got.meta["config"] == {"name": "test"}
    for sd_src, sd_got in zip(src.state_dicts, got.state_dicts):
        assert sd_src.keys() == sd_got.keys()
        for k, v in sd_got.items():
            assert v.dtype == (torch.float16 if sd_src[k].is_floating_point() else sd_src[k].dtype), k
            assert torch.equal(v, sd_src[k].half() if v.is_floating_point() else sd_src[k])
    # half precision moves the outputs a little: measured 4.3e-5 (normalised) on a random batch
    assert 0 < max(compare(src, out, "torch")) < 1e-3


def test_export_default_paths_and_refusals(tmp_path, capsys):
    src = tmp_path / "copy.pt"
    src.write_bytes(ACCURATE.read_bytes())
    assert export(src, "onnx", opset=17) == tmp_path / "copy.onnx" and (tmp_path / "copy.onnx").is_file()
    with pytest.raises(ValueError, match="refusing to overwrite"):
        export(src, "torch", out=src)
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose from onnx, engine, torch"):
        export(src, "tflite")
    assert main(["export", str(src), "--format", "torch"]) == 2
    assert "needs -o OUT or --preset" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "absent.pt"), "--format", "onnx"]) == 2
    assert "no such weights file" in capsys.readouterr().err


def test_export_never_replaces_a_shipped_file_unless_told(capsys):
    shipped = ACCURATE.with_suffix(".onnx")  # the README's form writes over weights/accurate.onnx
    if not shipped.is_file():
        pytest.skip(f"{shipped} not shipped in this checkout")
    before = (shipped.stat().st_mtime_ns, shipped.read_bytes())
    assert main(["export", str(ACCURATE), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err == (f"facealign export: {shipped} already exists (a shipped weights file); "
                   f"pass --overwrite to replace it, or -o OTHER to write elsewhere\n")
    assert (shipped.stat().st_mtime_ns, shipped.read_bytes()) == before


def test_export_overwrite_replaces_an_earlier_export(tmp_path, capsys):
    src = tmp_path / "copy.pt"
    src.write_bytes(ACCURATE.read_bytes())
    out = tmp_path / "copy.onnx"
    out.write_bytes(b"an earlier file")
    assert main(["export", str(src), "--format", "onnx", "--no-check"]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"an earlier file"
    with pytest.raises(FileExistsError, match="already exists"):
        export(src, "onnx")
    assert main(["export", str(src), "--format", "onnx", "--no-check", "--overwrite"]) == 0
    assert read_onnx(out).stages == load_cascade(src).stages


def test_exporters_follow_the_formats_table():
    """Every exporter writes a backend's file type, and every file type a backend reads has an exporter
    (openvino reads the .onnx files onnxruntime does: no exporter of its own)."""
    from facealign.backends import FORMATS

    assert {e.backend for e in EXPORTERS.values()} <= set(FORMATS)
    assert {FORMATS[e.backend].suffix for e in EXPORTERS.values()} == {f.suffix for f in FORMATS.values()}


@pytest.mark.gpu
def test_export_engine_loads_and_matches(tmp_path, capsys):
    pytest.importorskip("tensorrt", reason='TensorRT not installed (pip install ".[tensorrt]")')
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU and none is visible")
    from facealign.formats.engine_file import read_engine_file

    out = tmp_path / "acc.engine"
    cache = tmp_path / "cache"
    assert main(["export", str(ACCURATE), "--format", "engine", "-o", str(out), "--cache-dir", str(cache)]) == 0
    assert len(list(cache.glob("*.engine"))) == len(load_cascade(ACCURATE).stages)
    assert "max |torch - tensorrt|" in capsys.readouterr().out
    header, engines = read_engine_file(out)
    assert len(engines) == len(load_cascade(ACCURATE).stages)
    assert [s["input_size"] for s in header["stages"]] == [s.input_size for s in load_cascade(ACCURATE).stages]
    assert header["recipe"]["precision"] in ("fp16-flag", "fp16-typed")
    assert max(compare(load_cascade(ACCURATE), out, "tensorrt")) < 2e-2  # FP16; not measured (no GPU here)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_export_engine_without_tensorrt_says_why(tmp_path, capsys):
    assert main(["export", str(ACCURATE), "--format", "engine", "-o", str(tmp_path / "a.engine")]) == 2
    err = capsys.readouterr().err
    assert ('pip install --extra-index-url https://pypi.nvidia.com ".[tensorrt]" in the facealign checkout' in err
            and err.count("\n") == 1 and "Traceback" not in err)  # NVIDIA's index
    assert not (tmp_path / "a.engine").exists()


def test_every_export_error_is_one_line_with_exit_code_2(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80not a pickle" * 50)
    cases = [([str(junk), "--format", "onnx"], "not a readable torch weights file"),
             ([str(ACCURATE), "--format", "onnx", "-o", str(tmp_path / "o2.onnx"), "--opset", "2"], "opset"),
             ([str(ACCURATE), "--format", "onnx", "-o", str(tmp_path / "x.onnx"), "--no-check",
               "--preset", "p", "--opset", "999"], "")]
    for argv, words in cases:
        assert main(["export", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("facealign export: ") and err.count("\n") == 1, err
        assert words.lower() in err.lower() and "Traceback" not in err


@pytest.mark.parametrize("preset", ["fast", "accurate"])
def test_export_onnx_fp16_is_valid_and_gives_the_float32_points(tmp_path, capsys, w300, preset):
    """`facealign export WEIGHTS --format onnx --fp16 -o X.onnx`: the FP16-typed graph TensorRT 11 is
    given passes the full checker, and FaceAligner(weights=X.onnx) on a 300-W test face lands within
    1 px (max over the 68 points) of the float32 preset's points."""
    import onnx

    from facealign import FaceAligner
    from facealign.data.dataset import load_split

    out = tmp_path / f"{preset}.fp16.onnx"
    assert main(["export", str(ROOT / "weights" / f"{preset}.pt"), "--format", "onnx", "--fp16", "-o", str(out)]) == 0
    assert "float16" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    frame = load_split("common", w300).image(0)
    float32 = ROOT / "weights" / f"{preset}.onnx"  # (the preset alone would take the int8 file on a CPU)
    with FaceAligner(weights=out, backend="onnxruntime") as half, FaceAligner(weights=float32, backend="onnxruntime") as ref:
        got, want = half(frame), ref(frame)
    assert len(got) == len(want) == 1
    assert np.abs(got[0].points - want[0].points).max() <= 1.0


def test_fp16_applies_to_onnx_only(tmp_path, capsys):
    assert main(["export", str(ACCURATE), "--format", "torch", "--fp16", "-o", str(tmp_path / "x.pt")]) == 2
    assert "--fp16 applies to --format onnx only" in capsys.readouterr().err


def _exported_like_torch(pt, out, capsys, changed, shipped):
    """Export the cascade file `pt` to ONNX at `out`; its stage 2 must give the `changed` torch network's
    points, which differ from the `shipped` one's. -> the ONNX file's stage 2 spec."""
    from facealign.backends import load_backend

    assert main(["export", str(pt), "--format", "onnx", "-o", str(out)]) == 0
    diffs = [float(d) for d in re.findall(r"stage \d+: ([0-9.e+-]+)", capsys.readouterr().out)]
    assert len(diffs) == 2 and max(diffs) < 1e-4
    x = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        want, before = changed.eval().infer(x)[0].numpy(), shipped.eval().infer(x)[0].numpy()
    got = load_backend(out, backend="onnxruntime").runners[1](x.numpy())[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.abs(want - before).max() > 1e-3  # the change changed what the network computes
    return read_onnx(out).stages[1]


def test_blur_keeps_a_flat_map_and_samples_like_the_pool_it_replaces():
    from facealign.models.resnet import Blur, MaxBlurPool

    flat = torch.full((1, 4, 10, 10), 3.0)
    torch.testing.assert_close(Blur(4)(flat)[..., 1:-1, 1:-1], flat[..., 1:-1, 1:-1])  # (zero padding at the edge)
    x = torch.rand(2, 8, 40, 40)
    assert MaxBlurPool(8)(x).shape == torch.nn.MaxPool2d(3, 2, 1)(x).shape == (2, 8, 20, 20)
    step = torch.zeros(1, 1, 1, 8)
    step[..., 4:] = 1.0  # an edge sampled every other pixel: blurred, the sample at it reads grey (plain: 1)
    assert Blur(1, 2)(step.expand(1, 1, 8, 8).contiguous())[0, 0, 1].tolist() == [0.0, 0.0, 0.75, 1.0]


def test_an_antialiased_stage_round_trips_through_torch_and_onnx(tmp_path, capsys):
    """`antialias` (models/resnet.py) adds no weights: the shipped stage 2 loads into it as it is, its
    files say it is on, and the ONNX file gives the torch network's points."""
    from dataclasses import replace

    from facealign.formats.cascade_pt import save_cascade
    from facealign.models.resnet import Blur, MaxBlurPool

    casc = load_cascade(ROOT / "weights" / "fast.pt")
    stages = [casc.stages[0], replace(casc.stages[1], antialias=True)]
    models = casc.models()
    blurred = stages[1].build()
    blurred.load_state_dict(models[1].state_dict())  # strict: every key fits
    assert isinstance(blurred.stem[3], MaxBlurPool)
    assert sum(isinstance(m, Blur) for m in blurred.layers.modules()) == 3  # layers 2-4's first blocks
    pt = tmp_path / "aa.pt"
    save_cascade(pt, stages, [models[0], blurred.eval()], {"preset": "fast"}, half=False)
    assert load_cascade(pt).stages[1].antialias and not load_cascade(ROOT / "weights" / "fast.pt").stages[1].antialias
    assert _exported_like_torch(pt, tmp_path / "aa.onnx", capsys, blurred, models[1]).antialias


def test_a_stride4_stem_round_trips_through_torch_and_onnx(tmp_path, capsys):
    """A stage with the stride-4 stem (models/resnet.py STEMS) takes the shipped weights as they are
    (the same state-dict keys), and its files say which stem it has: the torch file and the ONNX
    file load back with it and give the torch network's points."""
    from dataclasses import replace

    from facealign.formats.cascade_pt import save_cascade

    casc = load_cascade(ROOT / "weights" / "fast.pt")
    stages = [casc.stages[0], replace(casc.stages[1], stem="stride4")]
    models = casc.models()
    moved = stages[1].build()
    moved.load_state_dict(models[1].state_dict())  # strict: every key fits
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in moved.stem)
    assert moved.stem[0].stride == (4, 4) and models[1].stem[0].stride == (2, 2)
    pt = tmp_path / "s4.pt"
    save_cascade(pt, stages, [models[0], moved.eval()], {"preset": "fast"}, half=False)
    assert load_cascade(pt).stages[1].stem == "stride4"
    assert _exported_like_torch(pt, tmp_path / "s4.onnx", capsys, moved, models[1]).stem == "stride4"
