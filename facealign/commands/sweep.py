"""`facealign sweep GRID [key=value ...] [--seeds 0,1,2] [--cell NAME] [--dry-run] [--until HH:MM]`: the study's grids,
one training run per cell and seed (facealign.training.sweep, sweep_run)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    from facealign.training.sweep import grids

    p.add_argument("grid", choices=grids(), help="which of the study's grids to run, one training per cell and seed")
    p.add_argument("overrides", nargs="*", help="the grid's budget, applied to every run, e.g. epochs=20 input_size=64 out=study")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, a run each per cell; seed 0 keeps the cell's "
                                                "name, seed s adds _s<s>")
    p.add_argument("--cell", action="append", metavar="NAME",
                   help="run only this cell (its seed-0 name, as --dry-run lists them); may be given again")
    shared.data(p)
    p.add_argument("--throughput", default=None,
                   help="the measured throughput table the time estimates fall back on when OUT/logs holds no "
                        "epochs of the run's cell or network (default: logs/throughput.json, else the checkout's "
                        "docs/training/throughput.json)")
    p.add_argument("--dry-run", action="store_true", help="print each run's resolved budget and estimated time only")
    p.add_argument("--resume", action="store_true", help="skip finished runs, resume unfinished ones")
    p.add_argument("--overwrite", action="store_true", help="start every run afresh over earlier ones of its name")
    p.add_argument("--until", metavar="HH:MM",
                   help="start only the runs whose estimated time (as --dry-run gives it) ends by this time of day, "
                        "e.g. before the machine is taken back; the rest wait for the next call with --resume, "
                        "and a shorter run later in the grid still goes")
    p.add_argument("--keep", metavar="DIR", help="as each run finishes, evaluate it on the common subset and copy its "
                                                 "small files (metrics.csv, config.json, test.json) to DIR/<name>/, "
                                                 "e.g. docs/study/runs: what the report needs outlives OUT")


def run(args) -> int:
    from facealign.training.config import ConfigError
    from facealign.training.sweep import parse_seeds, plan
    from facealign.training.sweep_run import parse_until, print_plan, train_all

    try:
        runs = plan(args.grid, args.overrides, parse_seeds(args.seeds), args.cell)
        until = parse_until(args.until) if args.until else None
    except (ConfigError, ValueError) as e:
        print(f"facealign sweep: {e}", file=sys.stderr)
        return 2
    print_plan(args.grid, runs, args.overrides, args.data, args.throughput, args.keep)
    if args.dry_run:
        return 0
    return train_all(runs, args.data, args.resume, args.overwrite, args.keep, until, args.throughput)
