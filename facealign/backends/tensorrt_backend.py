"""TensorRT backend (TensorRT 10 and 11 Python APIs, NVIDIA GPU): one FP16 engine per stage.

`load(path)` takes:
  * a `.engine` file written by `facealign export WEIGHTS --format engine` (formats/engine_file.py);
  * a facealign `.onnx` file, or a cascade `.pt` (exported to ONNX in memory):
    each stage's subgraph is built into an FP16 engine with a dynamic batch
    profile (min 1, opt 4, max 16) and cached (backends/engine_cache.py), so the
    minute-long build happens once per machine, GPU, TensorRT version and recipe.

FP16 on both major versions: TensorRT 10 builds the float32 graph with the FP16
builder flag; TensorRT 11 removed that flag (networks are always strongly typed),
so it builds a float16-typed copy of the graph (formats/onnx_fp16.py) whose
inputs and outputs stay float32. Which one is used is the recipe's precision.

Runners take (N, 3, S, S) float32 RGB in [0, 1] numpy arrays, copy them to torch
CUDA tensors and run `execute_async_v3` on a private torch CUDA stream; they
return (N, K, 2) float32 normalised outputs and the (N, K) point scores of a stage that has
them (its `stage{i}_scores` output; None otherwise). Batches above the profile's max run in chunks.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..formats.engine_file import read_engine_file, write_engine_file
from ..install import TENSORRT_INDEX, pip_hint
from ..formats.onnx_cascade import OnnxCascade, io_names, read_onnx
from . import join_chunks
from .devices import check_device
from .engine_cache import BuildRecipe, EngineCache, engine_key

log = logging.getLogger(__name__)


INSTALL_HINT = ("the TensorRT backend needs the `tensorrt` package and an NVIDIA GPU: "
                f"{pip_hint('tensorrt', TENSORRT_INDEX)} -- or use backend='onnxruntime' / 'torch'")


def import_tensorrt():
    """`import tensorrt`, or an ImportError saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return trt


def cuda_device(device: str = "cuda"):
    """torch and the torch.device a TensorRT engine runs on; ValueError for a CPU device."""
    device = check_device(device)
    if device == "cpu":
        raise ValueError("the TensorRT backend runs on a CUDA GPU, not device='cpu'; "
                         "use backend='onnxruntime' or 'torch' for the CPU")
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("the TensorRT backend needs an NVIDIA GPU, and PyTorch sees no CUDA device")
    dev = torch.device("cuda" if device == "auto" else device)
    return torch, torch.device("cuda", torch.cuda.current_device() if dev.index is None else dev.index)


def default_recipe(trt=None) -> BuildRecipe:
    """FP16 the way this TensorRT offers it: the builder flag (10.x), else a float16-typed graph (11.x)."""
    trt = trt or import_tensorrt()
    return BuildRecipe("fp16-flag" if hasattr(trt.BuilderFlag, "FP16") else "fp16-typed")


def stage_onnx(casc: OnnxCascade, i: int, recipe: BuildRecipe) -> bytes:
    """The ONNX bytes TensorRT builds stage i from, as the recipe wants them typed."""
    model = casc.stage_model(i)
    if recipe.precision == "fp16-typed":
        from ..formats.onnx_fp16 import to_float16

        model = to_float16(model)
    return model.SerializeToString()


def build_engine(onnx_bytes: bytes, input_name: str, input_size: int, recipe: BuildRecipe,
                 in_channels: int = 3) -> bytes:
    """One stage's ONNX subgraph -> serialized TensorRT engine with a dynamic batch profile.

    Builds on the current CUDA device. TensorRT 10 and 11: `create_network(0)` is an
    explicit-batch network (strongly typed on 11 always); the FP16 flag only where it exists.
    """
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX graph of {input_name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, recipe.workspace)
    if recipe.precision == "fp16-flag":
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise RuntimeError(f"TensorRT {trt.__version__} has no FP16 builder flag; use the 'fp16-typed' recipe")
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, *[(b, in_channels, input_size, input_size) for b in recipe.profile])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {input_name} (see the TensorRT log above)")
    return bytes(serialized)


def cached_engines(casc: OnnxCascade, cache_dir=None, device: str = "cuda",
                   recipe: BuildRecipe | None = None) -> tuple[list[bytes], list[str], BuildRecipe]:
    """(serialized engines, cache keys, recipe) for each stage, built once per key and cached."""
    trt = import_tensorrt()
    torch, dev = cuda_device(device)
    recipe = recipe or default_recipe(trt)
    cache, gpu = EngineCache(cache_dir), torch.cuda.get_device_name(dev)
    engines, keys = [], []
    with torch.cuda.device(dev):
        for i, spec in enumerate(casc.stages):
            data = stage_onnx(casc, i, recipe)
            key = engine_key(data, recipe, gpu, trt.__version__)
            engines.append(cache.get_or_build(key, lambda: build_engine(data, io_names(i)[0], spec.input_size, recipe,
                                                                        spec.in_channels)))
            keys.append(key)
    return engines, keys, recipe


def engine_header(casc: OnnxCascade, recipe: BuildRecipe, device: str = "cuda") -> dict:
    trt = import_tensorrt()
    torch, dev = cuda_device(device)
    n = len(casc.stages)
    return {"stages": [asdict(s) for s in casc.stages], "meta": casc.meta,
            "inputs": [io_names(i)[0] for i in range(n)], "outputs": [io_names(i)[1] for i in range(n)],
            "scores": casc.score_outputs,
            "tensorrt": trt.__version__, "gpu": torch.cuda.get_device_name(dev), "recipe": recipe.as_dict()}


def save_engine(path, onnx_model, cache_dir=None, device: str = "cuda") -> Path:
    """facealign ONNX model (onnx.ModelProto with metadata) -> `.engine` file at `path`."""
    casc = OnnxCascade.from_model(onnx_model)
    engines, _, recipe = cached_engines(casc, cache_dir, device)
    return write_engine_file(path, engine_header(casc, recipe, device), engines)


def bound_outputs(tensor_names, input_name: str, output_name: str, scores_name: str | None = None) -> list[str]:
    """The output tensors a runner binds: its points, then its scores where the stage has them.
    ValueError when the engine lacks one of these tensors or has another (TensorRT runs only with
    every IO tensor's address set, so an output nobody binds would fail at execution)."""
    want = [input_name, output_name] + ([scores_name] if scores_name else [])
    missing, extra = [n for n in want if n not in tensor_names], sorted(set(tensor_names) - set(want))
    if missing or extra:
        raise ValueError(f"engine has tensors {sorted(tensor_names)}, expected {want}; rebuild it with "
                         "`facealign export WEIGHTS --format engine`")
    return want[1:]


class EngineRunner:
    """(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised, (N, K) float32 point scores
    or None), on one TensorRT engine. scores_name: the engine's scores output, None when it has none."""

    def __init__(self, runtime, engine_bytes: bytes, input_name: str, output_name: str, device: str = "cuda",
                 scores_name: str | None = None):
        trt = import_tensorrt()
        torch, self.device = cuda_device(device)
        self.torch = torch
        with torch.cuda.device(self.device):
            self.engine = runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise RuntimeError("TensorRT could not deserialize the engine (built with another TensorRT "
                                   f"version or GPU? this is TensorRT {trt.__version__}); rebuild it with "
                                   "`facealign export WEIGHTS --format engine`")
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        self.runtime = runtime  # the engine must not outlive its runtime
        self.lock = threading.Lock()  # one execution context: one call at a time
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.out_names = bound_outputs(names, input_name, output_name, scores_name)
        if self.engine.get_tensor_mode(input_name) != trt.TensorIOMode.INPUT:
            raise ValueError(f"engine tensor {input_name} is not an input")
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        self.in_name = input_name
        self.in_dtype = dtypes[self.engine.get_tensor_dtype(input_name)]
        self.out_dtypes = [dtypes[self.engine.get_tensor_dtype(n)] for n in self.out_names]
        self.max_batch = int(self.engine.get_tensor_profile_shape(input_name, 0)[2][0])

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        torch, ctx = self.torch, self.context
        with self.lock, torch.cuda.device(self.device), torch.cuda.stream(self.stream), torch.inference_mode():
            inp = torch.from_numpy(x).to(self.device, self.in_dtype).contiguous()
            ctx.set_input_shape(self.in_name, tuple(inp.shape))
            ctx.set_tensor_address(self.in_name, inp.data_ptr())
            outs = []
            for name, dtype in zip(self.out_names, self.out_dtypes):
                outs.append(torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dtype, device=self.device))
                ctx.set_tensor_address(name, outs[-1].data_ptr())
            if not ctx.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            got = [o.float().cpu().numpy() for o in outs]  # .cpu() waits for the stream
            return got[0], (got[1] if len(got) > 1 else None)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = np.ascontiguousarray(x, np.float32)
        return join_chunks([self._run(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)])


def _onnx_cascade(path) -> OnnxCascade:
    """A .onnx file, or a .pt cascade exported to ONNX in memory."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return read_onnx(path)
    if suffix == ".pt":
        from ..formats.cascade_pt import load_cascade
        from ..formats.hashing import sha256_file
        from ..formats.onnx_cascade import to_onnx

        return OnnxCascade.from_model(to_onnx(load_cascade(path), weights_sha256=sha256_file(path)))
    raise ValueError(f"{path}: the TensorRT backend reads .engine, .onnx or .pt files")


def load(path, device: str = "cuda", cache_dir=None):
    """Load a .engine, .onnx or .pt cascade onto the GPU with TensorRT -> CascadeModel.

    device: "cuda", "cuda:N" or "auto" (the current CUDA device); cache_dir: the engine cache
    (default ~/.cache/facealign/engines).
    """
    from ..models.cascade import StageSpec
    from . import CascadeModel

    trt = import_tensorrt()
    cuda_device(device)
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    path = Path(path)
    if path.suffix.lower() == ".engine":
        header, engines = read_engine_file(path)
        if header.get("tensorrt") != trt.__version__:
            log.warning("%s was built with TensorRT %s, this is %s: it may not load",
                        path, header.get("tensorrt"), trt.__version__)
        stages, meta = [StageSpec(**s) for s in header["stages"]], header.get("meta", {})
        scores = header_scores(header)
        runners = [EngineRunner(runtime, e, i, o, device, sc)
                   for e, i, o, sc in zip(engines, header["inputs"], header["outputs"], scores)]
    else:
        casc = _onnx_cascade(path)
        stages, meta, scores = casc.stages, casc.meta, casc.score_outputs
        runners = _cached_runners(runtime, casc, cache_dir, device)
    log.info("loaded %s with TensorRT %s: %d stage(s)", path, trt.__version__, len(runners))
    return CascadeModel(stages, runners, "tensorrt", meta, has_scores=bool(scores[-1]))


def header_scores(header: dict) -> list[str | None]:
    """An engine file header's scores output per stage (None: none; version 1 files have no "scores")."""
    return list(header.get("scores") or [None] * len(header["inputs"]))


def _cached_runners(runtime, casc: OnnxCascade, cache_dir, device) -> list[EngineRunner]:
    """Runners from cached engines; an engine TensorRT refuses is dropped from the cache and rebuilt once."""
    engines, keys, recipe = cached_engines(casc, cache_dir, device)
    runners = []
    for i, (engine, key) in enumerate(zip(engines, keys)):
        try:
            runners.append(EngineRunner(runtime, engine, *io_names(i), device, casc.score_outputs[i]))
        except RuntimeError as e:
            log.warning("cached engine %s did not load (%s); rebuilding it", key, e)
            EngineCache(cache_dir).invalidate(key)
            fresh, _, _ = cached_engines(casc, cache_dir, device, recipe)
            runners.append(EngineRunner(runtime, fresh[i], *io_names(i), device, casc.score_outputs[i]))
    return runners
