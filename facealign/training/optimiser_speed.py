"""`python -m facealign.training.optimiser_speed`: what the optimiser step and the EMA update cost.

At the study's small batches (2-8 faces of 64 px) the step after the backward pass is as long as the
network's own work, so its implementation matters. For a network of each shipped kind (the study's
full-width ResNet-18, the accurate preset's half-width one with a PIP head) this times, in process
CPU time on one thread (so a busy machine disturbs it little), SGD (Nesterov) and AdamW one tensor at
a time, with foreach and fused, and the EMA update as a loop and as one foreach lerp. Prints ms per step.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from facealign.models import create_model

NETWORKS = {"resnet18 (study)": dict(name="resnet18", width=1.0, head="avg", input_size=64),
            "resnet18 x0.5 pip (accurate)": dict(name="resnet18", width=0.5, head="pip", input_size=128,
                                                  head_args={"stride": 16, "neighbours": 10})}
IMPLEMENTATIONS = {"one tensor at a time": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}


def cpu_ms(fn, repeats: int) -> float:
    """Median process CPU time of fn() in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def ema_loop(avg_net, net, d=0.999):
    raw = net.state_dict()
    for k, a in avg_net.state_dict().items():
        if a.dtype.is_floating_point:
            a.mul_(d).add_(raw[k], alpha=1 - d)


def ema_foreach(avg_net, net, d=0.999):
    raw, avg = net.state_dict(), avg_net.state_dict()
    keys = [k for k, a in avg.items() if a.dtype.is_floating_point]
    torch._foreach_lerp_([avg[k] for k in keys], [raw[k] for k in keys], 1 - d)


def measure(repeats: int = 20) -> list[tuple[str, str, float]]:
    torch.set_num_threads(1)
    rows = []
    for label, kw in NETWORKS.items():
        kw = dict(kw)
        net = create_model(kw.pop("name"), **kw)
        for p in net.parameters():
            p.grad = torch.randn_like(p)
        with torch.no_grad():
            for name, impl in IMPLEMENTATIONS.items():
                for opt_name, make, extra in (("SGD", torch.optim.SGD, dict(momentum=0.9, nesterov=True)),
                                              ("AdamW", torch.optim.AdamW, {})):
                    opt = make(net.parameters(), lr=1e-6, weight_decay=1e-4, **impl, **extra)
                    rows.append((label, f"{opt_name} {name}", cpu_ms(opt.step, repeats)))
            avg = copy.deepcopy(net)
            rows.append((label, "EMA loop", cpu_ms(lambda: ema_loop(avg, net), repeats)))
            rows.append((label, "EMA foreach lerp", cpu_ms(lambda: ema_foreach(avg, net), repeats)))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m facealign.training.optimiser_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    print("| network | update | CPU ms a step |\n| --- | --- | --- |")
    for label, what, ms in measure(args.repeats):
        print(f"| {label} | {what} | {ms:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
