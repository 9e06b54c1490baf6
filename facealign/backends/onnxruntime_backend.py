"""ONNX Runtime backend: a facealign ONNX cascade (formats/onnx_cascade.py) run by ONNX Runtime.

ONNX Runtime insists on every graph input being fed, so each stage runs in its
own session built from its extracted subgraph: `session.run([out], {in: x})`
computes that stage alone. Imports neither PyTorch nor anything of training.
"""
from __future__ import annotations

import logging

import numpy as np

from ..formats.onnx_cascade import io_names, read_onnx
from .devices import check_device, cuda_index

log = logging.getLogger(__name__)


def session_options(threads: int | None = None):
    """CPU session options for low latency: all graph optimisations, sequential execution,
    `threads` intra-op threads (None: ONNX Runtime's default, one per physical core)."""
    import onnxruntime as ort

    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.log_severity_level = 3  # errors only
    return opts


def providers_for(device: str = "auto", providers: list | None = None) -> list:
    """Execution providers: `providers` if given; else CPU, or CUDA first for device="cuda[:N]"."""
    import onnxruntime as ort

    device = check_device(device)
    if providers:
        return list(providers)
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError(f"device={device!r} asked for, but this onnxruntime has no CUDA provider "
                             "(pip install onnxruntime-gpu, or use device='cpu')")
        return [("CUDAExecutionProvider", {"device_id": cuda_index(device)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _runner(session, name_in: str, name_out: str):
    def run(x: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 RGB in [0, 1] -> (N, 68, 2) float32 normalised."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return session.run([name_out], {name_in: x})[0]
    return run


def load(path, device: str = "auto", threads: int | None = None, providers: list | None = None):
    """Load a facealign ONNX cascade into one ONNX Runtime session per stage -> CascadeModel.

    device: "auto"/"cpu" (CPU provider) or "cuda[:N]" (CUDA provider, needs onnxruntime-gpu);
    threads: intra-op threads per session (None: the library default);
    providers: ONNX Runtime execution providers, overriding `device`.
    """
    import onnxruntime as ort

    from . import CascadeModel

    casc = read_onnx(path)
    opts = session_options(threads)
    providers = providers_for(device, providers)
    runners = []
    for i in range(len(casc.stages)):
        session = ort.InferenceSession(casc.stage_bytes(i), sess_options=opts, providers=providers)
        runners.append(_runner(session, *io_names(i)))
    log.info("loaded %s: %d stage(s), providers %s", path, len(runners), providers)
    return CascadeModel(casc.stages, runners, "onnxruntime", casc.meta)
