"""PyTorch backend: the cascade `.pt` file (formats/cascade_pt.py) run by PyTorch.

CPU: float32, eager. CUDA: float16 in channels_last with CUDA graphs; a batch is
padded up to the next bucket size (1, 2, 4, 8, 16; larger batches go in chunks
of 16). Every bucket's graph is captured once, at load, on the runner's own
device, with static input/output buffers, so a frame costs one graph replay per
stage. One capture at a time in the process (captures and the warm-up before them
hold CAPTURE_LOCK), in capture_error_mode "thread_local": the web page builds aligners
while it serves, and under the default "global" mode another thread's CUDA calls
(a replay, an upload) during a capture invalidate it. A model captured here must
create no tensor from host data and make no host sync in its forward
(tests/test_heads.py checks every registered head).
"""
from __future__ import annotations

import logging
import threading

import numpy as np
import torch

from ..formats.cascade_pt import load_cascade
from . import join_chunks
from .devices import check_device

log = logging.getLogger(__name__)

BUCKETS = (1, 2, 4, 8, 16)
CAPTURE_LOCK = threading.Lock()  # one CUDA graph capture at a time in this process
CAPTURE_MODE = "thread_local"  # only this thread's CUDA calls can invalidate a capture


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a CUDA GPU is visible, else "cpu"; "cuda" -> "cuda:<current>"."""
    device = check_device(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device={device!r} asked for, but PyTorch sees no CUDA GPU")
        index = torch.device(device).index
        device = f"cuda:{torch.cuda.current_device() if index is None else index}"
        if torch.device(device).index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: PyTorch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.float().cpu().numpy()


class EagerRunner:
    """(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised, (N, K) float32 point scores
    or None without them: the model's infer()), float32 eager."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu"):
        self.model, self.device = model.to(device).float().eval(), device

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        with torch.inference_mode():
            points, scores = self.model.infer(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device))
            return _numpy(points), _numpy(scores)


class GraphedRunner:
    """Same contract as EagerRunner, on a CUDA device in float16 channels_last, one CUDA graph per bucket.
    Heads decode in float32 inside the graph (e.g. PIP's argmax), so outputs may be float16 or float32;
    the runner returns float32."""

    def __init__(self, model: torch.nn.Module, input_size: int, device: str = "cuda:0", buckets=BUCKETS,
                 in_channels: int = 3):
        self.device = torch.device(device)
        self.model = model.to(self.device).half().to(memory_format=torch.channels_last).eval()
        self.size, self.buckets, self.channels = input_size, tuple(buckets), in_channels
        self.lock = threading.Lock()  # one replay at a time: the static buffers are shared
        self.graphs = {n: self._capture(n) for n in self.buckets}

    def _capture(self, n: int):
        """Warm up and capture the graph of batch `n` on this runner's device, under CAPTURE_LOCK."""
        with CAPTURE_LOCK, torch.cuda.device(self.device), torch.inference_mode():
            static_in = torch.zeros((n, self.channels, self.size, self.size), dtype=torch.float16, device=self.device)
            static_in = static_in.contiguous(memory_format=torch.channels_last)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
                for _ in range(3):
                    self.model.infer(static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=torch.cuda.Stream(self.device), capture_error_mode=CAPTURE_MODE):
                static_out = self.model.infer(static_in)  # (points, scores or None)
            torch.cuda.synchronize(self.device)
        log.debug("captured a CUDA graph for batch %d at %dpx on %s", n, self.size, self.device)
        return graph, static_in, static_out

    def _run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(x)
        bucket = next(b for b in self.buckets if b >= n)
        graph, static_in, (points, scores) = self.graphs[bucket]
        with self.lock, torch.cuda.device(self.device), torch.inference_mode():
            static_in[:n].copy_(x)
            if n < bucket:
                static_in[n:].zero_()
            graph.replay()
            return _numpy(points[:n]), None if scores is None else _numpy(scores[:n])

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        top = self.buckets[-1]
        return join_chunks([self._run(t[i:i + top]) for i in range(0, len(t), top)])


def load(path, device: str = "auto"):
    """Cascade file or training checkpoint -> CascadeModel.

    device: "cpu" (float32 eager), "cuda[:i]" (float16 + CUDA graphs) or "auto" (CUDA when visible).
    """
    from . import CascadeModel

    device = resolve_device(device)
    casc = load_cascade(path)
    models = casc.models()
    if device.startswith("cuda"):
        runners = [GraphedRunner(m, s.input_size, device, in_channels=s.in_channels) for m, s in zip(models, casc.stages)]
    else:
        runners = [EagerRunner(m, device) for m in models]
    log.info("loaded %s on %s: %d stage(s)", path, device, len(runners))
    return CascadeModel(casc.stages, runners, "torch", casc.meta, has_scores=models[-1].scores)
