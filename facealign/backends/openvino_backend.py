"""OpenVINO backend: a facealign ONNX cascade (formats/onnx_cascade.py) run by OpenVINO's CPU plugin.

The same .onnx files as the onnxruntime backend, one compiled model per stage from its extracted
subgraph, with the same runner contract. OpenVINO runs the INT8 (QDQ) files' convolutions in its own
int8 kernels, which on the shipped files took less time than onnxruntime's (docs/speed.md, section 11).
Settings for low latency on one face at a time: one inference thread (like the onnxruntime backend's
default), the LATENCY hint, one stream; the batch axis stays dynamic, so several faces go in one call.
Imports openvino only when it loads something; no PyTorch.
"""
from __future__ import annotations

import logging

import numpy as np

from ..formats.onnx_cascade import read_onnx
from .devices import check_device

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
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    precision = precision or DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return {"INFERENCE_NUM_THREADS": threads or DEFAULT_THREADS, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
            "INFERENCE_PRECISION_HINT": precision}


def _runner(compiled, names_out: list[str]):
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in names_out]

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised, (N, K) float32 point
        scores, or None when the stage has no scores output)."""
        result = request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        outs = [np.array(result[o], copy=True) for o in outputs]  # the request reuses its buffers
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
    for i in range(len(casc.stages)):
        model = core.read_model(casc.stage_bytes(i), b"")
        try:
            compiled = core.compile_model(model, "CPU", settings)
        except RuntimeError as e:
            raise RuntimeError(f"{path}: OpenVINO could not compile stage {i + 1} with {settings} "
                               f"(try precision='f32' or backend='onnxruntime'): {e}") from None
        runners.append(_runner(compiled, casc.stage_outputs(i)))
    log.info("loaded %s: %d stage(s) on OpenVINO CPU, %s", path, len(runners), settings)
    return CascadeModel(casc.stages, runners, "openvino", casc.meta, has_scores=bool(casc.score_outputs[-1]))
