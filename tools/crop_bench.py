"""The crop before and after issue 21, timed in turn on the same frames: `python tools/crop_bench.py [--preset fast]`.

"before" is a frozen copy of the crop path as it was (complex-number similarity, the template
converted on every call); "after" is the library's
(models.cascade.stage_input). Each frame of single_face.mp4 (played forwards and backwards) gets
both, in alternating order, for each stage's crop placed by the tracked points; the ratio is
after / before per run, and the median of the runs. Also prints the largest difference between
the two inputs (the crops must not change).
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from facealign import FaceAligner
from facealign.bench import decode, default_source, pingpong
from facealign.models.cascade import stage_input
from facealign.transform import CropTransform, points_box


def similarity_before(src, dst):
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    sc = s[:, 0] + 1j * s[:, 1]
    dc = d[:, 0] + 1j * d[:, 1]
    denom = float((np.abs(sc) ** 2).sum())
    a = (np.conj(sc) * dc).sum() / denom
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    t = mu_d - rot @ mu_s
    return np.hstack([rot, t[:, None]])


def to_input_before(crops):
    arr = np.asarray(crops)
    return np.ascontiguousarray(arr[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) * (1.0 / 255.0)


def stage_input_before(spec, frames, boxes, pts):
    if spec.crop == "box":
        boxes = boxes if pts is None else [points_box(q) for q in pts]
        tfs = [CropTransform.from_box(b, spec.input_size, spec.crop_scale) for b in boxes]
    else:
        tfs = [CropTransform(similarity_before(p, np.asarray(spec.template, np.float32)), spec.input_size) for p in pts]
    crops = np.stack([t.warp(f) for t, f in zip(tfs, frames)])
    return tfs, to_input_before(crops), None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="fast")
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    clip, _ = decode(default_source())
    frames = [clip[i] for i in pingpong(len(clip), args.frames)]
    with FaceAligner(preset=args.preset, video=True, max_faces=1, smoothing=False) as fa:
        stages = fa.model.stages
        pts = [fa(f)[0].points[None] for f in frames]
    ways = {"before": lambda s, f, b, q: stage_input_before(s, [f], b, q),
            "after": lambda s, f, b, q: stage_input(s, [f], b, q)}
    print(f"crop + input, {args.preset}, {len(frames)} frames x {args.runs} runs, batch 1, in turn (us, median)")
    for k, spec in enumerate(stages):
        diff, ratios, med = 0.0, [], {"before": [], "after": []}
        for run in range(args.runs):
            ms = {"before": [], "after": []}
            for i, (f, q) in enumerate(zip(frames, pts)):
                box, q = points_box(q[0])[None], (q if k else None)
                for name in (("before", "after") if i % 2 else ("after", "before")):
                    t0 = time.perf_counter()
                    x = ways[name](spec, f, box, q)[1]
                    ms[name].append((time.perf_counter() - t0) * 1e6)
                if run == 0:
                    diff = max(diff, float(np.abs(ways["before"](spec, f, box, q)[1] - x).max()))
            ratios.append(np.median(ms["after"]) / np.median(ms["before"]))
            for name in ms:
                med[name].append(np.median(ms[name]))
        print(f"stage{k + 1} ({spec.input_size} px): before {np.median(med['before']):.1f}, after "
              f"{np.median(med['after']):.1f}; after/before {np.median(ratios):.3f} (runs: "
              f"{', '.join(f'{r:.3f}' for r in ratios)}); max |input difference| {diff:.2e}")
    print(f"cv2 threads: {cv2.getNumThreads()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
