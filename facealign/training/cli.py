"""`facealign train CONFIG [key=value ...] [--resume|--overwrite] [--nproc N] [--bench STEPS]` (= `python -m train`).

Under torchrun (`torchrun --nproc_per_node N -m train CONFIG ...`) every process
runs this, in DistributedDataParallel (N = 1 included); `--nproc N` starts torchrun itself,
after checking that the machine has N GPUs when the device is CUDA. Without either: one
plain process, no process group.
"""
from __future__ import annotations

import argparse
import sys

from .config import ConfigError, list_configs, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help=f"YAML file or a name in train/configs ({', '.join(list_configs())})")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=1 max_train=64 device=cuda")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/<name>/last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh over an earlier run of this name (deletes its checkpoints and logs)")
    p.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this run (resume later)")
    p.add_argument("--data", help="300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train in N processes (one per GPU, or CPU shares) started with torchrun, in "
                        "DistributedDataParallel; --nproc 1 is DDP in one process (default: one plain process, no DDP)")
    p.add_argument("--bench", type=int, metavar="STEPS",
                   help="time STEPS training steps (images/s, data-wait share, step time); writes no run")
    p.add_argument("--bench-json", metavar="FILE", help="with --bench: also write its figures to FILE as JSON")


def _child_argv(args) -> list[str]:
    """This command again, less --nproc, for each process torchrun starts."""
    argv = [args.config, *args.overrides]
    argv += ["--resume"] * args.resume + ["--overwrite"] * args.overwrite + ["--verbose"] * args.verbose
    for flag, value in (("--stop-after", args.stop_after), ("--data", args.data), ("--bench", args.bench),
                        ("--bench-json", args.bench_json)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def missing_training_stack(prog: str) -> bool:
    """Say so (and return True) when the `train` extra is not installed."""
    import importlib.util

    from facealign.install import pip_hint

    missing = [m for m in ("torch", "yaml", "tqdm", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{prog}: training needs {', '.join(missing)}; install the training extra: "
              f"{pip_hint('train')}", file=sys.stderr)
    return bool(missing)


def run(args) -> int:
    if missing_training_stack("facealign train"):
        return 2
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        print(f"facealign train: {e}", file=sys.stderr)
        return 2
    from . import distributed
    from .devices import DeviceError, check_sync_bn, resolve_device

    if args.nproc is not None and args.nproc < 1:
        print("facealign train: --nproc must be 1 or more", file=sys.stderr)
        return 2
    env = distributed.from_env()
    try:  # a device that is not there (or too few GPUs for the processes) is an error before any launch
        world, local_world = max(args.nproc or 1, env.world), args.nproc or env.local_world
        check_sync_bn(cfg.sync_bn, resolve_device(cfg.device, 0, world, local_world), world)
    except DeviceError as e:
        print(f"facealign train: {e}", file=sys.stderr)
        return 2
    if args.nproc is not None:
        if env.launched:
            print("facealign train: --nproc inside torchrun; give one or the other", file=sys.stderr)
            return 2
        if not (args.bench or args.resume or args.overwrite):  # the guard, before any process starts
            from .outputs import RunFiles

            try:
                RunFiles(cfg).check(resume=False, overwrite=False)
            except FileExistsError as e:
                print(f"facealign train: {e}", file=sys.stderr)
                return 2
        return distributed.launch(_child_argv(args), args.nproc)
    if args.bench:
        from .bench import bench

        r = bench(cfg, args.bench, args.data)
        if distributed.from_env().main:
            print(f"{cfg.name}: {r['images_per_s']:.1f} images/s, data wait {100 * r['data_wait_share']:.1f} % "
                  f"of the time, {r['step_ms']:.1f} ms a step (batch {r['batch_size']}, {r['processes']} "
                  f"process(es) x {r['threads']} thread(s), {r['workers']} worker(s), {r['device']}, "
                  f"precision {r['precision']}, {r['steps']} steps)")
            if args.bench_json:
                import json
                from pathlib import Path

                Path(args.bench_json).write_text(json.dumps(r, indent=1) + "\n")
        return 0
    from facealign.wording import plural

    from .engine import Trainer
    from .outputs import RunExistsError

    try:
        trainer = Trainer(cfg, data_root=args.data, resume=args.resume, overwrite=args.overwrite)
    except (RunExistsError, FileNotFoundError, ConfigError) as e:  # ConfigError: a head that the stage
        print(f"facealign train: {e}", file=sys.stderr)
        return 2
    result = trainer.fit(args.stop_after)
    if distributed.from_env().main:
        print(f"{cfg.name}: best validation NME {result.best_val_nme:.3f} % after {plural(result.epochs, 'epoch')}")
    return 0


def main(argv=None) -> int:
    """`python -m train` / `python -m facealign.training` (what torchrun starts): `facealign train`."""
    from facealign.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
