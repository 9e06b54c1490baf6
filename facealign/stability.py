"""How much the points shake and how late the filter is, beside FaceMesh: `facealign stability CLIP`.

    from facealign.stability import measure, lag_frames
    report = measure("../shared/data/media/single_face.mp4")

Shake: the jitter with the head's own motion removed (jitter.jitter_of): the mean frame-to-frame
motion of the points left after the similarity that best maps one frame's points onto the next, as
% of the outer-eye-corner distance; before the filter ("unfiltered": the cascade's points) and after.
Lag: the delay that best aligns the filtered track with the unfiltered one (lag_frames), in ms. A filter
in the face's aligned frame follows the head's motion at once and smooths only the shape, which
the points' lag dilutes, so the shape's own lag (both tracks with each frame's similarity to one
reference taken out: canonical) is reported beside it.

One run of our video-mode pipeline gives both tracks: each frame's points before the filter (the
tracker's Track.pts) and after it (Landmarks.points), for the first face. MediaPipe FaceMesh
(video mode, 468 points) runs on the same frames; its jitter is over all 468 points (and, beside it,
over FACEMESH_68), divided by its own outer-eye-corner distance (points 33 and 263).
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np

from .jitter import found, jitter_of
from .schemes import MULTIPIE_68
from .transform import apply, similarity

log = logging.getLogger(__name__)

FACEMESH_EYES = (33, 263)  # the mesh's outer eye corners (the subject's right, left): our points 36, 45
# The mesh vertex nearest to each of our 68 points (Multi-PIE order), mean over the 72 frames of
# single_face.mp4 (accurate, video mode): 2.6 px apart on average, 6.7 px at most, eye corners 96 px apart.
FACEMESH_68 = (34, 227, 93, 213, 138, 136, 149, 176, 152, 400, 379, 365, 367, 433, 323, 447, 356,
               70, 63, 105, 66, 107, 336, 296, 334, 293, 300, 168, 197, 5, 1, 240, 97, 164, 326, 305,
               33, 160, 158, 155, 153, 144, 362, 385, 386, 249, 373, 380,
               61, 74, 37, 11, 267, 310, 291, 405, 314, 17, 84, 91, 62, 38, 13, 312, 308, 317, 14, 87)
EYES = MULTIPIE_68.norm_pair  # our outer eye corners
MAX_LAG_FRAMES = 5.0
LAG_STEP = 0.01  # frames


def advanced(track: np.ndarray, frames: float) -> np.ndarray:
    """track (T, K, 2) read `frames` later (>= 0, fractional): out[t] = track[t + frames], linearly
    interpolated between the two frames around it; NaN where t + frames is past the end."""
    if frames < 0:
        raise ValueError(f"need a shift >= 0 frames, got {frames}")
    track = np.asarray(track, np.float64)
    k, f = int(np.floor(frames)), float(frames - np.floor(frames))
    out = np.full_like(track, np.nan)
    n = len(track)
    if f == 0:
        out[:n - k] = track[k:]
    elif n > k + 1:
        out[:n - k - 1] = (1 - f) * track[k:n - 1] + f * track[k + 1:]
    return out


def lag_frames(filtered: np.ndarray, raw: np.ndarray, norm: np.ndarray | None = None,
               max_frames: float = MAX_LAG_FRAMES, step: float = LAG_STEP) -> float:
    """How late the filter is, in frames: the delay d in [0, max_frames] (every `step` frames) that
    minimises the mean distance between the filtered track and the unfiltered one delayed by d.

    Measured as filtered[t + d] against raw[t] (the same alignment): interpolating between frames
    averages two of them, which would take noise out of the unfiltered track at half-frame delays
    and favour them; the filtered track has little noise left to lose. filtered, raw: (T, K, 2), NaN
    where there is no face; norm: (T,) per-frame divisor of the distances (the eye-corner distance,
    so that large faces do not outweigh small ones), None for none. Every delay is scored on the
    same frames: t with both tracks found from t to t + max_frames + 1. NaN when no frame qualifies.
    """
    filtered, raw = np.asarray(filtered, np.float64), np.asarray(raw, np.float64)
    if filtered.shape != raw.shape:
        raise ValueError(f"tracks of different shapes: {filtered.shape} and {raw.shape}")
    reach = int(np.ceil(max_frames)) + 1
    ok = np.isfinite(filtered).all(axis=(1, 2)) & np.isfinite(raw).all(axis=(1, 2))
    valid = np.array([t + reach < len(raw) and ok[t:t + reach + 1].all() for t in range(len(raw))], bool)
    if not valid.any():
        return float("nan")
    norm = np.ones(len(raw)) if norm is None else np.asarray(norm, np.float64)
    delays = np.arange(0.0, max_frames + step / 2, step)
    cost = [(np.linalg.norm(advanced(filtered, d)[valid] - raw[valid], axis=-1).mean(-1) / norm[valid]).mean()
            for d in delays]
    return float(delays[int(np.argmin(cost))])


def reference(track: np.ndarray) -> np.ndarray | None:
    """The first found frame of a (T, K, 2) track, centred, at unit RMS radius (None: no face)."""
    first = next((p for p in np.asarray(track, np.float64) if found(p)), None)
    if first is None:
        return None
    c = first - first.mean(0)
    return c / np.sqrt((c ** 2).sum(1).mean())


def canonical(track: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each frame's (K, 2) points mapped by their least-squares similarity onto `ref` (K, 2): the
    shapes with the head's motion taken out. NaN frames stay NaN."""
    track = np.asarray(track, np.float64)
    return np.stack([apply(similarity(p, ref), p) if found(p) else p for p in track]).astype(np.float64)


def record(frames, fps: float, aligner) -> dict:
    """Run a video-mode FaceAligner over frames -> {"raw", "filtered": (T, K, 2) float64 frame points
    of the first face before and after the filter (NaN where none), "ids": (T,) its track id (-1)}."""
    aligner.reset()
    k = aligner.scheme.num_points
    raw, filt = np.full((2, len(frames), k, 2), np.nan)
    ids = np.full(len(frames), -1)
    for i, frame in enumerate(frames):
        faces = aligner(frame, timestamp=i / fps)
        if faces:
            track = next(tr for tr in aligner.tracker.tracks if tr.track_id == faces[0].track_id)
            raw[i], filt[i], ids[i] = track.pts, faces[0].points, faces[0].track_id
    return {"raw": raw, "filtered": filt, "ids": ids}


def replay(raw: np.ndarray, ids: np.ndarray, fps: float, smoother) -> np.ndarray:
    """What the pipeline's smoother (smoothing.TrackSmoother) makes of a recorded unfiltered track, as
    the pipeline calls it (a filter per track id, dropped when its face is missing) -> (T, K, 2)."""
    smoother.reset()
    out = np.full_like(np.asarray(raw, np.float64), np.nan)
    for i, (pts, tid) in enumerate(zip(raw, ids)):
        if tid >= 0:
            out[i] = smoother(int(tid), pts, i / fps)
        smoother.keep([tid] if tid >= 0 else [])
    return out


def facemesh_track(frames) -> np.ndarray:
    """MediaPipe FaceMesh (peers.MediaPipeFaceMesh: video mode, one face) -> (T, 468, 2) frame pixels,
    NaN where it found no face."""
    from .lognoise import native_start
    from .peers import MediaPipeFaceMesh

    mesh = MediaPipeFaceMesh()
    out = np.full((len(frames), 468, 2), np.nan)
    # its graph warns once, on the first face of a frame that is not square ("Using NORM_RECT without
    # IMAGE_DIMENSIONS ..."): a batch run, held like its start
    try:
        with native_start():
            for i, frame in enumerate(frames):
                faces = mesh(frame)
                if faces:
                    h, w = frame.shape[:2]
                    out[i] = [(p.x * w, p.y * h) for p in faces[0].landmark]
    finally:
        mesh.close()
    return out


def figures(raw: np.ndarray, filtered: np.ndarray, fps: float) -> dict:
    """Our figures for one clip: jitters in % of the eye-corner distance per frame, lags in ms."""
    j_raw, j_filt = jitter_of(list(raw)), jitter_of(list(filtered))
    iod = np.linalg.norm(raw[:, EYES[0]] - raw[:, EYES[1]], axis=-1)
    lag = lag_frames(filtered, raw, iod)
    ref = reference(raw)
    shape_lag = float("nan") if ref is None else lag_frames(canonical(filtered, ref), canonical(raw, ref))
    return {"jitter_unfiltered": _pc(j_raw["jitter_rigid_removed"]), "jitter_filtered": _pc(j_filt["jitter_rigid_removed"]),
            "plain_jitter_unfiltered": _pc(j_raw["jitter"]), "plain_jitter_filtered": _pc(j_filt["jitter"]),
            "lag_frames": round(lag, 2), "lag_ms": round(1000 * lag / fps, 1),
            "shape_lag_ms": round(1000 * shape_lag / fps, 1), "steps": j_raw["steps"]}


def facemesh_figures(mesh: np.ndarray) -> dict:
    every, sub = jitter_of(list(mesh), FACEMESH_EYES), jitter_of(list(mesh), FACEMESH_EYES, list(FACEMESH_68))
    return {"jitter": _pc(every["jitter_rigid_removed"]), "plain_jitter": _pc(every["jitter"]),
            "jitter_68": _pc(sub["jitter_rigid_removed"]), "steps": every["steps"],
            "faces": int(np.isfinite(mesh).all(axis=(1, 2)).sum())}


def _pc(x: float) -> float:
    return round(100 * x, 4)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b > 0 else float("nan")


def smoothing_settings(smoother) -> dict:
    """{"space", "min_cutoff", "beta", "d_cutoff"} a TrackSmoother's filters use ({"space": "off"}: none)."""
    if smoother is None:
        return {"space": "off"}
    f = smoother.make()
    return {"space": smoother.space, "min_cutoff": f.min_cutoff, "beta": f.beta, "d_cutoff": f.d_cutoff}


def _run(source, preset, weights, backend, smoothing, max_frames, flip, with_facemesh):
    """Decode, run ours (and FaceMesh) -> (frames, fps, record, smoother, backend, mesh figures or None)."""
    from .pipeline import FaceAligner
    from .video import read_frames

    frames, fps = read_frames(source, max_frames)
    with FaceAligner(weights, preset, backend, video=True, smoothing=smoothing, fps=fps, flip=flip) as fa:
        rec = record(frames, fps, fa)
        smoother, used = fa.smoother, fa.model.backend
    mesh = facemesh_figures(facemesh_track(frames)) if with_facemesh else None
    return frames, fps, rec, smoother, used, mesh


def measure(source, preset: str = "accurate", weights=None, backend: str = "auto", smoothing=None,
            max_frames: int | None = None, flip: bool = False, with_facemesh: bool = True) -> dict:
    """Our shake (unfiltered, filtered) and the filter's lag on one clip, beside FaceMesh's shake.

    smoothing: as FaceAligner's (None: the video-mode default; False: none; a dict of
    TrackSmoother settings); max_frames: the first N frames (None: all). -> the report (README of
    the command: docs/video.md): {"source", "frames", "fps", "faces", "preset", "backend", "flip",
    "smoothing", "ours": figures(), "facemesh": facemesh_figures() or None, "ratios"}.
    """
    frames, fps, rec, smoother, used, mesh = _run(source, preset, weights, backend, smoothing, max_frames,
                                                  flip, with_facemesh)
    ours = figures(rec["raw"], rec["filtered"], fps)
    report = {"source": str(source), "frames": len(frames), "fps": round(fps, 3),
              "faces": int((rec["ids"] >= 0).sum()), "preset": preset if weights is None else str(weights),
              "backend": used, "flip": flip, "smoothing": smoothing_settings(smoother), "ours": ours,
              "facemesh": mesh, "ratios": ratios(ours, mesh)}
    log.info("stability %s: %s", Path(source).name, report)
    return report


def ratios(ours: dict, mesh: dict | None) -> dict:
    """Our jitters over FaceMesh's: all 468 points ("unfiltered", "filtered") and FACEMESH_68 ("*_68")."""
    if mesh is None:
        return {}
    return {"unfiltered": _ratio(ours["jitter_unfiltered"], mesh["jitter"]),
            "filtered": _ratio(ours["jitter_filtered"], mesh["jitter"]),
            "unfiltered_68": _ratio(ours["jitter_unfiltered"], mesh["jitter_68"]),
            "filtered_68": _ratio(ours["jitter_filtered"], mesh["jitter_68"])}


def sweep(source, grid: dict[str, list], preset: str = "accurate", weights=None, backend: str = "auto",
          max_frames: int | None = None, flip: bool = False, with_facemesh: bool = True) -> dict:
    """One unfiltered run of the clip, then every combination of the TrackSmoother settings in `grid`
    ({"beta": [10, 20], "space": ["aligned"], ...}) replayed on its points (the crop is placed by the
    unfiltered points, so the filter does not change them) -> {"rows": [{"smoothing", "ours",
    "ratios"}], "facemesh", "source", "frames", "fps", "preset", "backend", "flip"}."""
    from .smoothing import TrackSmoother

    frames, fps, rec, _, used, mesh = _run(source, preset, weights, backend, False, max_frames, flip,
                                           with_facemesh)
    rows = []
    for values in itertools.product(*grid.values()):
        smoother = TrackSmoother(**dict(zip(grid, values)))
        ours = figures(rec["raw"], replay(rec["raw"], rec["ids"], fps, smoother), fps)
        rows.append({"smoothing": smoothing_settings(smoother), "ours": ours, "ratios": ratios(ours, mesh)})
    return {"source": str(source), "frames": len(frames), "fps": round(fps, 3), "preset": preset,
            "backend": used, "flip": flip, "facemesh": mesh, "rows": rows}


def settings_text(s: dict) -> str:
    if s["space"] == "off":
        return "off"
    return f"{s['space']} (min_cutoff {s['min_cutoff']:g}, beta {s['beta']:g}, d_cutoff {s['d_cutoff']:g})"


def print_report(r: dict) -> None:
    mesh, rat, o = r["facemesh"], r["ratios"], r["ours"]
    print(f"facealign stability: {Path(r['source']).name} ({r['frames']} frames at {r['fps']:g} fps, a face in "
          f"{r['faces']}), preset {r['preset']}, backend {r['backend']}{', flip' if r['flip'] else ''}; "
          f"smoothing {settings_text(r['smoothing'])}")
    print("jitter: mean frame-to-frame motion of the points, % of the outer-eye-corner distance")
    print(f"{'':<28}{'head motion removed':>20}{'x FaceMesh':>12}{'plain':>9}")
    for name, key in (("ours, unfiltered", "unfiltered"), ("ours, filtered", "filtered")):
        x = f"{rat[key]:.2f}x" if rat else "-"
        print(f"{name:<28}{o['jitter_' + key]:>20.3f}{x:>12}{o['plain_jitter_' + key]:>9.3f}")
    if mesh:
        print(f"{'FaceMesh, 468 points':<28}{mesh['jitter']:>20.3f}{'':>12}{mesh['plain_jitter']:>9.3f}")
        print(f"{'FaceMesh, FACEMESH_68':<28}{mesh['jitter_68']:>20.3f}   (ours filtered {rat['filtered_68']:.2f}x)")
    print(f"filter lag: {o['lag_ms']:.1f} ms ({o['lag_frames']:.2f} frames) of the points, "
          f"{o['shape_lag_ms']:.1f} ms of the shape (head motion removed)")


def print_sweep(r: dict) -> None:
    mesh = r["facemesh"]
    print(f"facealign stability --sweep: {Path(r['source']).name} ({r['frames']} frames at {r['fps']:g} fps), "
          f"preset {r['preset']}, backend {r['backend']}{', flip' if r['flip'] else ''}; one unfiltered run, "
          f"each filter replayed on it" + (f"; FaceMesh {mesh['jitter']:.3f} (468 points)" if mesh else ""))
    print(f"{'smoothing':<58}{'jitter':>8}{'x FM':>7}{'lag ms':>8}{'shape lag ms':>14}")
    o = r["rows"][0]["ours"] if r["rows"] else None
    if o:
        x = f"{o['jitter_unfiltered'] / mesh['jitter']:.2f}" if mesh else "-"
        print(f"{'(unfiltered)':<58}{o['jitter_unfiltered']:>8.3f}{x:>7}{0.0:>8.1f}{0.0:>14.1f}")
    for row in r["rows"]:
        o, rat = row["ours"], row["ratios"]
        x = f"{rat['filtered']:.2f}" if rat else "-"
        print(f"{settings_text(row['smoothing']):<58}{o['jitter_filtered']:>8.3f}{x:>7}{o['lag_ms']:>8.1f}"
              f"{o['shape_lag_ms']:>14.1f}")
