"""`facealign <command>`: one CLI, one module per subcommand.

Each command module has `add_arguments(parser)` and `run(args) -> int`; it is
imported only when its command runs, so `facealign --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train.cli", "train one experiment config (one cascade stage)"),
    "eval": ("facealign.evaluate", "NME / failure rate / AUC / CED on 300-W or a folder"),
    "predict": ("facealign.predict", "landmarks for pictures, folders and videos (annotated copies + JSON)"),
    "bench": ("facealign.bench", "per-stage speed of the real-time pipeline against its peers"),
    "export": ("facealign.export", "export weights to ONNX or a TensorRT engine"),
    "serve": ("demo.app", "start the Gradio web page"),
    "compare": ("facealign.compare", "side-by-side accuracy with dlib's 68-point predictor"),
    "calibrate": ("facealign.calibrate", "measure a detector's boxes against the 68-point boxes"),
    "sweep": ("train.sweep", "run the study's experiment grids"),
    "report": ("train.report", "markdown tables of the study from the logs"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="facealign", description="68-point face landmarks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, helptext) in COMMANDS.items():
        sub.add_parser(name, help=helptext, add_help=False)
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help()
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nfacealign: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(COMMANDS[argv[0]][0])
    p = argparse.ArgumentParser(prog=f"facealign {argv[0]}", description=COMMANDS[argv[0]][1])
    module.add_arguments(p)
    return int(module.run(p.parse_intermixed_args(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
