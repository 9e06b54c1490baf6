"""The study's grids, one training run per cell and seed: what `facealign sweep GRID [key=value ...]
[--seeds 0,1,2] [--cell NAME] [--dry-run]` plans and runs.

The study's settings: raw ResNets regressing the points from the face crop, no
augmentation, SGD (momentum 0.9) with its learning rates (0.1 .. 0.6), and the loss
on points in [0, 1] of the crop (`loss_units=unit`), the scale its losses were
reported on. The `cascade` grid is the study's five named cascade experiments with
their own configs (AdamW, augmentation, losses in crop pixels), and a control.
A grid's budget (epochs, input size) is given as overrides on the command line, the
same for every cell: `facealign sweep batch epochs=20 input_size=64 out=study --seeds 0,1,2`.
Without them each cell runs its config's own epochs and input size (30 epochs at 128 px
for the raw grids): the sweep says so.

Seeds: a run per seed per cell; seed 0 keeps the cell's name (the runs made before seeds
existed stay valid), seed s > 0 adds `_s<s>` (`sweep_batch_bs4_s1`). The seed sets the
initial weights and the order and jitter of the samples; the validation hold-out is fixed.

Controls:
- `batch_steps`: the batch grid at equal optimiser steps. Every cell takes the steps batch 4
  takes in the budget's epochs: epochs scale with the batch (batch 8 runs twice the epochs,
  batch 32 eight times as many), the learning rate stays 0.3. Batch 4 and up only: batch 2 would
  run half the budget's epochs, below the study's 20 (and it already takes more steps than batch 4).
- `Cas_Stage1_Aug_MSE-long` (cascade grid): stage 1 trained for the epochs of stage 1 and
  stage 2 together (twice the budget), so stage 2's gain can be told from more training.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

LRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BATCHES = (2, 4, 8, 16, 32)
DEPTHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# one-valued axes: in every cell, not in its name; float32 in every cell, so that no cell's precision
# differs from another's (amp=auto would give bf16 to batch 32 only on a CPU: docs/training.md)
STUDY = {"optimizer": ("sgd",), "loss_units": ("unit",), "amp": ("off",)}
STEPS_BATCH = 4  # batch_steps: every cell takes the optimiser steps of batch 4 at the budget's epochs
STEPS_BATCHES = tuple(b for b in BATCHES if b >= STEPS_BATCH)  # (so that no cell runs under the budget's epochs)

# grid name -> (base config, {key: values}) ; the product of the values is run
GRIDS: dict[str, tuple[str, dict[str, tuple]]] = {
    "batch": ("raw_CNN_noAug_MSE", {"batch_size": BATCHES, "lr": (0.3,), **STUDY}),
    "batch_steps": ("raw_CNN_noAug_MSE", {"batch_size": STEPS_BATCHES, "lr": (0.3,), **STUDY}),
    "lr": ("raw_CNN_noAug_MSE", {"lr": LRS, "batch_size": (4,), **STUDY}),
    "wing_batch": ("raw_CNN_noAug_MSE", {"batch_size": BATCHES, "loss": ("wing",), "lr": (0.3,), **STUDY}),
    "depth_loss": ("raw_CNN_noAug_MSE", {"model": DEPTHS, "loss": ("mse", "l1", "smoothl1"), "lr": (0.3,), **STUDY}),
}
# the study's named cascade experiments: run name = config name; stage 2 on this grid's own stage 1
CASCADE = ("Cas_Stage1_Aug_L1", "Cas_Stage1_Aug_MSE", "Cas_Stage1_Aug_SmoothL1", "Cas_Stage1_Aug_Wing",
           "Cas_Stage2_Aug_Wing-S1_MSE")
CASCADE_LONG = "Cas_Stage1_Aug_MSE-long"  # the control: Cas_Stage1_Aug_MSE for stage 1 + stage 2's epochs
SHORT = {"batch_size": "bs", "lr": "lr", "model": "", "loss": ""}
# in a kept run's folder: the run is another kept run's twin (every config key alike but the name), not
# trained again; the file names the run that was trained (sweep_run.twin)
TWIN_FILE = "same_as.txt"
SEED_SUFFIX = re.compile(r"^(?P<cell>.+)_s(?P<seed>\d+)$")


@dataclass(frozen=True)
class Cell:
    """One cell of a grid: its name (seed 0's run name), base config, overrides, and the factor on
    the budget's epochs (1, or a control's: batch_steps's batch / 4, the long stage 1's 2)."""

    name: str
    base: str
    overrides: tuple[str, ...]
    epochs_scale: float = 1.0


def grids() -> list[str]:
    return [*GRIDS, "cascade"]


def run_name(cell: str, seed: int) -> str:
    return cell if seed == 0 else f"{cell}_s{seed}"


def split_seed(name: str) -> tuple[str, int]:
    """run name -> (cell name, seed): `sweep_batch_bs4_s2` -> ("sweep_batch_bs4", 2)."""
    m = SEED_SUFFIX.match(name)
    return (m["cell"], int(m["seed"])) if m else (name, 0)


def stage1_path(out: str, seed: int) -> str:
    return f"{out}/checkpoints/{run_name('Cas_Stage1_Aug_MSE', seed)}/best.pt"


def cells(grid: str, out: str = ".", seed: int = 0) -> list[Cell]:
    """Every cell of a grid; `out`: where the runs are written (stage 2 reads its stage 1 of `seed` there)."""
    if grid == "cascade":
        found = [Cell(n, n, (f"stage1={stage1_path(out, seed)}",) if "Stage2" in n else ()) for n in CASCADE]
        return found + [Cell(CASCADE_LONG, "Cas_Stage1_Aug_MSE", (), 2.0)]
    base, axes = GRIDS[grid]
    keys = list(axes)
    found = []
    for values in product(*(axes[k] for k in keys)):
        tag = "_".join(f"{SHORT.get(k, k)}{v}" for k, v in zip(keys, values) if len(axes[k]) > 1)
        scale = dict(zip(keys, values))["batch_size"] / STEPS_BATCH if grid == "batch_steps" else 1.0
        found.append(Cell(f"sweep_{grid}_{tag}", base, tuple(f"{k}={v}" for k, v in zip(keys, values)), scale))
    return found


def grid_of(name: str) -> str | None:
    """The grid a run of this name (any seed) belongs to, or None."""
    cell = split_seed(name)[0]
    return next((g for g in grids() if cell in {c.name for c in cells(g)}), None)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated whole numbers like 0,1,2, got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: expected distinct seeds >= 0 like 0,1,2, got {text!r}")
    return seeds


@dataclass(frozen=True)
class Run:
    name: str
    cell: Cell
    seed: int
    cfg: object  # the resolved Config


def plan(grid: str, overrides: list[str], seeds: list[int], only: list[str] | None = None) -> list[Run]:
    """The runs of a grid (seed-major: every cell at the first seed, then the next), resolved."""
    from .config import ConfigError, load_config

    if any(o.partition("=")[0].strip() == "seed" for o in overrides):
        raise ConfigError("give the seeds with --seeds 0,1,2, not seed=")
    out = load_config(GRIDS["batch"][0], overrides).out
    names = [c.name for c in cells(grid, out)]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ConfigError(f"--cell {', '.join(unknown)}: not a cell of {grid} (cells: {', '.join(names)})")
    runs = []
    for seed in seeds:
        for cell in cells(grid, out, seed):
            if only and cell.name not in only:
                continue
            name = run_name(cell.name, seed)
            cfg = load_config(cell.base, [*cell.overrides, *overrides, f"name={name}", f"seed={seed}"])
            cfg.epochs = max(1, int(cfg.epochs * cell.epochs_scale + 0.5))
            runs.append(Run(name, cell, seed, cfg))
    return runs
