"""`facealign webcam` (in a checkout also `python -m demo.webcam`): live landmarks on a camera, a video
file or a stream (facealign.app.webcam)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    p.add_argument("--source", default="0", help="camera index, video file or stream URL")
    shared.model(p)
    p.add_argument("--output", default=None, metavar="FILE", help="write the annotated video to FILE (.mp4)")
    shared.json_out(p, "write the per-frame points to FILE (the JSON schema of facealign predict)")
    p.add_argument("--no-display", action="store_true", help="no window (headless)")
    shared.max_faces(p)
    p.add_argument("--no-smooth", action="store_true", help="start with temporal smoothing off")


def run(args) -> int:
    from facealign.app.webcam import play

    return play(args.source, args.output, args.json, not args.no_display, weights=args.weights,
                preset=args.preset, backend=args.backend, max_faces=args.max_faces or None,
                smoothing=not args.no_smooth)


def main(argv=None) -> int:
    """`python -m demo.webcam`: `facealign webcam` (its flags, --verbose, the CLI's quiet third-party output)."""
    from facealign.cli import main as cli_main

    return cli_main(["webcam", *(sys.argv[1:] if argv is None else argv)])
