"""The study's trends as pairs of cells: each verdict in docs/study.md rests on one of these differences.

A pair (a, b) is answered with mean NME % of a minus b over the same test faces (each face's error
averaged over a cell's seeds) and its paired bootstrap interval (stats.py); a pair waits until both
of its cells have run. Each grid's best cell against the rest of its grid is results.comparisons.
"""
from __future__ import annotations

import numpy as np

from .stats import paired_bootstrap
from .sweep import CASCADE_LONG, DEPTHS, STEPS_BATCHES

DEPTH_LOSSES = {"mse": "MSE", "l1": "MAE", "smoothl1": "SmoothL1"}


def pairs() -> list[tuple[str, str, str, str]]:
    """(trend, question, cell a, cell b), a - b, in the order of docs/study.md's verdict table."""
    found = [("batch size or step count", f"batch {b}: at batch 4's steps - at 20 epochs' steps",
              f"sweep_batch_steps_bs{b}", f"sweep_batch_bs{b}") for b in STEPS_BATCHES[1:]]
    found += [
        ("learning rate", "lr 0.5 - lr 0.3 (the study's two best)", "sweep_lr_lr0.5", "sweep_lr_lr0.3"),
        ("MSE against Wing", "MSE - Wing at batch 2", "sweep_batch_bs2", "sweep_wing_batch_bs2"),
        ("MSE against Wing", "MSE - Wing at batch 4", "sweep_batch_bs4", "sweep_wing_batch_bs4"),
        ("Wing at batch 2 against 4", "Wing: batch 2 - batch 4", "sweep_wing_batch_bs2", "sweep_wing_batch_bs4"),
    ]
    found += [("loss ranking", f"{d}: {DEPTH_LOSSES[loss]} - MSE", f"sweep_depth_loss_{d}_{loss}",
               f"sweep_depth_loss_{d}_mse") for d in DEPTHS for loss in ("l1", "smoothl1")]
    found += [("depth", f"{DEPTH_LOSSES[loss]}: {d} - resnet18", f"sweep_depth_loss_{d}_{loss}",
               f"sweep_depth_loss_resnet18_{loss}") for loss in DEPTH_LOSSES for d in DEPTHS[1:]]
    found.append(("cascade", "stage 2 (20 + 20 epochs) - stage 1 trained 40 epochs", "Cas_Stage2_Aug_Wing-S1_MSE",
                  CASCADE_LONG))
    return found


def answers(errors: dict[str, np.ndarray]) -> list[dict]:
    """Every pair whose two cells have per-face errors: its difference, interval and whether it differs."""
    return [{"trend": trend, "question": question, "a": a, "b": b, **paired_bootstrap(errors[a], errors[b]).to_json()}
            for trend, question, a, b in pairs() if a in errors and b in errors]
