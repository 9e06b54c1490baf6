"""The levers of docs/video.md that are not settings of the pipeline, measured as `facealign stability` measures:
the stage-2 crop placed otherwise (held still, from the filtered points, moved by the last motion, or
stage 2 run twice), and two other filters in the face's aligned frame (a constant-velocity Kalman filter,
One Euro with one speed per point group), replayed on the default run's unfiltered points; and, as a
bound rather than a filter, a centred Gaussian over time (it reads frames ahead, so no live filter can
do it; its lag is nil): how much of the frame-to-frame motion is left once even that smooths the track.
And optical-flow fusion: the last output carried to this frame by Lucas-Kanade flow, pulled toward the
network's points, then (or not) the default filter.

    python docs/video/levers.py [CLIP ...] [--preset accurate] [--only NAME,...] [--json docs/video/levers.json]

`--only` keeps the rows whose name starts with one of the given words (e.g. `--only flow,centred`).

Each crop variant is a FaceAligner whose tracked crop is placed by other points; every frame's points
still come from that frame's pixels. They reach into FaceAligner's steps: an experiment, not an API.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from facealign import FaceAligner
from facealign import tracking as T
from facealign.smoothing import AlignedFilter, OneEuroFilter, alpha, face_size
from facealign.stability import facemesh_figures, facemesh_track, figures, ratios, record
from facealign.transform import apply, similarity
from facealign.video import read_frames

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "data" / "media"
CLIPS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4")


class CropFrom(FaceAligner):
    """Video mode with the tracked crop placed by `crop_points(track_id, last unfiltered points)`."""

    def reset(self):
        super().reset()
        self.held, self.shown, self.history = {}, {}, {}

    def crop_points(self, tid, last):
        return last

    def _refine_tracks(self, img, cands):
        prev = self.tracker.previous_points()
        pts, _ = self._refine(img, [self.crop_points(c.track_id, prev[c.track_id]) for c in cands])
        alive, lost = T.split_alive_lost(cands, pts, prev, img.shape)
        return alive, lost + T.unconfirmed(self.tracker.tracks, cands)

    def _finish(self, img, tracks, t):
        out = super()._finish(img, tracks, t)
        for tr, lm in zip(tracks, out):
            self.shown[tr.track_id] = lm.points
            self.history[tr.track_id] = (self.history.get(tr.track_id, []) + [tr.pts])[-2:]
        return out


class HeldCrop(CropFrom):
    """The crop stays where it was until the points move more than 2 % of the eye-corner distance."""

    def crop_points(self, tid, last):
        held = self.held.get(tid)
        if held is None or np.linalg.norm(last - held, axis=1).mean() > 0.02 * np.linalg.norm(last[36] - last[45]):
            held = self.held[tid] = last
        return held


class FilteredCrop(CropFrom):
    """The crop from the last frame's filtered points (what is drawn)."""

    def crop_points(self, tid, last):
        return self.shown.get(tid, last)


class PredictedCrop(CropFrom):
    """The last points moved on by the similarity between the two frames before."""

    def crop_points(self, tid, last):
        h = self.history.get(tid, [])
        return apply(similarity(h[0], h[1]), last) if len(h) == 2 else last


class Stage2Twice(CropFrom):
    """Stage 2 again, its crop placed by its own first answer on this frame (twice its time)."""

    def _refine(self, img, last_pts):
        first, scores = super()._refine(img, last_pts)
        return super()._refine(img, list(first)) if len(first) else (first, scores)


class Kalman:
    """Constant-velocity Kalman filter per coordinate: q the acceleration noise, r the measurement noise
    (both in the aligned frame's units: unit RMS radius)."""

    def __init__(self, q: float, r: float):
        self.q, self.r, self.x = q, r, None

    def __call__(self, z, t, scale=None):
        z = np.asarray(z, np.float64)
        if self.x is None:
            self.x, self.v, self.p, self.t = z.copy(), np.zeros_like(z), np.array([[self.r, 0], [0, 1.0]]), t
            return z
        dt, self.t = max(t - self.t, 1e-3), t
        f = np.array([[1, dt], [0, 1]])
        p = f @ self.p @ f.T + self.q * np.array([[dt ** 4 / 4, dt ** 3 / 2], [dt ** 3 / 2, dt ** 2]])
        k = p[:, 0] / (p[0, 0] + self.r)
        innov = z - (self.x + dt * self.v)
        self.x, self.v = self.x + dt * self.v + k[0] * innov, self.v + k[1] * innov
        self.p = (np.eye(2) - np.outer(k, [1, 0])) @ p
        return self.x.copy()

    def reset(self):
        self.x = None


GROUPS = np.repeat(np.arange(5), [17, 10, 9, 12, 20])  # jaw, brows, nose, eyes, mouth


class GroupSpeedEuro(OneEuroFilter):
    """One Euro whose cutoff follows each point group's mean speed rather than each point's."""

    def __call__(self, pts, t, scale=None):
        x = np.asarray(pts, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x
        dt, self._t = max(t - self._t, 1e-3), float(t)
        self._dx = self._dx + alpha(dt, self.d_cutoff) * ((x - self._x) / (dt * face_size(x)) - self._dx)
        speed = np.linalg.norm(self._dx, axis=-1)
        group = (np.bincount(GROUPS, speed) / np.bincount(GROUPS))[GROUPS][:, None]
        self._x = self._x + alpha(dt, self.min_cutoff + self.beta * group) * (x - self._x)
        return self._x.copy()


def aligned_with(shape_filter) -> AlignedFilter:
    f = AlignedFilter()
    f._shape = shape_filter
    return f


def replay_with(raw, fps, make):
    f, out = make(), np.full_like(raw, np.nan)
    for i, p in enumerate(raw):
        if np.isfinite(p).all():
            out[i] = f(p, i / fps)
    return out


CROPS = {"held crop (2 % deadband)": HeldCrop, "crop from the filtered points": FilteredCrop,
         "crop moved by the last motion": PredictedCrop, "stage 2 twice": Stage2Twice}
FILTERS = {f"aligned Kalman (q {q:g}, r {r:g})": (lambda q=q, r=r: aligned_with(Kalman(q, r)))
           for q, r in ((0.1, 1e-3), (1.0, 1e-3), (0.1, 1e-2))}
FILTERS.update({f"aligned One Euro, group speed ({b:g})": (lambda b=b: aligned_with(GroupSpeedEuro(0.1, b, 2.0)))
                for b in (10.0, 20.0)})


def centred_gaussian(raw: np.ndarray, sigma: float) -> np.ndarray:
    """Each frame's points averaged with the frames around it (Gaussian weights, sigma frames, both sides)."""
    r = int(np.ceil(4 * sigma))
    w = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    padded = np.concatenate([np.repeat(raw[:1], r, 0), raw, np.repeat(raw[-1:], r, 0)])  # the ends held
    return np.stack([np.tensordot(w / w.sum(), padded[i:i + 2 * r + 1], axes=1) for i in range(len(raw))])


LK = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01))


def flow_fused(frames, raw: np.ndarray, weight: float, sigma: float) -> np.ndarray:
    """Each frame's points: the last fused points carried to this frame by Lucas-Kanade flow, mixed with the
    network's answer. A point takes `weight` of the flow's position while the two agree, less as they part
    (times exp(-(d / sigma)^2), d their distance over the eye-corner distance), none where flow lost it."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out = np.full_like(raw, np.nan)
    for t, p in enumerate(raw):
        if not np.isfinite(p).all():
            continue
        if t == 0 or not np.isfinite(out[t - 1]).all():
            out[t] = p
            continue
        moved, found, _ = cv2.calcOpticalFlowPyrLK(grey[t - 1], grey[t], out[t - 1].astype(np.float32), None, **LK)
        d = np.linalg.norm(moved - p, axis=1) / np.linalg.norm(p[36] - p[45])
        w = (weight * np.exp(-(d / sigma) ** 2) * found.ravel())[:, None]
        out[t] = w * moved + (1 - w) * p
    return out


FLOWS = ((0.5, 0.02), (0.8, 0.02), (0.8, 0.05))


def measure_clip(path: Path, preset: str, only: tuple[str, ...] = ()) -> dict:
    def wanted(name):
        return not only or name.startswith(only)

    frames, fps = read_frames(path)
    mesh = facemesh_figures(facemesh_track(frames))
    rows = {}
    with CropFrom(preset=preset, video=True, fps=fps) as fa:
        base = record(frames, fps, fa)
    raw = base["raw"]

    def row(name, filtered):
        ours = figures(raw, filtered, fps)
        rows[name] = {"ours": ours, "ratios": ratios(ours, mesh)}

    if wanted("the default"):
        row("the default (aligned One Euro)", base["filtered"])
    for name, make in FILTERS.items():
        if wanted(name):
            row(name, replay_with(raw, fps, make))
    for sigma in (1.0, 2.0, 3.0):
        if wanted("centred"):
            row(f"centred Gaussian, sigma {sigma:g} frames (a bound)", centred_gaussian(raw, sigma))
    for weight, sigma in FLOWS:
        if wanted("flow"):
            fused = flow_fused(frames, raw, weight, sigma)
            row(f"flow fusion (weight {weight:g}, sigma {sigma:g}), no filter", fused)
            row(f"flow fusion (weight {weight:g}, sigma {sigma:g}), then the default filter",
                replay_with(fused, fps, AlignedFilter))
    for name, cls in CROPS.items():
        if not wanted(name):
            continue
        with cls(preset=preset, video=True, fps=fps) as fa:
            rec = record(frames, fps, fa)
        ours = figures(rec["raw"], rec["filtered"], fps)
        rows[name] = {"ours": ours, "ratios": ratios(ours, mesh)}
    return {"source": path.name, "frames": len(frames), "fps": round(fps, 3), "preset": preset, "facemesh": mesh,
            "rows": rows}


def parser(doc: str) -> argparse.ArgumentParser:
    """The command line these scripts share: clips (the two of docs/video.md by default), --preset, --json."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("clips", nargs="*", default=[str(MEDIA / c) for c in CLIPS])
    p.add_argument("--preset", default="accurate")
    p.add_argument("--json", default=None)
    return p


def run(args, measure, show) -> int:
    """Measure each clip of the command line, print it, and write them all to --json if given."""
    out = [measure(Path(c)) for c in args.clips]
    for r in out:
        show(r)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def show_rows(r: dict) -> None:
    print(f"{r['source']} ({r['frames']} frames, {r['preset']}); FaceMesh {r['facemesh']['jitter']:.3f}")
    print(f"{'lever':<68}{'unfiltered':>11}{'filtered':>10}{'x FM':>7}{'lag ms':>8}{'shape lag ms':>14}")
    for name, row in r["rows"].items():
        o = row["ours"]
        print(f"{name:<68}{o['jitter_unfiltered']:>11.3f}{o['jitter_filtered']:>10.3f}"
              f"{row['ratios']['filtered']:>7.2f}{o['lag_ms']:>8.1f}{o['shape_lag_ms']:>14.1f}")


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--only", default="", help="comma-separated: keep the rows whose name starts with one of these")
    args = p.parse_args(argv)
    only = tuple(w.strip() for w in args.only.split(",") if w.strip())
    return run(args, lambda clip: measure_clip(clip, args.preset, only), show_rows)


if __name__ == "__main__":
    sys.exit(main())
