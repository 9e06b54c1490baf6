"""`facealign <command>`: one CLI, one module per subcommand.

Each command module has `add_arguments(parser)` and `run(args) -> int`; it is
imported only when its command runs, so `facealign --help` stays fast. Every
command's help shows each flag's default; `--verbose` (before or after the
command) shows the library's info logs and the third-party lines (TFLite, FFmpeg)
that are hidden otherwise.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("facealign.training.cli", "train one experiment config (one cascade stage)"),
    "eval": ("facealign.evaluate", "NME / failure rate / AUC / CED on 300-W or a folder of picture + .pts pairs"),
    "predict": ("facealign.predict", "landmarks for pictures, folders and videos (annotated copies + JSON)"),
    "bench": ("facealign.bench", "per-stage speed of the real-time pipeline against its peers"),
    "export": ("facealign.export", "export weights to ONNX, a TensorRT engine or a half-precision torch cascade"),
    "serve": ("facealign.app.page", "start the Gradio web page (pictures, videos, webcam)"),
    "webcam": ("facealign.app.webcam", "live landmarks on a camera, a video file or a stream (= python -m demo.webcam)"),
    "compare": ("facealign.compare", "side-by-side accuracy with dlib's 68-point predictor"),
    "calibrate": ("facealign.calibrate", "measure a detector's boxes against the 68-point boxes"),
    "sweep": ("facealign.training.sweep", "run the study's experiment grids"),
    "report": ("facealign.training.report", "markdown tables of the study from the logs"),
}
VERBOSE_FLAGS = ("-v", "--verbose")


def version() -> str:
    from . import __version__

    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version

        return dist_version("facealign")
    except (ImportError, PackageNotFoundError):
        return __version__


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command: its module's arguments, defaults shown in the help, --verbose."""
    module = importlib.import_module(COMMANDS[name][0])
    p = argparse.ArgumentParser(prog=f"facealign {name}", description=COMMANDS[name][1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    module.add_arguments(p)
    p.add_argument(*VERBOSE_FLAGS, action="store_true", dest="verbose",
                   help="show info logs and third-party lines (TFLite, FFmpeg) that are hidden otherwise")
    p.set_defaults(_run=module.run)
    return p


def top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facealign", description="68-point face landmarks.",
                                     epilog="facealign COMMAND --help shows each command's flags and defaults.")
    parser.add_argument("--version", action="version", version=f"facealign {version()}")
    parser.add_argument(*VERBOSE_FLAGS, action="store_true", help="as COMMAND --verbose")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, helptext) in COMMANDS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verbose = any(a in VERBOSE_FLAGS for a in argv[:1])
    if verbose:
        argv = argv[1:]
    parser = top_parser()
    if not argv or argv[0] not in COMMANDS:
        if argv and argv[0].startswith("-"):
            try:
                parser.parse_args(argv)  # --help, --version, or argparse's own error
            except SystemExit as done:
                return int(done.code or 0)
        parser.print_help()
        if argv:
            print(f"\nfacealign: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    args = command_parser(argv[0]).parse_intermixed_args(argv[1:])
    args.verbose = args.verbose or verbose
    return run_command(args)


def run_command(args) -> int:
    """Run a parsed command, with third-party noise filtered from stderr unless args.verbose."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        return int(args._run(args) or 0)
    from .lognoise import StderrFilter

    with StderrFilter():
        return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
