"""`facealign train CONFIG [key=value ...] [--resume] [--data DIR]` (also `python -m train`)."""
from __future__ import annotations

import argparse
import logging
import sys

from .config import ConfigError, list_configs, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help=f"YAML file or a name in train/configs ({', '.join(list_configs())})")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=1 max_train=64")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/<name>/last.pt")
    p.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this run (resume later)")
    p.add_argument("--data", help="300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)")


def run(args) -> int:
    from .engine import Run

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"facealign train: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = Run(cfg, data_root=args.data, resume=args.resume).fit(args.stop_after)
    print(f"{cfg.name}: best validation NME {result['best_val_nme']:.3f} % after {result['epochs']} epochs")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    add_arguments(p)
    return run(p.parse_intermixed_args(argv))
