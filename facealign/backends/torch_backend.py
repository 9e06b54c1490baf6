"""PyTorch backend: the cascade file run eagerly (CPU float32)."""
from __future__ import annotations

import numpy as np
import torch

from ..models.cascade import load_cascade


def load(path, device: str = "cpu", **_):
    from . import CascadeModel

    casc = load_cascade(path)
    models = [m.to(device) for m in casc.models()]

    def runner(m):
        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return m(torch.from_numpy(x).to(device)).float().cpu().numpy()
        return run

    return CascadeModel(casc.stages, [runner(m) for m in models], "torch", casc.meta)
