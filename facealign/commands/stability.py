"""`facealign stability`: how much the points shake, filtered and not, and the filter's lag, beside
MediaPipe FaceMesh on the same frames (facealign.stability)."""
from __future__ import annotations

from . import args as shared

SWEEP_KEYS = {"space": str, "min_cutoff": float, "beta": float, "d_cutoff": float}


def add_arguments(p) -> None:
    from facealign.bench import CLIP

    p.add_argument("source", nargs="?", default=None, help=f"video file (default: ../shared/data/media/{CLIP})")
    shared.model(p)
    p.add_argument("--frames", type=int, default=0, help="the first N frames of the clip (0: all)")
    p.add_argument("--smoothing", default=None, choices=("aligned", "frame", "off"),
                   help="where the filter works (default: the video mode's, aligned)")
    for key in ("min_cutoff", "beta", "d_cutoff"):
        p.add_argument(f"--{key.replace('_', '-')}", type=float, default=None,
                       help=f"the filter's One Euro {key} (default: the filter's own)")
    p.add_argument("--flip", action="store_true", help="test-time flip averaging in every stage")
    p.add_argument("--sweep", nargs="+", metavar="KEY=V1,V2", default=None,
                   help="replay a grid of filter settings (keys: " + ", ".join(SWEEP_KEYS) + ") on one "
                   "unfiltered run, e.g. --sweep beta=10,20 space=aligned,frame")
    p.add_argument("--no-facemesh", action="store_true", help="skip MediaPipe FaceMesh")
    shared.json_out(p, "also write the figures as JSON", metavar="OUT")


def parse_grid(items: list[str]) -> dict[str, list]:
    """["beta=10,20", "space=aligned"] -> {"beta": [10.0, 20.0], "space": ["aligned"]}; ValueError on a
    key that is not a filter setting or a value that is not a number."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or key not in SWEEP_KEYS or not values:
            raise ValueError(f"--sweep {item!r}: expected KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}")
        try:
            grid[key] = [SWEEP_KEYS[key](v) for v in values.split(",")]
        except ValueError:
            raise ValueError(f"--sweep {item!r}: {key} takes numbers") from None
    return grid


def smoothing_of(args) -> dict | bool | None:
    """The FaceAligner smoothing the flags ask for (None: the video mode's default)."""
    if args.smoothing == "off":
        return False
    given = {k: getattr(args, k) for k in ("min_cutoff", "beta", "d_cutoff") if getattr(args, k) is not None}
    if args.smoothing:
        given["space"] = args.smoothing
    return given or None


def run(args) -> int:
    from facealign.bench import default_source
    from facealign.stability import measure, print_report, print_sweep, sweep

    def make() -> dict:
        source = args.source or default_source()
        common = dict(preset=args.preset, weights=args.weights, backend=args.backend,
                      max_frames=args.frames or None, flip=args.flip, with_facemesh=not args.no_facemesh)
        if args.sweep:
            out = sweep(source, parse_grid(args.sweep), **common)
            print_sweep(out)
        else:
            out = measure(source, smoothing=smoothing_of(args), **common)
            print_report(out)
        return out

    return shared.report("stability", make, args.json)
