"""Backends on real 300-W faces: torch vs ONNX Runtime parity, metadata, backend choice, TensorRT/CUDA.

Two cascades are exercised: the shipped weights/accurate.pt (one or two stages)
and a two-stage cascade built here (accurate's stage 1 + a randomly initialised
point-crop residual stage 2 at another input size), so every stage subgraph of
the ONNX file runs. GPU tests skip with a reason where there is no GPU.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.backends import backend_for, load_backend
from facealign.data import load_split
from facealign.export import export
from facealign.formats.cascade_pt import load_cascade, save_cascade
from facealign.formats.hashing import sha256_file
from facealign.formats.onnx_cascade import read_onnx
from facealign.models.cascade import StageSpec, mean_template, to_input
from facealign.transform import points_box

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "300w"
ACCURATE = ROOT / "weights" / "accurate.pt"
FACES = (0, 41, 97, 230, 333, 480)  # a spread of helen and lfpw test faces

# Measured on 51 common-set faces (torch 2.14.1 CPU, onnxruntime 1.32): on identical crops the
# normalised outputs differ by at most 2.7e-7 (both stages). Frame points: stage 1 by 6e-5 px; stage 2
# by 5.8e-3 px, because its crop is placed by stage 1's (slightly different) points and the random
# stage 2 is very sensitive to its input. The bounds leave ~10x headroom or more.
MAX_ERR_NORM = 1e-5
MAX_ERR_PX = 0.05  # 384 x 384 pictures
# FP16 on a GPU (TensorRT, torch CUDA): not measured here (no GPU on the development machine);
# a bound typical of FP16 ResNets, ~10x the float16 step at outputs of magnitude 1.
MAX_ERR_FP16 = 2e-2

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"300-W data not found at {DATA}")
needs_weights = pytest.mark.skipif(not ACCURATE.is_file(), reason=f"{ACCURATE} not shipped in this checkout")
pytestmark = [needs_data, needs_weights]


def _cuda() -> bool:
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def faces():
    common = load_split("common", DATA)
    frames = [common.image(i) for i in FACES]
    pts = np.stack([common[i].pts for i in FACES])
    return frames, np.stack([points_box(p) for p in pts]), common.points()


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial random weights: BN scales/shifts/statistics and the head drawn at random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=g) * 2e-3)  # outputs of magnitude ~1
    return model.eval()


@pytest.fixture(scope="module")
def two_stage_pt(tmp_path_factory, faces):
    """accurate's first stage + a random residual stage 2 (point crop, 96 px, width 0.25)."""
    casc = load_cascade(ACCURATE)
    template = mean_template(faces[2], 96, 1.35)
    spec2 = StageSpec(model="resnet18", width=0.25, head="avg", input_size=96, crop="points",
                      template=template.tolist(), residual=True)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("two_stage") / "two_stage.pt"
    save_cascade(path, [casc.stages[0], spec2], [casc.models()[0], randomised(spec2.build())],
                 meta={"preset": "two-stage-test", "note": "random stage 2"})
    return path


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory, two_stage_pt):
    """{name: (pt path, onnx path)} for the shipped cascade and the two-stage one."""
    out = tmp_path_factory.mktemp("onnx")
    return {"accurate": (ACCURATE, export(ACCURATE, "onnx", out / "accurate.onnx", preset="accurate")),
            "two_stage": (two_stage_pt, export(two_stage_pt, "onnx", out / "two_stage.onnx"))}


def stage_inputs(model, frames, boxes_xyxy) -> list[np.ndarray]:
    """Each stage's (N, 3, S, S) input on real crops, stage k placed by `model`'s stage k-1 points."""
    pts = model(frames, boxes_xyxy)
    inputs = []
    for k, spec in enumerate(model.stages):
        if spec.crop == "box":
            tfs = [spec.transform(box_xyxy=b) for b in boxes_xyxy]
        else:
            tfs = [spec.transform(pts_frame=p) for p in pts[k - 1]]
        inputs.append(to_input([t.warp(f) for t, f in zip(tfs, frames)]))
    return inputs


@pytest.mark.parametrize("name", ["accurate", "two_stage"])
def test_onnxruntime_matches_torch_on_real_faces(name, onnx_files, faces):
    pt, onnx_path = onnx_files[name]
    frames, boxes, _ = faces
    ref, ort = load_backend(pt, "torch", device="cpu"), load_backend(onnx_path)
    assert ort.backend == "onnxruntime" and len(ort.runners) == len(ref.stages)
    pts_ref, pts_ort = ref(frames, boxes), ort(frames, boxes)
    for k, (a, b) in enumerate(zip(pts_ref, pts_ort)):
        assert a.shape == b.shape == (len(FACES), 68, 2)
        assert np.abs(a - b).max() < MAX_ERR_PX, f"stage {k + 1} frame points differ"
    for k, x in enumerate(stage_inputs(ref, frames, boxes)):
        out_ref, scores_ref = ref.runners[k](x)
        assert np.abs(out_ref).max() > 0.1, "outputs too small for the comparison to mean anything"
        out, scores = ort.runners[k](x)  # batch of several
        assert np.abs(out - out_ref).max() < MAX_ERR_NORM
        assert (scores is None) == (scores_ref is None)
        if scores is not None:  # accurate's PIP stages score their points
            assert scores.shape == (len(FACES), 68) and scores.dtype == np.float32
            assert np.abs(scores - scores_ref).max() < MAX_ERR_NORM and scores.std() > 0.01
        one, _ = ort.runners[k](x[2:3])  # batch of one
        assert one.shape == (1, 68, 2) and one.dtype == np.float32
        assert np.abs(one - out_ref[2:3]).max() < MAX_ERR_NORM


def test_onnxruntime_and_torch_agree_on_the_point_scores_of_real_faces(onnx_files, faces):
    """accurate (PIP heads): the last stage's scores, (N, 68) in [0, 1], the same from both backends;
    the two-stage cascade's last stage (a regression head) has none: None from both, not made up."""
    frames, boxes, _ = faces
    pt, onnx_path = onnx_files["accurate"]
    ref, ort = load_backend(pt, "torch", device="cpu"), load_backend(onnx_path)
    assert ref.has_scores and ort.has_scores
    a, b = ref(frames, boxes).scores, ort(frames, boxes).scores
    assert a.shape == b.shape == (len(FACES), 68) and 0 <= b.min() and b.max() <= 1
    assert np.abs(a - b).max() < 0.01  # stage 2's crop follows stage 1's points (6e-5 px apart)
    pt, onnx_path = onnx_files["two_stage"]
    for model in (load_backend(pt, "torch", device="cpu"), load_backend(onnx_path)):
        assert not model.has_scores and model(frames, boxes).scores is None
    assert read_onnx(onnx_path).score_outputs == ["stage1_scores", None]


def test_a_version_1_onnx_file_still_loads_without_scores(tmp_path, faces):
    """An ONNX file from before point scores (format version 1: points outputs only) loads and gives
    the same points as today's file, and None for the scores."""
    import onnx

    from facealign.formats.onnx_cascade import to_onnx, write_onnx

    old = write_onnx(to_onnx(load_cascade(ACCURATE), preset="accurate", scores=False), tmp_path / "v1.onnx")
    props = {p.key: p.value for p in onnx.load(str(old)).metadata_props}
    assert props["facealign_format_version"] == "1" and "scores" not in props
    assert [o.name for o in onnx.load(str(old)).graph.output] == ["stage1_output", "stage2_output"]
    frames, boxes, _ = faces
    v1, v2 = load_backend(old), load_backend(ROOT / "weights" / "accurate.onnx")
    assert not v1.has_scores and v2.has_scores
    a, b = v1(frames, boxes), v2(frames, boxes)
    assert a.scores is None and b.scores.shape == (len(FACES), 68)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_onnx_metadata_round_trip(onnx_files):
    for pt, onnx_path in onnx_files.values():
        casc, read = load_cascade(pt), read_onnx(onnx_path)
        assert read.stages == casc.stages
        assert read.meta["weights_sha256"] == sha256_file(pt)
        assert read.meta["facealign_version"]
        props = {p.key: p.value for p in read.model.metadata_props}
        assert props["input_sizes"] == str([s.input_size for s in casc.stages])
        assert "RGB in [0,1]" in props["normalisation"]
    two = read_onnx(onnx_files["two_stage"][1])
    assert two.meta["preset"] == "two-stage-test" and two.meta["note"] == "random stage 2"
    assert two.stages[1].crop == "points" and two.stages[1].residual and two.stages[1].input_size == 96
    assert read_onnx(onnx_files["accurate"][1]).meta["preset"] == "accurate"


def test_each_stage_subgraph_stands_alone(onnx_files):
    casc = read_onnx(onnx_files["two_stage"][1])
    for k, spec in enumerate(casc.stages):
        sub = casc.stage_model(k)
        assert [i.name for i in sub.graph.input] == [f"stage{k + 1}_input"]
        assert [o.name for o in sub.graph.output] == [f"stage{k + 1}_output"] + ([f"stage{k + 1}_scores"] if k == 0 else [])
        dims = sub.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, spec.input_size, spec.input_size]


def test_backend_chosen_by_suffix(onnx_files):
    onnx_path = onnx_files["accurate"][1]
    assert load_backend(onnx_path).backend == "onnxruntime"
    gpu_trt = _cuda() and importlib.util.find_spec("tensorrt") is not None
    assert backend_for(ACCURATE) == ("tensorrt" if gpu_trt else "torch")
    assert backend_for(ACCURATE, device="cpu") == "torch"  # auto honours the device: never TensorRT on the CPU
    assert load_backend(ACCURATE, "torch", device="cpu").backend == "torch"
    assert backend_for("model.ENGINE") == "tensorrt"
    assert backend_for(onnx_path, "torch") == "torch"  # an explicit backend wins over the suffix


def test_unknown_backend_options_are_errors_listing_the_valid_ones(onnx_files):
    onnx_path = onnx_files["accurate"][1]
    with pytest.raises(ValueError, match="unknown option 'thread' for the onnxruntime backend; "
                                         "valid options: device, threads, providers, session"):
        load_backend(onnx_path, "onnxruntime", thread=2)
    with pytest.raises(ValueError, match="unknown options 'cache', 'threads' for the torch backend; "
                                         "valid options: device"):
        load_backend(ACCURATE, "torch", threads=2, cache="x")
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        load_backend(onnx_path, threads=0)
    with pytest.raises(ValueError, match="unknown device 'gpu'; use auto, cpu, cuda or cuda:N"):
        load_backend(onnx_path, device="gpu")
    assert load_backend(onnx_path, threads=1, device="cpu").backend == "onnxruntime"


def test_unknown_backend_suffix_or_file_is_a_clear_error(tmp_path, onnx_files):
    with pytest.raises(ValueError, match="unknown backend 'tflite'; choose from auto, torch"):
        load_backend(ACCURATE, "tflite")
    with pytest.raises(ValueError, match=r"cannot tell the backend from the suffix '\.tflite'"):
        load_backend(tmp_path / "model.tflite")
    import onnx

    plain = onnx.load(str(onnx_files["accurate"][1]))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ValueError, match="not a facealign ONNX cascade"):
        load_backend(tmp_path / "plain.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ValueError, match="junk.onnx"):
        load_backend(tmp_path / "junk.onnx")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_missing_says_how_to_install(tmp_path):
    """The extra's wheels live on NVIDIA's index (PyPI holds placeholders): the error names it."""
    with pytest.raises(ImportError, match=r'the tensorrt backend needs tensorrt.*pip install --extra-index-url '
                                          r'https://pypi.nvidia.com "\.\[tensorrt\]" in the facealign checkout'):
        load_backend(tmp_path / "model.engine")
    from facealign.backends.tensorrt_backend import INSTALL_HINT

    assert '--extra-index-url https://pypi.nvidia.com ".[tensorrt]" in the facealign checkout' in INSTALL_HINT


@pytest.mark.skipif("CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(),
                    reason="this onnxruntime has a working CUDA provider: nothing falls back")
def test_onnxruntime_on_cuda_that_falls_back_to_the_cpu_is_an_error(onnx_files, caplog):
    """ONNX Runtime drops a CUDA provider it cannot start and runs on the CPU, saying so only in its
    own (silenced) log: device="cuda" must not end there quietly."""
    _, path = onnx_files["accurate"]
    asked = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match=r"device='cuda'.*fell back to the CPU.*onnxruntime-gpu"):
        load_backend(path, "onnxruntime", device="cuda", providers=asked)
    with caplog.at_level("WARNING", logger="facealign.backends.onnxruntime_backend"):
        model = load_backend(path, "onnxruntime", providers=asked)  # device auto: a warning, and the CPU
    assert "dropped the provider(s) CUDAExecutionProvider" in caplog.text
    assert model.runners[0](np.zeros((1, 3, 128, 128), np.float32))[0].shape == (1, 68, 2)


@pytest.mark.gpu
def test_tensorrt_matches_torch_and_caches_engines(tmp_path, two_stage_pt, faces):
    pytest.importorskip("tensorrt", reason='TensorRT not installed (pip install ".[tensorrt]")')
    if not _cuda():
        pytest.skip("TensorRT needs a CUDA GPU and none is visible")
    frames, boxes, _ = faces
    cache = tmp_path / "cache"
    trt_model = load_backend(two_stage_pt, "tensorrt", cache_dir=cache)
    assert trt_model.backend == "tensorrt" and len(list(cache.glob("*.engine"))) == 2
    assert not list(cache.glob("*.tmp"))
    ref = load_backend(two_stage_pt, "torch", device="cpu")
    for k, x in enumerate(stage_inputs(ref, frames, boxes)):
        (got, scores), (want, want_scores) = trt_model.runners[k](x), ref.runners[k](x)
        assert np.abs(got - want).max() < MAX_ERR_FP16 and (scores is None) == (want_scores is None)
        if scores is not None:
            assert np.abs(scores - want_scores).max() < MAX_ERR_FP16
        big = np.concatenate([x] * 4)  # 24 > the profile's 16: runs in chunks
        assert np.abs(trt_model.runners[k](big)[0][-len(x):] - want).max() < MAX_ERR_FP16
    again = load_backend(two_stage_pt, "tensorrt", cache_dir=cache)  # from the cache this time
    assert len(list(cache.glob("*.engine"))) == 2 and len(again.runners) == 2


@pytest.mark.gpu
def test_torch_cuda_graphs_match_cpu(two_stage_pt, faces):
    if not _cuda():
        pytest.skip("no CUDA GPU visible")
    frames, boxes, _ = faces
    cpu, gpu = load_backend(two_stage_pt, "torch", device="cpu"), load_backend(two_stage_pt, "torch", device="cuda")
    for k, x in enumerate(stage_inputs(cpu, frames, boxes)):
        ref, ref_scores = cpu.runners[k](x)
        for n in (1, 3, len(x)):  # padded up to buckets 1, 4, 8
            got, scores = gpu.runners[k](x[:n])
            assert np.abs(got - ref[:n]).max() < MAX_ERR_FP16 and (scores is None) == (ref_scores is None)
            if scores is not None:
                assert np.abs(scores - ref_scores[:n]).max() < MAX_ERR_FP16
        big = np.concatenate([x] * 3)  # 18 > 16: chunked
        assert np.abs(gpu.runners[k](big)[0][-len(x):] - ref).max() < MAX_ERR_FP16
    for a, b in zip(cpu(frames, boxes), gpu(frames, boxes)):
        assert np.abs(a - b).max() < 1.0  # frame pixels of 384 px pictures


def test_graph_captures_are_thread_local_and_one_at_a_time():
    """Read here, run on a GPU (tools/gpu_check.py capture-threads, and the test below): captures use
    capture_error_mode="thread_local" (under the default "global", another thread's CUDA call during a
    capture, as the web page makes while it serves, invalidates it) and hold one process-wide lock."""
    import inspect
    import threading

    from facealign.backends import torch_backend

    assert torch_backend.CAPTURE_MODE == "thread_local"
    assert isinstance(torch_backend.CAPTURE_LOCK, type(threading.Lock()))
    source = inspect.getsource(torch_backend.GraphedRunner._capture)
    assert "with CAPTURE_LOCK" in source and "capture_error_mode=CAPTURE_MODE" in source


@pytest.mark.gpu
def test_graphs_captured_in_two_threads_while_a_third_replays(two_stage_pt, faces):
    if not _cuda():
        pytest.skip("no CUDA GPU visible")
    import threading

    frames, boxes, _ = faces
    first = load_backend(two_stage_pt, "torch", device="cuda")
    want, errors, models, stop = first(frames, boxes), [], [], threading.Event()

    def replay():
        while not stop.is_set():
            if np.abs(first(frames, boxes)[-1] - want[-1]).max() > 1e-3:
                errors.append("a replay changed its answer")

    def capture():
        try:
            models.append(load_backend(two_stage_pt, "torch", device="cuda"))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    busy, loaders = threading.Thread(target=replay), [threading.Thread(target=capture) for _ in range(2)]
    for t in [busy, *loaders]:
        t.start()
    for t in loaders:
        t.join()
    stop.set()
    busy.join()
    assert not errors and len(models) == 2, errors


def test_available_backends_are_those_whose_packages_are_installed():
    from facealign.backends import FORMATS, available_backends, check_packages
    from facealign.backends.devices import torch_cuda

    found = available_backends()
    assert "onnxruntime" in found and set(found) <= set(FORMATS)
    for name in found:
        check_packages(name)  # raises if one is missing
    assert ("tensorrt" in found) <= torch_cuda()  # a GPU backend only with a CUDA GPU
    assert "tensorrt" not in available_backends("cpu")
