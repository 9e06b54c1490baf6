"""`facealign bench`: per-stage speed of the real-time pipeline against its peers (facealign.bench)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    from facealign.bench import BLOCK, CLIP

    p.add_argument("--source", default=None, help=f"video file (default: ../shared/data/media/{CLIP})")
    shared.model(p)
    p.add_argument("--frames", type=int, default=300, help="frames to time (the clip is looped)")
    shared.json_out(p, "also write the figures as JSON", metavar="OUT")
    p.add_argument("--no-peers", action="store_true", help="skip MediaPipe FaceMesh and dlib")
    p.add_argument("--runs", type=int, default=3, help="timed passes; the ratios to the peers are their median")
    p.add_argument("--block", type=int, default=BLOCK,
                   help="frames each model runs before the next takes its turn (1: frame by frame)")
    p.add_argument("--session", default=None, metavar="KEY=VALUE,...",
                   help="onnxruntime session settings: threads=N, spinning=1|0, optimization=disabled|basic|"
                        "extended|layout|all, execution=sequential|parallel (default: the backend's)")
    p.add_argument("--stages", action="store_true",
                   help="time each landmark stage alone (batch 1, real crops from the clip) for the weights "
                        "(onnx, default session) and each --variant in turn, as ratios to it")
    p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE,...",
                   help="weights=FILE and/or session settings (as --session): our pipeline (with --stages: each "
                        "stage) again with them, timed in turn, as a ratio to the base; repeat for more")


def run_stages(args) -> dict:
    from facealign.stagebench import measure, parse_variant, print_report
    from facealign.weights import resolve

    base = resolve(args.weights, args.preset, "onnxruntime", "cpu")
    variants = [parse_variant(v, base) for v in args.variant]
    report = measure(base, variants, args.source, args.frames, args.runs)
    print_report(report)
    return report


def run_pipeline(args) -> dict:
    from facealign.bench import measure, print_report
    from facealign.stagebench import parse_variant
    from facealign.weights import resolve

    options = {"session": args.session} if args.session else {}
    base = resolve(args.weights, args.preset, args.backend)
    variants = [parse_variant(v, base) for v in args.variant]
    if len(set(args.variant)) < len(args.variant):
        raise ValueError(f"each variant once, please (got {', '.join(args.variant)})")
    report = measure(args.source, args.preset, args.backend, args.weights, args.frames, args.runs,
                     with_peers=not args.no_peers, variants=variants, block=args.block, **options)
    print_report(report)
    return report


def run(args) -> int:
    if args.session and args.stages:
        print("facealign bench: with --stages the base runs the default session; give settings as --variant",
              file=sys.stderr)
        return 2
    return shared.report("bench", lambda: run_stages(args) if args.stages else run_pipeline(args), args.json)
