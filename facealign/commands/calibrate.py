"""`facealign calibrate`: measure MediaPipe's boxes against the 68-point boxes on the 300-W training
faces (facealign.calibrate)."""
from __future__ import annotations

import logging

from . import args as shared


def add_arguments(p) -> None:
    shared.data(p)
    p.add_argument("--model", type=int, choices=(0, 1), default=0,
                   help="MediaPipe model_selection: 0 short range, 1 full range")
    p.add_argument("--refine", action="store_true",
                   help="find with --model, then redraw each box with short range on a crop (the default detector)")
    p.add_argument("--min-score", type=float, default=0.5, help="detector confidence threshold")
    p.add_argument("--min-iou", type=float, default=0.25, help="least IoU of a detection with the point box")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training faces")
    shared.json_out(p, "also write the result as JSON", metavar="PATH")


def run(args) -> int:
    from facealign.calibrate import calibrate, report
    from facealign.data import load_split
    from facealign.detectors.mediapipe import MODEL_NAMES, MediaPipeDetector
    from facealign.formats.atomic import write_json

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    faces = load_split("train", args.data)
    name = (f"mediapipe model_selection={args.model} ({MODEL_NAMES[args.model]}), refine={args.refine}, "
            f"min_score={args.min_score}")
    with MediaPipeDetector(args.model, args.min_score, refine=args.refine) as det:
        c = calibrate(faces, det, name, args.min_iou, args.limit)
    print(report(c))
    if args.json:
        write_json(args.json, c.to_dict(), indent=2)
        print(f"wrote {args.json}")
    return 0
