"""Per-stage speed of the real-time (video-mode) pipeline against its peers.

All frames of the clip are decoded first (decode time is reported apart), then
the clip is played forwards and backwards (0..N-1, N-2..1, ...) until --frames
frames have gone through: motion stays continuous, so tracking is measured in
its steady state rather than re-detecting at an artificial cut. After a
warm-up, each frame is timed end to end (pipeline + drawing) and per stage
(`FaceAligner.last_stats`). The peers run in the same process on the same
frames: MediaPipe FaceMesh (468 points, video mode, one face) and, where `dlib`
is importable, dlib's HOG detector + 68-point shape predictor on every frame
(dlib has no tracker). They are timed in turn with ours, in blocks of --block
frames (BLOCK, one second of video: ours on a block, then each peer on the same
block), so a slow spell of a noisy machine falls on all of them alike while none
runs right after another model has filled the caches (--block 1: frame by frame). Peers are timed without drawing, so the ratios compare them
with our pipeline without drawing ("landmarks"): ratio = our median / the peer's
median, per run; --runs N repeats the whole pass and reports the median ratio.

`facealign bench --json` writes (all times in ms; each {"median", "mean", "p95", "count"}):
  ms_per_frame  end to end after decoding: pipeline + drawing ({"median", "mean", "p95"});
                fps = 1000 / its median
  landmarks     the pipeline call alone (what the peers are compared with)
  stages        FaceAligner.last_stats per stage (detect, track, crop, stage1, stage2, smooth) +
                draw; a stage counts only frames where it ran, and "per_frame" spreads its
                total over all timed frames. The head pose is solved only when a
                caller reads Landmarks.pose, so it is not part of the pipeline's time
  decode        per frame, decoding the clip once
  peers         {"mediapipe_facemesh", "dlib_hog_68"}; peers_skipped: {name: reason}
  ratios        {peer: {"runs": [our landmarks median / the peer's median, one per run], "median"}}
  variants      {label: {median, mean, p95, count, "ratio_runs": [its median / the base's, per run], "ratio"}}:
                `--variant weights=FILE,key=value`, our pipeline again with another weights file or
                onnxruntime session settings, run after the peers on every block; "base" is a copy of
                ours run among them (the variants' order rotates block by block), their reference
  preset, backend, weights (the file), frames (timed per run), runs, block, source, clip_frames, frame_size [w, h],
  machine; session (onnxruntime settings) when `--session` was given

`facealign bench --stages` times each landmark stage alone for variants of one model instead
(facealign/stagebench.py).
"""
from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from .cpu import cpu_info, describe
from .stagebench import Variant
from .video import VideoReader
from .wording import plural

log = logging.getLogger(__name__)
CLIP = "single_face.mp4"
STAGE_ORDER = ("detect", "track", "crop", "stage1", "stage2", "smooth", "draw")
WARMUP = 10
# frames each model runs before the next takes its turn (one second of video): a slow spell of the machine
# still falls on all of them alike, but none runs right after another model has filled the caches with
# its own weights, as no user's program does. Frame by frame (block=1) both slow down: FaceMesh took 4.02 ms
# a frame against 2.79 in blocks of 30, the fast preset 3.41 against 2.00 (0.85x against 0.71x; docs/speed.md)
BLOCK = 30


def default_source(package_dir: Path | None = None) -> Path:
    """../shared/data/media/single_face.mp4 beside the checkout (when facealign runs from one) or
    beside the working folder. The error names only paths a user knows: never one inside an
    installed package's virtualenv."""
    import facealign

    root = (package_dir or Path(facealign.__file__).resolve().parent).parent
    in_checkout = (root / "pyproject.toml").is_file()
    candidates = ([root.parent / "shared/data/media" / CLIP] if in_checkout else []) + \
        [Path.cwd().parent / "shared/data/media" / CLIP]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"the default clip ../shared/data/media/{CLIP} is not beside "
                            f"{'the checkout or ' if in_checkout else ''}the working folder; pass --source VIDEO")


def stats(ms, frames: int | None = None) -> dict:
    """Median, mean and 95th percentile (ms) of a list of timings, and how many there were;
    with `frames`, also "per_frame": their sum spread over that many frames (a stage that
    runs on every 10th frame costs a tenth of its time per frame)."""
    a = np.asarray(ms, dtype=np.float64)
    out = {"median": 0.0, "mean": 0.0, "p95": 0.0, "count": 0}
    if a.size:
        out = {"median": round(float(np.median(a)), 3), "mean": round(float(a.mean()), 3),
               "p95": round(float(np.percentile(a, 95)), 3), "count": int(a.size)}
    if frames:
        out["per_frame"] = round(float(a.sum()) / frames, 3)
    return out


def decode(source) -> tuple[list[np.ndarray], list[float]]:
    """Decode every frame of `source` with the one video reader -> (BGR uint8 frames, ms per frame).
    A missing or unreadable video fails with a clear VideoError."""
    frames, ms = [], []
    t0 = time.perf_counter()
    with VideoReader(source) as reader:  # opening decodes the first frame: counted as its time
        while (frame := reader.read()) is not None:
            ms.append((time.perf_counter() - t0) * 1e3)
            frames.append(frame)
            t0 = time.perf_counter()
    return frames, ms


def pingpong(n_clip: int, n: int) -> list[int]:
    """n frame indices playing a clip of n_clip frames forwards, backwards, forwards ..."""
    cycle = list(range(n_clip)) + list(range(n_clip - 2, 0, -1)) if n_clip > 1 else [0]
    return [cycle[i % len(cycle)] for i in range(n)]


def time_pipeline(aligner, frames, order, peers=(), variants=(), block: int = BLOCK) -> dict[str, list[float]]:
    """Run the pipeline + drawing on frames[order] in blocks of `block` frames, each peer then on the
    same block, then each variant (their order rotating from block to block: whoever runs right after
    the peers finds the caches cold) -> {"end_to_end", "landmarks", "draw", stage..., peer / variant
    name...: ms list}. block=1 alternates frame by frame."""
    from . import draw_landmarks

    for i in order[:WARMUP]:
        draw_landmarks(frames[i], aligner(frames[i]))
        for peer in [*peers, *variants]:
            peer(frames[i])
    aligner.reset()
    out: dict[str, list[float]] = {"end_to_end": [], "landmarks": [], "draw": [],
                                   **{p.name: [] for p in [*peers, *variants]}}
    for b, start in enumerate(range(0, len(order), max(1, block))):
        chunk = order[start:start + max(1, block)]
        for i in chunk:
            t0 = time.perf_counter()
            faces = aligner(frames[i])
            t1 = time.perf_counter()
            draw_landmarks(frames[i], faces)
            t2 = time.perf_counter()
            out["end_to_end"].append((t2 - t0) * 1e3)
            out["landmarks"].append((t1 - t0) * 1e3)
            out["draw"].append((t2 - t1) * 1e3)
            for name, ms in aligner.last_stats.timings().items():
                if name != "total" and ms > 0.0:  # a stage that did not run this frame (detect) is not a 0
                    out.setdefault(name, []).append(float(ms))
        turn = b % len(variants) if variants else 0
        for peer in [*peers, *variants[turn:], *variants[:turn]]:
            for i in chunk:
                t0 = time.perf_counter()
                peer(frames[i])
                out[peer.name].append((time.perf_counter() - t0) * 1e3)
    return out


def _stage_rank(name: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)


def load_peers() -> tuple[list, dict[str, str]]:
    """The peers that can run here, and {name: why not} for those that cannot."""
    from .peers import DlibLandmarks, MediaPipeFaceMesh

    makers = {MediaPipeFaceMesh.name: MediaPipeFaceMesh,  # dlib on the grey frame, first face: as timed so far
              DlibLandmarks.name: lambda: DlibLandmarks(upsample=0, grey=True, max_faces=1)}
    peers, skipped = [], {}
    for name, make in makers.items():
        try:
            peers.append(make())
        except Exception as e:  # noqa: BLE001 - a peer that cannot start is skipped, with the reason
            skipped[name] = f"{type(e).__name__}: {e}"
    return peers, skipped


def resolved_backend(aligner, requested: str) -> str:
    for obj in (aligner, getattr(aligner, "model", None)):
        name = getattr(obj, "backend", None)
        if isinstance(name, str) and name != "auto":
            return name
    return requested


class VariantAligner:
    """Our pipeline with another weights file or other session settings (a stagebench.Variant), timed in
    turn with ours and the peers like a peer, on its own tracks."""

    def __init__(self, variant, preset: str, backend: str):
        from . import FaceAligner

        options = {"session": variant.session} if variant.session else {}
        self.name = f"variant {variant.label}"
        self.aligner = FaceAligner(weights=variant.weights, preset=preset, backend=backend, video=True, max_faces=1,
                                   **options)

    def __call__(self, frame):
        return self.aligner(frame)

    def close(self) -> None:
        self.aligner.close()


def measure(source=None, preset: str = "accurate", backend: str = "auto", weights=None, frames: int = 300,
            runs: int = 3, with_peers: bool = True, variants=(), block: int = BLOCK, **backend_options) -> dict:
    """Decode `source` (default_source()), time the pipeline and (with_peers) the peers in turn on
    `frames` frames, `runs` times -> the report dict (module docstring). backend_options: passed to
    the backend (e.g. session="threads=1" for onnxruntime); variants: stagebench.Variant's, each our
    pipeline again with its weights / session, timed in turn too (report["variants"])."""
    from . import FaceAligner

    source = Path(source) if source else default_source()
    clip, decode_ms = decode(source)
    order = pingpong(len(clip), max(1, frames))
    aligner = FaceAligner(weights=weights, preset=preset, backend=backend, video=True, max_faces=1, **backend_options)
    peers, skipped = load_peers() if with_peers else ([], {})
    # the variants run after the peers, so they are compared with a copy of ours that runs among them
    base = [Variant("base", aligner.weights, backend_options.get("session") or {})] if variants else []
    others = [VariantAligner(v, preset, backend) for v in [*base, *variants]]
    timed = [time_pipeline(aligner, clip, order, peers, others, block) for _ in range(max(1, runs))]
    aligner.close()
    for peer in peers + others:
        peer.close()
    t = {k: [ms for run in timed for ms in run.get(k, [])] for k in {k for run in timed for k in run}}
    e2e = stats(t.pop("end_to_end"))
    ratios = {}
    for peer in peers:
        per_run = [float(np.median(r["landmarks"]) / np.median(r[peer.name])) for r in timed]
        ratios[peer.name] = {"runs": [round(x, 3) for x in per_run], "median": round(float(np.median(per_run)), 3)}
    report = {
        "ms_per_frame": {"median": e2e["median"], "mean": e2e["mean"], "p95": e2e["p95"]},
        "fps": round(1000.0 / e2e["median"], 2) if e2e["median"] > 0 else 0.0,
        "landmarks": stats(t.pop("landmarks")),
        "peers": {p.name: stats(t.pop(p.name)) for p in peers}, "peers_skipped": skipped, "ratios": ratios,
        "variants": {o.name.removeprefix("variant "): {**stats(t.pop(o.name)), **_ratio(timed, o.name, others[0].name)}
                     for o in others},
        "stages": {name: stats(t[name], len(order) * len(timed)) for name in sorted(t, key=_stage_rank)},
        "decode": stats(decode_ms),
        "preset": preset, "backend": resolved_backend(aligner, backend), "frames": len(order),
        "runs": len(timed), "block": block, "source": str(source), "weights": str(aligner.weights), **backend_options, "clip_frames": len(clip), "frame_size": list(clip[0].shape[1::-1]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "cpu": cpu_info()},
    }
    return report


def _ratio(timed: list[dict], name: str, base: str) -> dict:
    """{"ratio_runs": [its median / base's median, per run], "ratio": their median}."""
    per_run = [float(np.median(r[name]) / np.median(r[base])) for r in timed]
    return {"ratio_runs": [round(x, 3) for x in per_run], "ratio": round(float(np.median(per_run)), 3)}


def print_report(r: dict) -> None:
    print(f"facealign bench: {Path(r['source']).name} ({plural(r['clip_frames'], 'frame')}, "
          f"{r['frame_size'][0]}x{r['frame_size'][1]}), {r['frames']} timed x {r['runs']} run(s), "
          f"preset {r['preset']}, backend {r['backend']}")
    cpu = r.get("machine", {}).get("cpu")
    if cpu:
        print(f"CPU: {describe(cpu)}, {plural(r['machine']['cpus'], 'core')}")
    print(f"{'stage':<22}{'median ms':>11}{'mean ms':>9}{'p95 ms':>9}{'frames':>8}{'ms/frame':>10}")
    rows = [("decode", r["decode"])] + list(r["stages"].items()) + [("landmarks (no draw)", r["landmarks"])]
    for name, s in rows:
        per = f"{s['per_frame']:>10.2f}" if "per_frame" in s else ""
        print(f"{name:<22}{s['median']:>11.2f}{s['mean']:>9.2f}{s['p95']:>9.2f}{s.get('count', r['frames'] * r['runs']):>8}{per}")
    e = r["ms_per_frame"]
    print(f"{'end to end':<22}{e['median']:>11.2f}{e['mean']:>9.2f}{e['p95']:>9.2f}{r['frames'] * r['runs']:>8}"
          f"   -> {r['fps']:.1f} FPS")
    for name, s in r["peers"].items():
        ratio = r["ratios"][name]
        runs = ", ".join(f"{x:.2f}" for x in ratio["runs"])
        print(f"peer {name:<17}{s['median']:>11.2f}{s['mean']:>9.2f}{s['p95']:>9.2f}{s['count']:>8}   "
              f"facealign (no draw) takes {ratio['median']:.2f}x its time (median of runs: {runs})")
    for name, why in r["peers_skipped"].items():
        print(f"peer {name}: skipped ({why})")
    for label, s in r.get("variants", {}).items():
        runs = ", ".join(f"{x:.2f}" for x in s["ratio_runs"])
        print(f"variant {label}: median {s['median']:.2f} ms, {s['ratio']:.2f}x the time of the base "
              f"(median of runs: {runs})")
