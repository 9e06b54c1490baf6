"""`facealign train CONFIG [key=value ...] [--resume|--overwrite] [--nproc N] [--bench STEPS]`
(in a checkout also `python -m train`): train one experiment config (facealign.training).

Under torchrun (`torchrun --nproc_per_node N -m train CONFIG ...`) every process
runs this, in DistributedDataParallel (N = 1 included); `--nproc N` starts torchrun itself,
after checking that the machine has N GPUs when the device is CUDA. Without either: one
plain process, no process group.
"""
from __future__ import annotations

import sys

from . import args as shared

PROG = "facealign train"


def add_arguments(p) -> None:
    from facealign.training.config import list_configs

    p.add_argument("config", help=f"YAML file or a name in train/configs ({', '.join(list_configs())})")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=1 max_train=64 device=cuda")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/<name>/last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh over an earlier run of this name (deletes its checkpoints and logs)")
    p.add_argument("--stop-after", type=int, metavar="N", help="stop after N epochs of this run (resume later)")
    shared.data(p)
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train in N processes (one per GPU, or CPU shares) started with torchrun, in "
                        "DistributedDataParallel; --nproc 1 is DDP in one process (default: one plain process, no DDP)")
    p.add_argument("--bench", type=int, metavar="STEPS",
                   help="time STEPS training steps (images/s, data-wait share, step time); writes no run")
    p.add_argument("--bench-json", metavar="FILE", help="with --bench: also write its figures to FILE as JSON")


def child_argv(args) -> list[str]:
    """This command again, less --nproc, for each process torchrun starts."""
    argv = [args.config, *args.overrides]
    argv += ["--resume"] * args.resume + ["--overwrite"] * args.overwrite + ["--verbose"] * args.verbose
    for flag, value in (("--stop-after", args.stop_after), ("--data", args.data), ("--bench", args.bench),
                        ("--bench-json", args.bench_json)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def fail(message) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def check_devices(args, cfg) -> str | None:
    """Why the run cannot start on this machine (a device that is not there, too few GPUs, --nproc
    inside torchrun, a run of this name already there), or None; checked before any launch."""
    from facealign.training import distributed
    from facealign.training.devices import DeviceError, check_sync_bn, resolve_device

    if args.nproc is not None and args.nproc < 1:
        return "--nproc must be 1 or more"
    env = distributed.from_env()
    try:
        world, local_world = max(args.nproc or 1, env.world), args.nproc or env.local_world
        check_sync_bn(cfg.sync_bn, resolve_device(cfg.device, 0, world, local_world), world)
    except DeviceError as e:
        return str(e)
    if args.nproc is not None and env.launched:
        return "--nproc inside torchrun; give one or the other"
    if args.nproc is not None and not (args.bench or args.resume or args.overwrite):
        from facealign.training.outputs import RunFiles

        try:
            RunFiles(cfg).check(resume=False, overwrite=False)
        except FileExistsError as e:
            return str(e)
    return None


def bench(args, cfg) -> int:
    from facealign.formats.atomic import write_json
    from facealign.training import distributed
    from facealign.training.bench import bench as time_steps

    r = time_steps(cfg, args.bench, args.data)
    if distributed.from_env().main:
        print(f"{cfg.name}: {r['images_per_s']:.1f} images/s, data wait {100 * r['data_wait_share']:.1f} % "
              f"of the time, {r['step_ms']:.1f} ms a step (batch {r['batch_size']}, {r['processes']} "
              f"process(es) x {r['threads']} thread(s), {r['workers']} worker(s), {r['device']}, "
              f"precision {r['precision']}, {r['steps']} steps)")
        if args.bench_json:
            write_json(args.bench_json, r, indent=1)
    return 0


def fit(args, cfg) -> int:
    from facealign.training import distributed
    from facealign.training.config import ConfigError
    from facealign.training.engine import Trainer
    from facealign.training.outputs import RunExistsError
    from facealign.wording import plural

    try:
        trainer = Trainer(cfg, data_root=args.data, resume=args.resume, overwrite=args.overwrite)
    except (RunExistsError, FileNotFoundError, ConfigError) as e:  # ConfigError: a head the stage cannot take
        return fail(e)
    result = trainer.fit(args.stop_after)
    if distributed.from_env().main:
        print(f"{cfg.name}: best validation NME {result.best_val_nme:.3f} % after {plural(result.epochs, 'epoch')}")
    return 0


def run(args) -> int:
    from facealign.training.config import ConfigError, load_config
    from facealign.training.extra import missing_training_stack

    if missing_training_stack(PROG):
        return 2
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        return fail(e)
    why = check_devices(args, cfg)
    if why:
        return fail(why)
    if args.nproc is not None:
        from facealign.training import distributed

        return distributed.launch(child_argv(args), args.nproc)
    return bench(args, cfg) if args.bench else fit(args, cfg)


def main(argv=None) -> int:
    """`python -m train` / `python -m facealign.training` (what torchrun starts): `facealign train`."""
    from facealign.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
