"""OpenVINO backend: a facealign ONNX cascade (formats/onnx_cascade.py) run by OpenVINO's CPU plugin.

The same .onnx files as the onnxruntime backend, one compiled model per stage from its extracted
subgraph, with the same runner contract. OpenVINO runs the INT8 (QDQ) files' convolutions in its own
int8 kernels: with accurate's file in less time than onnxruntime, with fast's in more (docs/speed.md,
section 11), so backend="auto" keeps onnxruntime and this backend is chosen by name.
Settings for low latency on one face at a time: one inference thread (like the onnxruntime backend's
default), the LATENCY hint, one stream. Each stage is compiled twice: with a static batch of 1, the
video case (OpenVINO's CPU plugin plans a static graph once: accurate's stage 2 took 0.83x the time of
the dynamic one), and with a dynamic batch axis for several faces in one call.
Imports openvino only when it loads something; no PyTorch.
"""
from __future__ import annotations

import logging

import numpy as np

from ..formats.onnx_cascade import io_names, read_onnx
from .devices import check_device, check_threads

log = logging.getLogger(__name__)

# OpenVINO's inference precision for the operations the file keeps in floating point (INFERENCE_PRECISION_HINT).
# f32 by default: OpenVINO's own default on CPUs with bfloat16 units is bf16, which rounds the decoding tail
# (argmax cells, offsets, scores) to 8 bits of mantissa, and with it the INT8 accurate file does not compile
# ("No suitable implementations": the batched MatMul of the tail after the int8 head). docs/speed.md, section 11.
PRECISIONS = ("f32", "bf16", "f16")
DEFAULT_PRECISION = "f32"
DEFAULT_THREADS = 1


def config(threads: int | None = None, precision: str | None = None) -> dict:
    """The CPU plugin's compile settings: `threads` inference threads (None: 1), `precision` (None: f32)."""
    check_threads(threads)
    precision = precision or DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return {"INFERENCE_NUM_THREADS": threads or DEFAULT_THREADS, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": precision}


def _request(compiled, names_out: list[str]):
    """An infer request of `compiled` -> a function x -> its outputs named `names_out`, as fresh arrays."""
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in names_out]

    def infer(x: np.ndarray) -> list[np.ndarray]:
        result = request.infer({0: x})
        return [np.array(result[o], copy=True) for o in outputs]  # the request reuses its buffers
    return infer


def _runner(single, batched):
    """One stage's runner: a batch of one face through `single` (static shape), any other through `batched`."""
    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised, (N, K) float32 point
        scores, or None when the stage has no scores output)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        outs = (single if len(x) == 1 else batched)(x)
        return outs[0], (outs[1] if len(outs) > 1 else None)
    return run


def load(path, device: str = "auto", threads: int | None = None, precision: str | None = None):
    """Load a facealign ONNX cascade into one OpenVINO CPU compiled model per stage -> CascadeModel.

    device: "auto" or "cpu" (a GPU is a ValueError: use the onnxruntime, torch or tensorrt backend);
    threads: inference threads per stage (None: 1);
    precision: OpenVINO's inference precision for the floating-point operations, f32 (default), bf16 or f16.
    """
    import openvino as ov

    from . import CascadeModel

    device = check_device(device)
    if device not in ("auto", "cpu"):
        raise ValueError(f"the openvino backend runs on the CPU only (device 'auto' or 'cpu'), got device={device!r}; "
                         "for a GPU use backend='onnxruntime' (onnxruntime-gpu), 'torch' or 'tensorrt'")
    settings = config(threads, precision)
    casc = read_onnx(path)
    core = ov.Core()
    runners = []
    for i, spec in enumerate(casc.stages):
        infers = []
        for batch in (1, -1):  # static batch of 1, then dynamic
            model = core.read_model(casc.stage_bytes(i), b"")
            model.reshape({io_names(i)[0]: [batch, 3, spec.input_size, spec.input_size]})
            try:
                compiled = core.compile_model(model, "CPU", settings)
            except RuntimeError as e:
                raise RuntimeError(f"{path}: OpenVINO could not compile stage {i + 1} with {settings} "
                                   f"(try precision='f32' or backend='onnxruntime'): {e}") from None
            infers.append(_request(compiled, casc.stage_outputs(i)))
        runners.append(_runner(*infers))
    log.info("loaded %s: %d stage(s) on OpenVINO CPU, %s", path, len(runners), settings)
    return CascadeModel(casc.stages, runners, "openvino", casc.meta, has_scores=bool(casc.score_outputs[-1]))
