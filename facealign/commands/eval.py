"""`facealign eval [WEIGHTS]`: NME / failure rate / AUC / CED on 300-W subsets or any folder of
picture + .pts pairs (facealign.evaluate); with --confidence, what the point confidences are worth
there instead (facealign.confidence)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from . import args as shared


def add_arguments(p) -> None:
    from facealign.evaluate import TEST_SUBSETS

    shared.model(p, positional_weights=True)
    shared.data(p)
    p.add_argument("--subset", default="common", help=f"one of {', '.join(TEST_SUBSETS)}, 'all', or train")
    p.add_argument("--folder", help="evaluate on any folder of picture + .pts pairs instead "
                                    "(malformed pairs are skipped and reported)")
    p.add_argument("--boxes", choices=("gt", "detector"), default="gt",
                   help="crop from the ground-truth point box (the study's protocol) or from MediaPipe's box "
                        "(missed faces reported)")
    p.add_argument("--flip", action="store_true", help="test-time flip averaging: every stage also runs on its mirrored crops")
    p.add_argument("--confidence", action="store_true",
                   help="instead of NME: how the point confidences rank the points' errors (Spearman), the error "
                        "of the 10%% least confident points against the rest, and how a grey rectangle over the "
                        "mouth or an eye lowers the covered points' confidence (ground-truth boxes only)")
    shared.json_out(p, "write {subset: EvalResult.to_json()} here (nme and fr in percent; "
                       "with --confidence, ConfidenceResult.to_json())")
    p.add_argument("--plot", help="draw the CED curves to this PNG")


def subsets(args) -> dict:
    """{name: (FaceSet, skipped malformed pairs)} of --folder, or of --subset (all: each test subset
    whose data is there; the missing ones are said and skipped)."""
    from facealign.data import SPLITS, load_folder, load_split
    from facealign.data.dataset import MissingDataError
    from facealign.evaluate import TEST_SUBSETS

    if args.folder:
        skipped: list[tuple[str, str]] = []
        faces = load_folder(args.folder, skipped=skipped)
        return {Path(args.folder).name: (faces, skipped)}
    names = list(TEST_SUBSETS) if args.subset == "all" else [args.subset]
    out = {}
    for name in names:
        if name not in SPLITS:
            raise ValueError(f"unknown subset {name!r}; choose from {', '.join(SPLITS)} or all")
        try:
            out[name] = (load_split(name, args.data), [])
        except MissingDataError as e:
            if args.subset != "all":
                raise
            print(f"{name}: skipped ({e})", file=sys.stderr)
    return out


def print_result(name: str, res, n_stages: int) -> None:
    for st in res.stages:
        label = "cascade" if st.stage == n_stages and n_stages > 1 else f"stage{st.stage}"
        print(f"{name:<14}{label:<9}{st.n:>6}{st.nme:>8.3f}{st.fr:>8.2f}{st.auc:>8.4f}")
    if res.missed:
        print(f"{name:<14}the detector missed {res.missed} of {res.faces} faces "
              f"(FR@8 counting them: {res.final.fr_with_missed:.2f} %)")
    if res.skipped:
        print(f"{name:<14}skipped {len(res.skipped)} malformed pair(s):")
        for path, reason in res.skipped:
            print(f"  {path}: {reason.removeprefix(path + ':').strip()}")


def run(args) -> int:
    from facealign.backends import load_backend
    from facealign.evaluate import evaluate, plot_ced
    from facealign.formats.atomic import write_json
    from facealign.weights import resolve

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.confidence and args.boxes != "gt":
        print("facealign eval: --confidence crops from the ground-truth boxes; drop --boxes detector", file=sys.stderr)
        return 2
    data_log = logging.getLogger("facealign.data.dataset")
    level = data_log.level
    data_log.setLevel(logging.ERROR)  # skipped pairs: reported below (only while loading: no lasting side effect)
    try:
        path = resolve(args.weights, args.preset, args.backend)
        model = load_backend(path, args.backend)
        found = subsets(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"facealign eval: {e}", file=sys.stderr)
        return 2
    finally:
        data_log.setLevel(level)
    if args.confidence:
        return run_confidence(args, path, model, found)
    detector = None
    if args.boxes == "detector":
        from facealign.detectors import create_detector

        detector = create_detector("mediapipe")
    print(f"weights: {path}  backend: {model.backend}  boxes: {args.boxes}{'  flip' if args.flip else ''}")
    print(f"{'subset':<14}{'stage':<9}{'faces':>6}{'NME %':>8}{'FR@8 %':>8}{'AUC@8':>8}")
    report, curves = {}, {}
    for name, (faces, skipped) in found.items():
        res = evaluate(model, faces, args.boxes, args.flip, detector, skipped)
        curves[name] = res.errors
        print_result(name, res, len(model.stages))
        report[name] = res.to_json()
    if args.json:
        write_json(args.json, report, indent=2)
    if args.plot:
        plot_ced(curves, args.plot)
    return 0


def run_confidence(args, path, model, found: dict) -> int:
    """--confidence: the point-confidence figures of each subset (facealign.confidence)."""
    from facealign.confidence import evaluate_confidence, report_lines
    from facealign.formats.atomic import write_json

    print(f"weights: {path}  backend: {model.backend}  boxes: gt{'  flip' if args.flip else ''}  point confidences")
    report = {}
    for name, (faces, skipped) in found.items():
        try:
            res = evaluate_confidence(model, faces, args.flip)
        except ValueError as e:
            print(f"facealign eval: {e}", file=sys.stderr)
            return 2
        print("\n".join(report_lines(name, res)))
        if skipped:
            print(f"{name}: skipped {len(skipped)} malformed pair(s)")
        report[name] = res.to_json()
    if args.json:
        write_json(args.json, report, indent=2)
    return 0
