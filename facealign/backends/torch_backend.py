"""PyTorch backend: the cascade file run by PyTorch.

CPU: float32, eager. CUDA: float16 with CUDA graphs; a batch is padded up to
the next bucket size (1, 2, 4, 8, 16; larger batches go in chunks of 16) and
each bucket's graph is captured on first use with static input/output buffers,
so a frame costs one graph replay per stage.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from ..models.cascade import load_cascade

log = logging.getLogger(__name__)

BUCKETS = (1, 2, 4, 8, 16)


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a CUDA GPU is visible, else "cpu"."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} asked for, but PyTorch sees no CUDA GPU")
    return device


class EagerRunner:
    """(N, 3, S, S) float32 RGB in [0, 1] -> (N, 68, 2) float32 normalised, float32 eager."""

    def __init__(self, model: torch.nn.Module, device: str = "cpu"):
        self.model, self.device = model.to(device).float().eval(), device

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)).float().cpu().numpy()


class GraphedRunner:
    """Same contract as EagerRunner, on a CUDA device in float16 with one CUDA graph per bucket."""

    def __init__(self, model: torch.nn.Module, input_size: int, device: str = "cuda"):
        self.model = model.to(device).half().eval()
        self.size, self.device = input_size, torch.device(device)
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _capture(self, n: int):
        with torch.inference_mode():
            static_in = torch.zeros((n, 3, self.size, self.size), dtype=torch.float16, device=self.device)
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
                for _ in range(3):
                    self.model(static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(static_in)
        log.debug("captured a CUDA graph for batch %d at %dpx", n, self.size)
        return graph, static_in, static_out

    def _run(self, x: torch.Tensor) -> np.ndarray:
        n = len(x)
        bucket = next(b for b in BUCKETS if b >= n)
        if bucket not in self.graphs:
            self.graphs[bucket] = self._capture(bucket)
        graph, static_in, static_out = self.graphs[bucket]
        with torch.inference_mode():
            static_in[:n].copy_(x)
            if n < bucket:
                static_in[n:].zero_()
            graph.replay()
            return static_out[:n].float().cpu().numpy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        top = BUCKETS[-1]
        return np.concatenate([self._run(t[i:i + top]) for i in range(0, len(t), top)])


def load(path, device: str = "auto", **_):
    """Cascade file or training checkpoint -> CascadeModel.

    device: "cpu" (float32 eager), "cuda[:i]" (float16 + CUDA graphs) or "auto" (CUDA when visible).
    """
    from . import CascadeModel

    device = resolve_device(device)
    casc = load_cascade(path)
    if device.startswith("cuda"):
        runners = [GraphedRunner(m, s.input_size, device) for m, s in zip(casc.models(), casc.stages)]
    else:
        runners = [EagerRunner(m, device) for m in casc.models()]
    log.info("loaded %s on %s: %d stage(s)", path, device, len(runners))
    return CascadeModel(casc.stages, runners, "torch", casc.meta)
