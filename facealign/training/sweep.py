"""`facealign sweep GRID [key=value ...]`: the study's experiment grids, one training run per cell.

The study's settings: raw ResNets regressing the points from the face crop, no
augmentation, SGD (momentum 0.9) with its learning rates (0.1 .. 0.6), and the loss
on points in [0, 1] of the crop (`loss_units=unit`), the scale its losses were
reported on. The `cascade` grid is the study's five named cascade experiments with
their own configs (AdamW, augmentation, losses in crop pixels). A grid's budget
(epochs, input size) is given as overrides on the command line, the same for
every cell: `facealign sweep batch epochs=8 input_size=64 out=study`.
"""
from __future__ import annotations

import sys
from itertools import product

LRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BATCHES = (2, 4, 8, 16, 32)
DEPTHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
STUDY = {"optimizer": ("sgd",), "loss_units": ("unit",)}  # one-valued axes: in every cell, not in its name

# grid name -> (base config, {key: values}) ; the product of the values is run
GRIDS: dict[str, tuple[str, dict[str, tuple]]] = {
    "batch": ("raw_CNN_noAug_MSE", {"batch_size": BATCHES, "lr": (0.3,), **STUDY}),
    "lr": ("raw_CNN_noAug_MSE", {"lr": LRS, "batch_size": (4,), **STUDY}),
    "wing_batch": ("raw_CNN_noAug_MSE", {"batch_size": BATCHES, "loss": ("wing",), "lr": (0.3,), **STUDY}),
    "depth_loss": ("raw_CNN_noAug_MSE", {"model": DEPTHS, "loss": ("mse", "l1", "smoothl1"), "lr": (0.3,), **STUDY}),
}
# the study's named cascade experiments: run name = config name; stage 2 on this grid's own stage 1
CASCADE = ("Cas_Stage1_Aug_L1", "Cas_Stage1_Aug_MSE", "Cas_Stage1_Aug_SmoothL1", "Cas_Stage1_Aug_Wing",
           "Cas_Stage2_Aug_Wing-S1_MSE")
SHORT = {"batch_size": "bs", "lr": "lr", "model": "", "loss": ""}


def grids() -> list[str]:
    return [*GRIDS, "cascade"]


def cells(grid: str, out: str = ".") -> list[tuple[str, str, list[str]]]:
    """(run name, base config, overrides) for every cell of a grid; `out`: where the runs are written."""
    if grid == "cascade":
        stage1 = f"{out}/checkpoints/Cas_Stage1_Aug_MSE/best.pt"
        return [(n, n, [f"stage1={stage1}"] if "Stage2" in n else []) for n in CASCADE]
    base, axes = GRIDS[grid]
    keys = list(axes)
    found = []
    for values in product(*(axes[k] for k in keys)):
        tag = "_".join(f"{SHORT.get(k, k)}{v}" for k, v in zip(keys, values) if len(axes[k]) > 1)
        found.append((f"sweep_{grid}_{tag}", base, [f"{k}={v}" for k, v in zip(keys, values)]))
    return found


def grid_of(name: str) -> str | None:
    """The grid a run of this name belongs to, or None."""
    return next((g for g in grids() if name in {n for n, _, _ in cells(g)}), None)


def add_arguments(p) -> None:
    p.add_argument("grid", choices=grids(), help="which of the study's grids to run, one training per cell")
    p.add_argument("overrides", nargs="*", help="the grid's budget, applied to every run, e.g. epochs=8 input_size=64 out=study")
    p.add_argument("--data", help="300-W root")
    p.add_argument("--dry-run", action="store_true", help="list the runs only")
    p.add_argument("--resume", action="store_true", help="skip finished runs, resume unfinished ones")
    p.add_argument("--overwrite", action="store_true", help="start every run afresh over earlier ones of its name")


def run(args) -> int:
    from pathlib import Path

    from .cli import missing_training_stack

    if missing_training_stack("facealign sweep"):
        return 2

    import torch

    from .config import load_config
    from .engine import Trainer
    from .outputs import RunFiles

    out = load_config(GRIDS["batch"][0], args.overrides).out  # where the runs go: `cascade`'s stage 2 reads its stage 1 there
    configs = [(name, f"{base} {' '.join(cell)}", load_config(base, [*cell, *args.overrides, f"name={name}"]))
               for name, base, cell in cells(args.grid, out)]
    if not (args.resume or args.overwrite or args.dry_run):
        try:  # every cell is checked before the first one trains
            for _, _, cfg in configs:
                RunFiles(cfg).check(resume=False, overwrite=False)
        except FileExistsError as e:
            print(f"facealign sweep: {e}", file=sys.stderr)
            return 2
    for name, cell, cfg in configs:
        print(f"{name}: {cell} {' '.join(args.overrides)}", flush=True)
        if args.dry_run:
            continue
        last = Path(cfg.out) / "checkpoints" / name / "last.pt"
        resume = args.resume and last.is_file()
        if resume and torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= cfg.epochs:
            continue
        note = Path(cfg.out) / "logs" / name / "diverged.txt"
        note.unlink(missing_ok=True)
        try:
            Trainer(cfg, data_root=args.data, resume=resume, overwrite=args.overwrite).fit()
        except FloatingPointError as e:  # a diverged cell is a result, not a crash of the sweep: noted for the report
            print(f"{name}: diverged ({e})", file=sys.stderr)
            note.write_text(f"{e}\n")
    return 0
