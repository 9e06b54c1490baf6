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
        """Fold the raw model's current weights in (the model itself, not its DDP wrapper): one
        foreach lerp over all floating tensors (on this CPU 9 ms for a ResNet-18, against 12 ms one
        tensor at a time)."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        raw = model.state_dict()
        avg, new = [], []
        for name, a in self.module.state_dict().items():
            if a.dtype.is_floating_point:
                avg.append(a)
                new.append(raw[name].detach())
            else:  # BatchNorm's step counters
                a.copy_(raw[name])
        torch._foreach_lerp_(avg, new, 1 - d)  # avg += (1 - d) * (new - avg) = d * avg + (1 - d) * new

    def state_dict(self) -> dict:
        return {"weights": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = state["updates"]
