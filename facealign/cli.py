"""`facealign <command>`: one CLI, one module per subcommand (facealign/commands/).

Each command module has `add_arguments(parser)` and `run(args) -> int`, and declares the flags
several commands take through facealign.commands.args; it is imported only when its command
runs, so `facealign --help` stays fast. Every
command's help shows each flag's default; `--verbose` (before or after the
command) shows the library's info logs and the third-party lines (TFLite, FFmpeg)
that are hidden otherwise.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("facealign.commands.train", "train one experiment config (one cascade stage)"),
    "eval": ("facealign.commands.eval", "NME / failure rate / AUC / CED on 300-W or a folder of picture + .pts pairs"),
    "predict": ("facealign.commands.predict", "landmarks for pictures, folders and videos (annotated copies + JSON)"),
    "bench": ("facealign.commands.bench", "per-stage speed of the real-time pipeline against its peers"),
    "stability": ("facealign.commands.stability", "how much the points shake, filtered and not, and the filter's lag, beside FaceMesh"),
    "export": ("facealign.commands.export", "export weights to ONNX, a TensorRT engine or a half-precision torch cascade"),
    "serve": ("facealign.commands.serve", "start the Gradio web page (pictures, videos, webcam)"),
    "webcam": ("facealign.commands.webcam", "live landmarks on a camera, a video file or a stream (= python -m demo.webcam)"),
    "compare": ("facealign.commands.compare", "side-by-side accuracy with dlib's 68-point predictor"),
    "calibrate": ("facealign.commands.calibrate", "measure a detector's boxes against the 68-point boxes"),
    "sweep": ("facealign.commands.sweep", "run the study's experiment grids"),
    "report": ("facealign.commands.report", "markdown tables of the study from the logs"),
}
VERBOSE_FLAGS = ("-v", "--verbose")
_SAYS_DEFAULT = re.compile(r"\(default[: ]|default:|%\(default\)", re.IGNORECASE)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once: "(default: X)" is added unless the help already speaks of its
    default, the option is required, or there is no default (None) to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required or action.default in (None, argparse.SUPPRESS) or _SAYS_DEFAULT.search(text):
            return text
        return super()._get_help_string(action)


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
                                formatter_class=HelpFormatter)
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


class ConsoleFormatter(logging.Formatter):
    """"facealign.train: epoch 1/3 ..." for info lines, "WARNING facealign.pipeline: ..." above."""

    def __init__(self):
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname} {text}"


def console_filter(record: logging.LogRecord) -> bool:
    """What the console shows: warnings and errors, records logged with extra={"console": True}
    (training's epoch lines), and with --verbose everything."""
    from .lognoise import verbose

    return record.levelno >= logging.WARNING or getattr(record, "console", False) or verbose()


def setup_logging(verbose: bool) -> None:
    """Third-party noise silenced where it is born (or shown: verbose), and one console handler."""
    from .lognoise import set_verbose

    set_verbose(verbose)
    root = logging.getLogger()
    if not root.handlers:  # (under pytest its own handlers are there: leave them)
        handler = logging.StreamHandler()
        handler.setFormatter(ConsoleFormatter())
        handler.addFilter(console_filter)
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("facealign").setLevel(logging.INFO)  # console_filter decides what shows


def run_command(args) -> int:
    """Run a parsed command; third-party lines and info logs are shown only with args.verbose."""
    setup_logging(args.verbose)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
