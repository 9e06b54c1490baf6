"""`facealign compare dlib [WEIGHTS]`: facealign and dlib's 68-point predictor on the same 300-W faces
(facealign.compare; dlib wrapped in facealign.peers)."""
from __future__ import annotations

import sys

from . import args as shared


def add_arguments(p) -> None:
    p.add_argument("peer", choices=["dlib"], help="the peer to compare with")
    shared.model(p, positional_weights=True)
    shared.data(p)
    p.add_argument("--subset", default="common", help="300-W split: common, challenging, full or train")
    p.add_argument("--limit", type=int, default=0, help="only the first N faces")
    shared.json_out(p, "write the table as JSON here")


def print_table(res: dict, subset: str, path) -> None:
    f = res["_faces"]
    print(f"{subset}: {f['total']} faces; dlib's detector missed {f['dlib_missed']}, MediaPipe missed "
          f"{f['mediapipe_missed']}; compared on the {f['compared']} both found.  weights: {path}")
    print(f"{'method':<44}{'faces':>6}{'NME %':>8}{'FR@8 %':>8}{'AUC@8':>8}")
    for name, r in res.items():
        if not name.startswith("_"):
            print(f"{name:<44}{r['n']:>6}{r['nme']:>8.3f}{r['fr']:>8.2f}{r['auc']:>8.4f}")


def run(args) -> int:
    from facealign.backends import load_backend
    from facealign.compare import compare
    from facealign.data import load_split
    from facealign.detectors import create_detector
    from facealign.formats.atomic import write_json
    from facealign.peers import DlibLandmarks
    from facealign.weights import resolve

    try:
        dlib_pred = DlibLandmarks()
    except ImportError as e:
        print(f"facealign compare: {e}", file=sys.stderr)
        return 2
    path = resolve(args.weights, args.preset, args.backend)
    model = load_backend(path, args.backend)
    faces = load_split(args.subset, args.data)
    if args.limit:
        faces = faces.subset(range(min(args.limit, len(faces))))
    res = compare(model, faces, create_detector("mediapipe"), dlib_pred)
    print_table(res, args.subset, path)
    if args.json:
        write_json(args.json, res, indent=2)
    return 0
