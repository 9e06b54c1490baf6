"""`facealign export WEIGHTS --format onnx|engine|torch`: write the weights in another format, then
check the written file against PyTorch (facealign.export). Every error is one line, exit code 2."""
from __future__ import annotations

import logging
import sys

from . import args as shared

log = logging.getLogger("facealign.export")


def add_arguments(p) -> None:
    from facealign.export import EXPORTERS
    from facealign.formats.onnx_cascade import DEFAULT_OPSET

    p.add_argument("weights", help="cascade file (weights/accurate.pt) or training checkpoint (checkpoints/NAME/best.pt); "
                                   "with --int8 also a float .onnx file (weights/accurate.onnx)")
    p.add_argument("--format", required=True, choices=list(EXPORTERS), help="what to write")
    p.add_argument("-o", "--output", help="output path (default: WEIGHTS with the format's suffix; "
                                          "for torch, weights/PRESET.pt)")
    p.add_argument("--preset", help="preset name stored in the file's metadata (e.g. accurate, fast)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    p.add_argument("--fp16", action="store_true", help="onnx: write the FP16-typed graph TensorRT 11 builds "
                                                       "(float16 body, float32 decoding and I/O)")
    p.add_argument("--int8", action="store_true", help="onnx: write the INT8 copy for onnxruntime on the CPU "
                                                       "(QDQ, per-channel, calibrated on 300-W training faces)")
    p.add_argument("--calibration-faces", type=int, default=256, help="int8: training faces to calibrate on")
    p.add_argument("--int8-head-float", action="store_true",
                   help="int8: keep the heads' convolutions in float32 (the shipped fast.int8.onnx)")
    shared.data(p)
    p.add_argument("--cache-dir", default=None, help="engine: the TensorRT engine cache "
                                                     "(default ~/.cache/facealign/engines)")
    shared.device(p, "cuda", "engine: the GPU to build on (cuda or cuda:N)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the written file with PyTorch")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output file if it exists (a shipped weights file, an earlier export)")


def one_line(e: BaseException) -> str:
    """An exception as one line: its message's lines joined (the type where it has no message)."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text or type(e).__name__


def export_and_check(args) -> None:
    from facealign.export import EXPORTERS, compare, export
    from facealign.formats.cascade_pt import load_cascade

    out = export(args.weights, args.format, args.output, args.preset, args.opset, args.cache_dir, args.device,
                 args.fp16, args.overwrite, args.int8, args.data, args.calibration_faces, args.int8_head_float)
    kind = ", float16" if args.fp16 else f", int8, calibrated on {args.calibration_faces} training faces" if args.int8 else ""
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB{kind})")
    if args.format == "onnx":
        print("onnx.checker: ok (full check)")
    if args.int8 and not args.no_check:
        check_int8(args, out)
    elif not args.no_check:
        backend = EXPORTERS[args.format].backend
        options = {"cache_dir": args.cache_dir, "device": args.device} if backend == "tensorrt" else {}
        diffs = compare(load_cascade(args.weights), out, backend, **options)
        print("max |torch - " + backend + "| per stage (normalised outputs and point scores, random batch): "
              + ", ".join(f"stage {i + 1}: {d:.2e}" for i, d in enumerate(diffs)))


def check_int8(args, out) -> None:
    """The INT8 file against its float source on training faces the calibration did not use."""
    from facealign.data import load_split
    from facealign.formats.onnx_cascade import read_onnx, to_onnx
    from facealign.quantize import check

    if args.weights.lower().endswith(".onnx"):
        source = read_onnx(args.weights).model
    else:
        from facealign.formats.cascade_pt import load_cascade

        source = to_onnx(load_cascade(args.weights), args.opset, args.preset)
    c = check(source, read_onnx(out).model, load_split("train", args.data))
    print(f"int8 vs float32 on {c.faces} training faces not used for calibration: NME {c.nme_int8:.3f} vs "
          f"{c.nme_float:.3f} % ({c.nme_int8 - c.nme_float:+.3f}); points at most {c.max_px:.2f} px apart")


def run(args) -> int:
    try:
        export_and_check(args)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - the CLI boundary: every failure is one line and exit 2
        log.debug("export failed", exc_info=True)
        expected = isinstance(e, (FileNotFoundError, FileExistsError, ValueError, ImportError, RuntimeError))
        print(f"facealign export: {'' if expected else type(e).__name__ + ': '}{one_line(e)}", file=sys.stderr)
        return 2
    return 0
