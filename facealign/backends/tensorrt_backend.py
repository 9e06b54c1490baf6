"""TensorRT backend (TensorRT 10 Python API, NVIDIA GPU): one FP16 engine per stage.

`load(path)` takes:
  * a `.engine` file written by `facealign export WEIGHTS --format engine`;
  * a facealign `.onnx` file, or a cascade `.pt` (exported to ONNX in memory):
    each stage's subgraph is built into an FP16 engine with a dynamic batch
    profile (min 1, opt 4, max 16) and cached in ~/.cache/facealign/engines/
    under a name made of the GPU name, the TensorRT version and the sha256 of
    the stage's ONNX bytes, so the (minute-long) build happens once per machine.

The `.engine` file layout (all integers little-endian):

    8 bytes   magic b"FAENGINE"
    4 bytes   uint32 H: length of the header
    H bytes   header, UTF-8 JSON: {"format": "facealign-tensorrt-cascade", "version": 1,
              "stages": [StageSpec dicts], "meta": {...}, "inputs": [...], "outputs": [...],
              "engine_sizes": [bytes per stage], "tensorrt": "10.x", "gpu": "NVIDIA H100 ..."}
    then      the serialized engines of stage 1, 2, ... back to back (sizes from the header)

An engine runs only with the TensorRT version (and, as a rule, the GPU model) it
was built with; rebuild with `facealign export` when either changes.

Runners take (N, 3, S, S) float32 RGB in [0, 1] numpy arrays, copy them to torch
CUDA tensors and run `execute_async_v3` on a private torch CUDA stream; they
return (N, 68, 2) float32 normalised outputs. Batches above 16 run in chunks.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..models.cascade import StageSpec

log = logging.getLogger(__name__)

MAGIC = b"FAENGINE"
FORMAT = "facealign-tensorrt-cascade"
FORMAT_VERSION = 1
PROFILE = (1, 4, 16)  # min, opt, max batch
DEFAULT_CACHE = Path("~/.cache/facealign/engines")
WORKSPACE_BYTES = 1 << 30


def import_tensorrt():
    """`import tensorrt`, or an ImportError saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise ImportError("the TensorRT backend needs the `tensorrt` package and an NVIDIA GPU: "
                          "pip install facealign[tensorrt]  (or use backend='onnxruntime' / 'torch')") from e
    return trt


def _require_cuda():
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("the TensorRT backend needs an NVIDIA GPU, and PyTorch sees no CUDA device")
    return torch


def _logger():
    trt = import_tensorrt()
    return trt.Logger(trt.Logger.WARNING)


# --- the .engine container: pure Python, no TensorRT needed ------------------------------------------

def write_engine_file(path, header: dict, engines: list[bytes]) -> None:
    """Write the container described in the module docstring (header gains engine_sizes)."""
    header = {**header, "format": FORMAT, "version": FORMAT_VERSION, "engine_sizes": [len(e) for e in engines]}
    blob = json.dumps(header).encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(blob)) + blob)
        for e in engines:
            f.write(e)
    tmp.replace(path)


def read_engine_file(path) -> tuple[dict, list[bytes]]:
    """-> (header dict, serialized engines). ValueError for anything that is not such a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such engine file")
    data = path.read_bytes()
    if data[:8] != MAGIC or len(data) < 12:
        raise ValueError(f"{path}: not a facealign engine file (write one with "
                         "`facealign export WEIGHTS --format engine`)")
    (n,) = struct.unpack("<I", data[8:12])
    try:
        header = json.loads(data[12:12 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: damaged engine header ({e})") from None
    if header.get("format") != FORMAT or header.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported engine file format {header.get('format')!r} "
                         f"version {header.get('version')}")
    engines, pos = [], 12 + n
    for size in header["engine_sizes"]:
        engines.append(data[pos:pos + size])
        pos += size
    if pos != len(data) or any(len(e) == 0 for e in engines):
        raise ValueError(f"{path}: truncated or padded engine file ({len(data)} bytes, expected {pos})")
    return header, engines


# --- building -------------------------------------------------------------------------------------

def build_engine(onnx_bytes: bytes, input_name: str, input_size: int, fp16: bool = True,
                 profile: tuple[int, int, int] = PROFILE) -> bytes:
    """One stage's ONNX subgraph -> serialized TensorRT engine with a dynamic batch profile."""
    trt = import_tensorrt()
    _require_cuda()
    logger = _logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: always explicit batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    opt = builder.create_optimization_profile()
    opt.set_shape(input_name, *[(b, 3, input_size, input_size) for b in profile])
    config.add_optimization_profile(opt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {input_name} (see the TensorRT log above)")
    return bytes(serialized)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def engine_key(onnx_bytes: bytes) -> str:
    """Cache file name: GPU name, TensorRT version, model hash."""
    trt = import_tensorrt()
    torch = _require_cuda()
    digest = hashlib.sha256(onnx_bytes).hexdigest()[:24]
    return f"{_slug(torch.cuda.get_device_name())}_trt{trt.__version__}_{digest}.engine"


def cached_engines(onnx_casc, cache_dir=None) -> list[bytes]:
    """Serialized FP16 engines for each stage of an OnnxCascade, built once and kept in cache_dir."""
    from .onnxruntime_backend import io_names

    cache = Path(cache_dir or DEFAULT_CACHE).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    engines = []
    for i, spec in enumerate(onnx_casc.stages):
        stage_bytes = onnx_casc.stage_bytes(i)
        path = cache / engine_key(stage_bytes)
        if path.is_file():
            engines.append(path.read_bytes())
            continue
        log.info("building a TensorRT FP16 engine for stage %d (once; cached as %s)", i + 1, path)
        engine = build_engine(stage_bytes, io_names(i)[0], spec.input_size)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(engine)
        tmp.replace(path)
        engines.append(engine)
    return engines


def _header(onnx_casc) -> dict:
    from .onnxruntime_backend import io_names

    trt = import_tensorrt()
    torch = _require_cuda()
    n = len(onnx_casc.stages)
    return {"stages": [asdict(s) for s in onnx_casc.stages], "meta": onnx_casc.meta,
            "inputs": [io_names(i)[0] for i in range(n)], "outputs": [io_names(i)[1] for i in range(n)],
            "tensorrt": trt.__version__, "gpu": torch.cuda.get_device_name()}


def save_engine(path, onnx_model, cache_dir=None) -> None:
    """facealign ONNX model (onnx.ModelProto with metadata) -> `.engine` file at `path`."""
    from .onnxruntime_backend import OnnxCascade, parse_metadata

    stages, meta = parse_metadata(onnx_model)
    casc = OnnxCascade(onnx_model, stages, meta)
    write_engine_file(path, _header(casc), cached_engines(casc, cache_dir))


# --- running --------------------------------------------------------------------------------------

class EngineRunner:
    """(N, 3, S, S) float32 RGB in [0, 1] -> (N, 68, 2) float32 normalised, on one TensorRT engine."""

    def __init__(self, runtime, engine_bytes: bytes, input_name: str, output_name: str, device: str = "cuda"):
        trt = import_tensorrt()
        torch = _require_cuda()
        self.torch, self.device = torch, torch.device(device)
        with torch.cuda.device(self.device):
            self.engine = runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise RuntimeError("TensorRT could not deserialize the engine (built with another TensorRT "
                                   f"version or GPU? this is TensorRT {trt.__version__}); rebuild it with "
                                   "`facealign export WEIGHTS --format engine`")
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        self.runtime = runtime  # the engine must not outlive its runtime
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if {input_name, output_name} - names:
            raise ValueError(f"engine has tensors {sorted(names)}, expected {input_name} and {output_name}")
        if self.engine.get_tensor_mode(input_name) != trt.TensorIOMode.INPUT:
            raise ValueError(f"engine tensor {input_name} is not an input")
        dtypes = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        self.in_name, self.out_name = input_name, output_name
        self.in_dtype = dtypes[self.engine.get_tensor_dtype(input_name)]
        self.out_dtype = dtypes[self.engine.get_tensor_dtype(output_name)]
        self.max_batch = int(self.engine.get_tensor_profile_shape(input_name, 0)[2][0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        torch, ctx = self.torch, self.context
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream), torch.inference_mode():
            inp = torch.from_numpy(x).to(self.device, self.in_dtype).contiguous()
            ctx.set_input_shape(self.in_name, tuple(inp.shape))
            out = torch.empty(tuple(ctx.get_tensor_shape(self.out_name)), dtype=self.out_dtype, device=self.device)
            ctx.set_tensor_address(self.in_name, inp.data_ptr())
            ctx.set_tensor_address(self.out_name, out.data_ptr())
            if not ctx.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            return out.float().cpu().numpy()  # .cpu() waits for the stream

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        return np.concatenate([self._run(x[i:i + self.max_batch]) for i in range(0, len(x), self.max_batch)])


def _sources(path, cache_dir):
    """-> (stage specs, meta, serialized engines, input names, output names) for any accepted file."""
    from .onnxruntime_backend import io_names, read_onnx

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".engine":
        header, engines = read_engine_file(path)
        trt = import_tensorrt()
        if header.get("tensorrt") != trt.__version__:
            log.warning("%s was built with TensorRT %s, this is %s: it may not load",
                        path, header.get("tensorrt"), trt.__version__)
        stages = [StageSpec(**s) for s in header["stages"]]
        return stages, header.get("meta", {}), engines, header["inputs"], header["outputs"]
    if suffix == ".onnx":
        casc = read_onnx(path)
    elif suffix == ".pt":
        from ..export import sha256_file, to_onnx
        from ..models.cascade import load_cascade
        from .onnxruntime_backend import OnnxCascade, parse_metadata

        model = to_onnx(load_cascade(path), weights_sha256=sha256_file(path))
        casc = OnnxCascade(model, *parse_metadata(model))
    else:
        raise ValueError(f"{path}: the TensorRT backend reads .engine, .onnx or .pt files")
    n = len(casc.stages)
    names = [io_names(i) for i in range(n)]
    return casc.stages, casc.meta, cached_engines(casc, cache_dir), [a for a, _ in names], [b for _, b in names]


def load(path, device: str = "cuda", cache_dir=None, **_):
    """Load a .engine, .onnx or .pt cascade onto the GPU with TensorRT -> CascadeModel."""
    from . import CascadeModel

    trt = import_tensorrt()
    _require_cuda()
    stages, meta, engines, inputs, outputs = _sources(path, cache_dir)
    runtime = trt.Runtime(_logger())
    runners = [EngineRunner(runtime, e, i, o, device) for e, i, o in zip(engines, inputs, outputs)]
    log.info("loaded %s with TensorRT %s: %d stage(s)", path, trt.__version__, len(runners))
    return CascadeModel(stages, runners, "tensorrt", meta)
