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


def provider_names(providers: list) -> list[str]:
    """Execution providers as names (an entry may be (name, options))."""
    return [p if isinstance(p, str) else p[0] for p in providers]


def check_session(session, providers: list, device: str = "auto") -> list[str]:
    """The providers `session` really runs on. ONNX Runtime drops a provider it cannot load (a CUDA
    provider without its CUDA/cuDNN libraries, one not in this build) and runs on the CPU, saying so
    only in its own log, which session_options() silences: device="cuda[:N]" ending on the CPU alone
    is a RuntimeError; another dropped provider is a logged warning."""
    got = list(session.get_providers())
    dropped = [name for name in provider_names(providers) if name not in got]
    if device.startswith("cuda") and all(name == "CPUExecutionProvider" for name in got):
        raise RuntimeError(f"device={device!r}: ONNX Runtime could not start {', '.join(dropped) or 'a GPU provider'} "
                           f"and fell back to the CPU (this onnxruntime offers {', '.join(available_providers())}); "
                           "install onnxruntime-gpu built for this CUDA (with cuDNN) or use device='cpu'")
    if dropped:
        log.warning("ONNX Runtime dropped the provider(s) %s; running on %s", ", ".join(dropped), ", ".join(got))
    return got


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _runner(session, name_in: str, names_out: list[str]):
    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised, (N, K) float32 point
        scores, or None when the stage has no scores output)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        outs = session.run(names_out, {name_in: x})
        return outs[0], (outs[1] if len(outs) > 1 else None)
    return run


def load(path, device: str = "auto", threads: int | None = None, providers: list | None = None):
    """Load a facealign ONNX cascade into one ONNX Runtime session per stage -> CascadeModel.

    device: "auto"/"cpu" (CPU provider) or "cuda[:N]" (CUDA provider, needs onnxruntime-gpu; a session
            that ONNX Runtime puts on the CPU instead is a RuntimeError, see check_session);
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
        got = check_session(session, providers, device)
        runners.append(_runner(session, io_names(i)[0], casc.stage_outputs(i)))
    log.info("loaded %s: %d stage(s), providers %s", path, len(runners), got)
    return CascadeModel(casc.stages, runners, "onnxruntime", casc.meta, has_scores=bool(casc.score_outputs[-1]))
