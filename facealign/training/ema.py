"""An exponential moving average of the weights (as in STAR, ADNet, RTMPose, ultralytics).

The averaged copy is what a run validates, keeps as best.pt and exports; the raw
weights go on training. The decay ramps up over the first steps,
min(decay, (1 + t) / (10 + t)), so that the average does not remember the random start.
"""
from __future__ import annotations

import copy

import torch


class ModelEMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the raw model's current weights in (the model itself, not its DDP wrapper)."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        raw = model.state_dict()
        for name, avg in self.module.state_dict().items():
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(raw[name].detach(), alpha=1 - d)
            else:  # BatchNorm's step counters
                avg.copy_(raw[name])

    def state_dict(self) -> dict:
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = state["updates"]
