"""One training step: the model (in DistributedDataParallel across processes), its loss,
the optimiser and learning-rate schedule, mixed precision and the weights' EMA.

A step never waits for the device: no host sync, no tensor made from host data (the loop's
finiteness check, `check_finite`, reads an accumulated sum once every CHECK_EVERY steps)."""
from __future__ import annotations

import math

import torch
from torch.nn.parallel import DistributedDataParallel

from facealign.models import StageSpec

from . import consistency
from .config import Config
from .devices import Precision
from .ema import ModelEMA
from .losses import point_loss


CHECK_EVERY = 50  # steps between the training loop's reads of its loss sum (each one a host sync)


def check_finite(loss_sum: float, lr: float, where: str = "") -> None:
    """FloatingPointError when the loss summed over some steps is not finite: the run diverged."""
    if not math.isfinite(loss_sum):
        raise FloatingPointError(f"the loss became {loss_sum}{where}; lower lr={lr}")


def make_optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW over the trainable weights, fused (one kernel over all of them) where this
    torch has a fused version for the weights' device: on this CPU the step of a ResNet-18 takes 14 ms
    fused against 39 ms (SGD) and 17 against 94 ms (AdamW) one tensor at a time (docs/training.md), as
    much as the whole forward and backward pass at batch 2."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        make, kw = torch.optim.SGD, dict(momentum=cfg.momentum, nesterov=True)
    else:
        make, kw = torch.optim.AdamW, {}
    try:
        return make(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True, **kw)
    except (RuntimeError, ValueError, TypeError):  # no fused version here (torch < 2.4 on a CPU, ...)
        return make(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)


def keep_implementation(opt: torch.optim.Optimizer, groups: list[dict]) -> None:
    """After load_state_dict: the saved param groups replaced ours, implementation flags included (a
    checkpoint from before the fused optimisers says fused=None); put back the ones it was built with."""
    for group, built in zip(opt.param_groups, groups):
        for key in ("fused", "foreach"):
            if key in built:
                group[key] = built[key]


def lr_factor(cfg: Config, steps_per_epoch: int):
    """step -> factor of cfg.lr: linear warm-up, then cosine / step / constant to cfg.epochs."""
    total, warm = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "cosine":
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        if cfg.schedule == "step":
            return 0.1 ** int(3 * step / max(1, total))
        return 1.0
    return factor


class Step:
    """`step(x, target[, previous, pairs])` trains on one batch already on the device -> its mean loss (a
    tensor). The arguments are a StepInputs' (training/inputs.py)."""

    def __init__(self, model: torch.nn.Module, spec: StageSpec, cfg: Config, device: torch.device,
                 precision: Precision, steps_per_epoch: int, distributed: bool = False):
        self.model, self.spec, self.cfg, self.device, self.precision = model, spec, cfg, device, precision
        self.net = model
        if distributed:
            self.net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if cfg.compile:  # the training forward only: EMA, validation and export see the plain module
            self.net = torch.compile(self.net)
        self.opt = make_optimizer(model, cfg)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor(cfg, steps_per_epoch))
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.scaled)
        self.ema = ModelEMA(model, cfg.ema) if cfg.ema else None
        self.loss_fn = point_loss(cfg)
        self.codec = spec.codec.to(device)  # its constants (a residual stage's template) on the device, once
        head = type(model.head)  # what the head trains with besides (or instead of) the point loss
        self.point_loss = head.point_loss
        self.head_loss_args = {kw: cfg.head_options[key] for kw, key in head.loss_keys.items()}

    @property
    def eval_model(self) -> torch.nn.Module:
        """The weights to validate, keep and export: the EMA when there is one."""
        return self.ema.module if self.ema else self.model

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def __call__(self, x: torch.Tensor, target: torch.Tensor, previous: torch.Tensor | None = None,
                 pairs: torch.Tensor | None = None) -> torch.Tensor:
        """previous: the points a heatmap stage corrects (see StageSpec.decode); pairs: with two views
        of each face, the maps between them (StepInputs). Returns the loss without looking at it: the
        caller checks finiteness on a sum (check_finite)."""
        self.net.train()
        with torch.autocast(self.device.type, dtype=self.precision.dtype, enabled=self.precision.dtype is not None):
            out = self.net(x)  # a HeadOutput: the points and what the head's loss needs
        terms = self.loss_terms(out, target, previous, pairs)
        loss = sum(terms.values())
        self.last_terms = {k: v.detach() for k, v in terms.items()}  # for a hook to log; read by nobody here
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        if self.ema:
            self.ema.update(self.model)
        return loss.detach()

    def loss_terms(self, out, target: torch.Tensor, previous: torch.Tensor | None,
                   pairs: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named loss terms of a training forward: "points" (the config's point loss, for heads that
        use it), the head's own (Head.loss, weighted by their config keys) and, with two views of each
        face (pairs), "consistency": their disagreement in crop pixels times cfg.consistency."""
        terms = {}
        pred = None
        if self.point_loss or pairs is not None:
            pred = self.codec.decode(out.points.float(), previous)
        if self.point_loss:
            terms["points"] = self.loss_fn(pred, target)
        terms.update(self.model.head.loss(out, self.spec.codec.encode(target), **self.head_loss_args))
        if pairs is not None:
            first, second = pred.chunk(2)
            if self.cfg.consistency_rigid == 1:
                gap = consistency.disagreement(first, second, pairs)
            else:
                gap = consistency.split_disagreement(first, second, pairs, self.cfg.consistency_rigid)
            terms["consistency"] = self.cfg.consistency * gap
        return terms

    def state_dict(self) -> dict:
        """What a resume needs besides the weights (they are stored apart: see train/outputs.py)."""
        return {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict(), "ema_updates": self.ema.updates if self.ema else 0}

    def load_state_dict(self, state: dict, model: dict, ema: dict | None) -> None:
        self.model.load_state_dict(model)
        built = [dict(g) for g in self.opt.param_groups]
        self.opt.load_state_dict(state["optimizer"])
        keep_implementation(self.opt, built)
        self.sched.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema:
            self.ema.load_state_dict({"weights": ema if ema is not None else model,
                                      "updates": state.get("ema_updates", 0)})
