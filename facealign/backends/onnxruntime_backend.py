"""ONNX Runtime backend: a facealign ONNX cascade (formats/onnx_cascade.py) run by ONNX Runtime.

ONNX Runtime insists on every graph input being fed, so each stage runs in its
own session built from its extracted subgraph: `session.run([out], {in: x})`
computes that stage alone. Imports neither PyTorch nor anything of training.
"""
from __future__ import annotations

import logging

import numpy as np

from ..formats.onnx_cascade import io_names, read_onnx
from ..formats.onnx_int8 import disabled_optimizers
from .devices import check_device, check_threads, cuda_index

log = logging.getLogger(__name__)


# the session settings a user may set (`session=` of load(), CLI `--session key=value,...`) and their defaults
OPTIMIZATION = ("disabled", "basic", "extended", "layout", "all")
EXECUTION = ("sequential", "parallel")
# chosen by `facealign bench --stages` (docs/speed.md): one intra-op thread per session (with the INT8
# files the presets ship, 0.77-0.86x the time of two threads for fast, 0.86-0.90x for accurate), and idle
# threads that never spin (spinning pools took 1.3-14x the time on 2 busy cores: they keep a core busy
# that the rest of the frame needs, should a user raise `threads`)
SESSION_DEFAULTS = {"threads": 1, "spinning": False, "optimization": "all", "execution": "sequential"}


def parse_session(spec=None, threads: int | None = None) -> dict:
    """Session settings from a dict or a "key=value,key=value" string, checked, over SESSION_DEFAULTS:

    threads       intra-op threads per session (default 1); 0: ONNX Runtime's own default (one per physical core)
    spinning      1/0: whether idle intra-op threads spin waiting for work (session.intra_op.allow_spinning)
    optimization  graph optimisation level: disabled, basic, extended, layout or all
    execution     sequential or parallel (operators of independent branches at once)
    `threads` (the backend's older option) is the same as session threads=N. ValueError names a bad key or value."""
    if isinstance(spec, str):
        items = [kv.partition("=") for kv in spec.split(",") if kv.strip()]
        bad = [k for k, eq, _ in items if not eq]
        if bad:
            raise ValueError(f"session settings are key=value pairs separated by commas; got {bad[0]!r}")
        spec = {k.strip(): v.strip() for k, _, v in items}
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SESSION_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown session setting(s) {', '.join(map(repr, unknown))}; valid: {', '.join(SESSION_DEFAULTS)}")
    if threads is not None:
        if "threads" in spec and _count(spec["threads"]) != threads:
            raise ValueError(f"threads={threads!r} and session threads={spec['threads']!r} disagree; give one")
        spec["threads"] = threads
    out = {**SESSION_DEFAULTS, **spec}
    out["threads"] = _count(out["threads"])
    out["spinning"] = _flag(out["spinning"], "spinning")
    for key, choices in (("optimization", OPTIMIZATION), ("execution", EXECUTION)):
        if out[key] not in choices:
            raise ValueError(f"session {key} must be one of {', '.join(choices)}, got {out[key]!r}")
    return out


def _count(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    if n < 0 or isinstance(value, (bool, float)):
        raise ValueError(f"session threads must be a whole number >= 0 (0: ONNX Runtime's own default), got {value!r}")
    return n


def _flag(value, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"session {key} must be 1/0 (true/false), got {value!r}")


def session_options(threads: int | None = None, session=None):
    """CPU session options for low latency (parse_session: by default all graph optimisations,
    sequential execution, one intra-op thread, no spinning); `threads` intra-op threads (None: the
    session settings')."""
    import onnxruntime as ort

    s = parse_session(session, check_threads(threads))
    opts = ort.SessionOptions()
    level = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
             "layout": "ORT_ENABLE_LAYOUT", "all": "ORT_ENABLE_ALL"}[s["optimization"]]
    opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    opts.execution_mode = getattr(ort.ExecutionMode, f"ORT_{s['execution'].upper()}")
    opts.inter_op_num_threads = 1
    if s["threads"]:
        opts.intra_op_num_threads = s["threads"]
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if s["spinning"] else "0")
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


def load(path, device: str = "auto", threads: int | None = None, providers: list | None = None, session=None):
    """Load a facealign ONNX cascade into one ONNX Runtime session per stage -> CascadeModel.

    device: "auto"/"cpu" (CPU provider) or "cuda[:N]" (CUDA provider, needs onnxruntime-gpu; a session
            that ONNX Runtime puts on the CPU instead is a RuntimeError, see check_session);
    threads: intra-op threads per session (None: the library default);
    providers: ONNX Runtime execution providers, overriding `device`;
    session: session settings, a dict or "key=value,..." (parse_session: threads, spinning,
             optimization, execution).
    """
    import onnxruntime as ort

    from . import CascadeModel

    casc = read_onnx(path)
    opts = session_options(threads, session)
    providers = providers_for(device, providers)
    disabled = disabled_optimizers(casc.meta)  # an INT8 file with float stems (formats/onnx_int8.py)
    runners = []
    for i in range(len(casc.stages)):
        session = ort.InferenceSession(casc.stage_bytes(i), sess_options=opts, providers=providers,
                                       disabled_optimizers=disabled)
        got = check_session(session, providers, device)
        runners.append(_runner(session, io_names(i)[0], casc.stage_outputs(i)))
    log.info("loaded %s: %d stage(s), providers %s", path, len(runners), got)
    return CascadeModel(casc.stages, runners, "onnxruntime", casc.meta, has_scores=bool(casc.score_outputs[-1]))
