"""`facealign sweep GRID [key=value ...]`: the study's experiment grids, one training run per cell.

Learning rates: the study's grid (0.1 .. 0.6) belongs to its optimiser and loss
units; our losses are in crop pixels and the optimiser is AdamW, so its values are
mapped as lr = study_lr / 100 (the base configs' 0.002 sits at the study's 0.2).
"""
from __future__ import annotations

import sys
from itertools import product

STUDY_LR = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BATCHES = (2, 4, 8, 16, 32)

# grid name -> (base config, {key: values}) ; the product of the values is run
GRIDS: dict[str, tuple[str, dict[str, tuple]]] = {
    "batch": ("raw_CNN_noAug_MSE", {"batch_size": BATCHES, "lr": (0.3 / 100,)}),
    "lr": ("raw_CNN_noAug_MSE", {"lr": tuple(x / 100 for x in STUDY_LR), "batch_size": (4,)}),
    "wing_batch": ("Cas_Stage1_Aug_Wing", {"batch_size": BATCHES}),
    "depth_loss": ("raw_CNN_noAug_MSE", {"model": ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
                                         "loss": ("mse", "l1", "smoothl1")}),
}
SHORT = {"batch_size": "bs", "lr": "lr", "model": "", "loss": ""}


def cells(grid: str) -> list[tuple[str, list[str]]]:
    """(run name, overrides) for every cell of a grid."""
    base, axes = GRIDS[grid]
    keys = list(axes)
    out = []
    for values in product(*(axes[k] for k in keys)):
        tag = "_".join(f"{SHORT.get(k, k)}{v}" for k, v in zip(keys, values) if len(axes[k]) > 1)
        out.append((f"sweep_{grid}_{tag}", [f"{k}={v}" for k, v in zip(keys, values)]))
    return out


def add_arguments(p) -> None:
    p.add_argument("grid", choices=sorted(GRIDS), help="which of the study's grids to run, one training per cell")
    p.add_argument("overrides", nargs="*", help="applied to every run, e.g. epochs=5 max_train=256")
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

    base = GRIDS[args.grid][0]
    configs = [(name, cell, load_config(base, [*cell, *args.overrides, f"name={name}"])) for name, cell in cells(args.grid)]
    if not (args.resume or args.overwrite or args.dry_run):
        try:  # every cell is checked before the first one trains
            for _, _, cfg in configs:
                RunFiles(cfg).check(resume=False, overwrite=False)
        except FileExistsError as e:
            print(f"facealign sweep: {e}", file=sys.stderr)
            return 2
    for name, cell, cfg in configs:
        print(f"{name}: {base} {' '.join(cell + list(args.overrides))}", flush=True)
        if args.dry_run:
            continue
        last = Path(cfg.out) / "checkpoints" / name / "last.pt"
        resume = args.resume and last.is_file()
        if resume and torch.load(last, map_location="cpu", weights_only=False)["epoch"] >= cfg.epochs:
            continue
        try:
            Trainer(cfg, data_root=args.data, resume=resume, overwrite=args.overwrite).fit()
        except FloatingPointError as e:  # a diverged cell is a result, not a crash of the sweep
            print(f"{name}: diverged ({e})", file=sys.stderr)
    return 0
