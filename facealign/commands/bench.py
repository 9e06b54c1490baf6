"""`facealign bench`: per-stage speed of the real-time pipeline against its peers (facealign.bench)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    from facealign.bench import CLIP

    p.add_argument("--source", default=None, help=f"video file (default: ../shared/data/media/{CLIP})")
    shared.model(p)
    p.add_argument("--frames", type=int, default=300, help="frames to time (the clip is looped)")
    shared.json_out(p, "also write the figures as JSON", metavar="OUT")
    p.add_argument("--no-peers", action="store_true", help="skip MediaPipe FaceMesh and dlib")
    p.add_argument("--runs", type=int, default=3, help="timed passes; the ratios to the peers are their median")


def run(args) -> int:
    from facealign.bench import measure, print_report
    from facealign.formats.atomic import write_json

    try:
        report = measure(args.source, args.preset, args.backend, args.weights, args.frames, args.runs,
                         with_peers=not args.no_peers)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"facealign bench: {e}", file=sys.stderr)
        return 2
    print_report(report)
    if args.json:
        write_json(args.json, report, indent=2)
        print(f"wrote {args.json}")
    return 0
