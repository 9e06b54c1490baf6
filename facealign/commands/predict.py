"""`facealign predict PATH...`: landmarks for pictures, folders (recursive) and videos: annotated copies
and JSON under --out (facealign.predict). Exit code 1 if any input failed, 2 on bad arguments."""
from __future__ import annotations

import sys
from pathlib import Path

from . import args as shared


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="pictures, videos or folders (searched recursively)")
    p.add_argument("--out", default="predictions", help="output folder")
    shared.model(p)
    shared.max_faces(p)
    shared.detector(p)
    p.add_argument("--no-smooth", action="store_true", help="videos: raw per-frame points, no One Euro smoothing")


def run(args) -> int:
    from facealign.predict import VIDEO_SUFFIXES, Aligners, collect_inputs, process, report_failure
    from facealign.wording import plural

    if args.max_faces < 0:
        print("facealign predict: --max-faces must be 0 (every face) or more", file=sys.stderr)
        return 2
    jobs, missing = collect_inputs(args.paths)
    for path, err in missing:
        report_failure(path, err)
    aligners = Aligners(weights=args.weights, preset=args.preset, backend=args.backend, detector=args.detector,
                        max_faces=args.max_faces or None, smoothing=False if args.no_smooth else None)
    try:  # build what the inputs need now: a bad --weights is one error, not one per file
        for video in sorted({src.suffix.lower() in VIDEO_SUFFIXES for src, _ in jobs}):
            aligners.get(video)
    except (FileNotFoundError, ValueError) as e:
        print(f"facealign predict: {e}", file=sys.stderr)
        return 2
    failed = process(jobs, Path(args.out), aligners)
    done = len(jobs) - len(failed)
    print(f"{done} of {plural(len(jobs), 'input')} done, {len(missing) + len(failed)} failed"
          + (f"; outputs in {args.out}" if done else "; nothing written"))
    return 1 if missing or failed else 0
