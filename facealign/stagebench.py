"""Each landmark stage alone, at batch 1, for several variants of one model, timed in turn (`facealign bench --stages`).

A variant is a weights file and onnxruntime session settings (backends/onnxruntime_backend.py,
parse_session): the float32 file with the default settings is the base, and each `--variant`
changes the file (weights=FILE: an int8 or float16 copy), the settings (threads=1, spinning=0,
optimization=basic, execution=parallel), or both. The inputs are real: the base model follows the
face of the clip in video mode, and each frame's stage inputs are made from its points with the
pipeline's own crop code (stage 1 around their box, stage 2 aligned on them), once, before timing.
Then the variants take turns on the same inputs, a block of 8 frames at a time (the order rotates
from block to block), so a slow spell of a noisy machine falls on all of them alike; the first
frame of each block is not counted, since the previous variant's idle threads may still spin. Ratio = the
variant's median / the base's median per run; --runs N reports the median of the N ratios.

`report` (what --json writes): {"variants": [{"label", "weights", "session"}], "stages": {stage:
{label: {"median_ms", "ratio_runs", "ratio"}}}, "frames", "runs", "source", "machine"}.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .wording import plural

BLOCK = 8  # frames a variant runs in a row (the first not counted)


@dataclass(frozen=True)
class Variant:
    label: str
    weights: Path
    session: dict = field(default_factory=dict)


def parse_variant(spec: str, base: Path) -> Variant:
    """"key=value,..." -> Variant: weights=FILE (default: the base file), the rest session settings
    (checked by parse_session). The label is the spec itself."""
    from .backends.onnxruntime_backend import parse_session

    items = [kv.partition("=") for kv in spec.split(",") if kv.strip()]
    weights = next((v.strip() for k, _, v in items if k.strip() == "weights"), None)
    rest = ",".join(f"{k.strip()}={v.strip()}" for k, _, v in items if k.strip() != "weights")
    parse_session(rest)  # a bad key or value fails here, before anything is timed
    return Variant(spec, Path(weights) if weights else base, {k.strip(): v.strip() for k, _, v in items
                                                              if k.strip() != "weights"})


def stage_inputs(weights: Path, frames: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Per frame with a face: each stage's batch-1 input, placed by the base model's tracked points."""
    from . import FaceAligner
    from .models.cascade import stage_input
    from .transform import points_box

    out = []
    with FaceAligner(weights=weights, video=True, max_faces=1, smoothing=False) as fa:
        stages, scheme = fa.model.stages, fa.model.scheme
        for frame in frames:
            faces = fa(frame)
            if faces:
                pts = faces[0].points[None].astype(np.float32)
                box = points_box(pts[0])[None]
                out.append([stage_input(s, [frame], box, pts if k else None, scheme=scheme)[1]
                            for k, s in enumerate(stages)])
    if not out:
        raise ValueError("no face was found in the clip: nothing to time")
    return out


def time_variants(runners: list[list], inputs: list[list[np.ndarray]], block: int = BLOCK) -> list[list[list[float]]]:
    """ms[variant][stage] lists. The frames go in blocks of `block`: every variant runs the block
    (each frame: every stage on its input), the variants in turn, their order rotating from block
    to block. The first frame of a variant's block is not counted: the previous variant's threads
    may still be spinning (onnxruntime's idle threads busy-wait a while after a run)."""
    n_var, n_stage = len(runners), len(inputs[0])
    ms = [[[] for _ in range(n_stage)] for _ in range(n_var)]
    for b, start in enumerate(range(0, len(inputs), block)):
        for k in range(n_var):
            v = (b + k) % n_var
            for f, per_stage in enumerate(inputs[start:start + block]):
                for s, x in enumerate(per_stage):
                    t0 = time.perf_counter()
                    runners[v][s](x)
                    if f:
                        ms[v][s].append((time.perf_counter() - t0) * 1e3)
    return ms


def measure(base: Path, variants: list[Variant], source=None, frames: int = 200, runs: int = 3) -> dict:
    """Time every stage of `base` (default session) and of each variant in turn -> the report dict."""
    from .backends import load_backend
    from .bench import WARMUP, decode, default_source, pingpong

    every = [Variant("base", base)] + list(variants)
    labels = [v.label for v in every]
    if len(set(labels)) < len(labels):
        raise ValueError(f"each variant once, please (got {', '.join(labels[1:])})")
    source = Path(source) if source else default_source()
    clip, _ = decode(source)
    inputs = stage_inputs(base, [clip[i] for i in pingpong(len(clip), max(1, frames))])
    models = [load_backend(v.weights, "onnxruntime", device="cpu", session=v.session) for v in every]
    sizes = {tuple(s.input_size for s in m.stages) for m in models}
    if len(sizes) > 1:
        raise ValueError(f"the variants' stages take different input sizes {sorted(sizes)}: not one model")
    runners = [m.runners for m in models]
    time_variants(runners, inputs[:WARMUP])
    timed = [time_variants(runners, inputs) for _ in range(max(1, runs))]
    names = [f"stage{i + 1}" for i in range(len(inputs[0]))]
    stages = {}
    for s, name in enumerate(names):
        row = {}
        for k, v in enumerate(every):
            med = [float(np.median(run[k][s])) for run in timed]
            ratios = [m / float(np.median(run[0][s])) for m, run in zip(med, timed)]
            row[v.label] = {"median_ms": round(float(np.median(med)), 3),
                            "ratio_runs": [round(r, 3) for r in ratios], "ratio": round(float(np.median(ratios)), 3)}
        stages[name] = row
    return {"variants": [{"label": v.label, "weights": str(v.weights), "session": v.session} for v in every],
            "stages": stages, "frames": len(inputs), "runs": len(timed), "source": str(source),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}}


def print_report(r: dict) -> None:
    base = r["variants"][0]["weights"]
    print(f"facealign bench --stages: {Path(r['source']).name}, {plural(r['frames'], 'frame')} x "
          f"{r['runs']} run(s), batch 1, each variant in turn on the same inputs; base {base} (default session)")
    print(f"{'variant':<44}{'stage':<8}{'median ms':>10}{'ratio':>8}   ratio per run")
    for name, row in r["stages"].items():
        for label, s in row.items():
            runs = ", ".join(f"{x:.3f}" for x in s["ratio_runs"])
            print(f"{label[:43]:<44}{name:<8}{s['median_ms']:>10.3f}{s['ratio']:>8.3f}   {runs}")
