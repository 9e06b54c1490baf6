"""Flags that several commands take, each declared once; their choices come from the library's tables
(backends.FORMATS, weights.PRESETS, detectors.list_detectors()), so a new backend, preset or detector
is offered by every command that takes one."""
from __future__ import annotations

import argparse

DATA_HELP = "300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)"


def weights(p: argparse.ArgumentParser, positional: bool = False) -> None:
    """--weights FILE, or (positional=True) an optional WEIGHTS argument: a weights file instead of
    the preset's."""
    if positional:
        p.add_argument("weights", nargs="?", help="cascade file, checkpoint, .onnx or .engine (default: the preset's)")
    else:
        p.add_argument("--weights", default=None, help="a weights file (.pt, .onnx, .engine) instead of the preset's")


def preset(p: argparse.ArgumentParser) -> None:
    """--preset NAME: which shipped weights (weights.PRESETS), when no weights file is given."""
    from facealign.weights import PRESETS

    p.add_argument("--preset", default=PRESETS[0], choices=PRESETS,
                   help="shipped weights to use when no weights file is given")


def backend(p: argparse.ArgumentParser) -> None:
    """--backend NAME: auto or one of backends.FORMATS."""
    from facealign.backends import FORMATS

    p.add_argument("--backend", default="auto", choices=("auto", *FORMATS),
                   help="auto: by the weights' suffix and the machine")


def model(p: argparse.ArgumentParser, positional_weights: bool = False) -> None:
    """The three flags that choose the model: weights, --preset, --backend."""
    weights(p, positional_weights)
    preset(p)
    backend(p)


def detector(p: argparse.ArgumentParser) -> None:
    """--detector NAME: one of detectors.list_detectors()."""
    from facealign.detectors import list_detectors

    p.add_argument("--detector", default="mediapipe", choices=list_detectors(), help="face detector")


def max_faces(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-faces", type=int, default=0,
                   help="at most this many faces per picture or frame, best scores first (0: every face)")


def data(p: argparse.ArgumentParser) -> None:
    """--data DIR: the 300-W root."""
    p.add_argument("--data", default=None, help=DATA_HELP)


def device(p: argparse.ArgumentParser, default: str = "auto", help: str = "auto, cpu, cuda or cuda:N") -> None:
    p.add_argument("--device", default=default, help=help)


def json_out(p: argparse.ArgumentParser, help: str, metavar: str = "FILE") -> None:
    """--json FILE: where a command also writes its figures (formats.atomic.write_json)."""
    p.add_argument("--json", default=None, metavar=metavar, help=help)


def report(command: str, make, json_path) -> int:
    """Run a measuring command's `make()` -> its report dict, also written to `json_path` (--json) when
    given; a missing file or a bad value ends it with its message and exit code 2."""
    import sys

    from facealign.formats.atomic import write_json

    try:
        result = make()
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"facealign {command}: {e}", file=sys.stderr)
        return 2
    if json_path:
        write_json(json_path, result, indent=2)
        print(f"wrote {json_path}")
    return 0
