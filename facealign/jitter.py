"""How much do the landmarks shake on a real clip, with and without smoothing?

    from facealign.jitter import measure_jitter, compare
    compare("../shared/data/media/single_face.mp4")

Jitter is the mean frame-to-frame displacement of the 68 points divided by the
inter-ocular (outer eye corner) distance, over consecutive frames where one face
is tracked. It mixes real motion with noise, so a second figure removes each
step's rigid motion first: the residual after the least-squares similarity that
best maps one frame's points onto the next (the face moving or turning as a
whole), which leaves mostly the points' own shaking.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .schemes import MULTIPIE_68
from .transform import apply, similarity
from .video import read_frames

log = logging.getLogger(__name__)


def track_points(frames, fps: float, aligner) -> list[np.ndarray | None]:
    """Points (68, 2) of the first face in each frame (None where there is none)."""
    aligner.reset()
    out = []
    for i, frame in enumerate(frames):
        faces = aligner(frame, timestamp=i / fps)
        out.append(faces[0].points if faces else None)
    return out


def found(pts) -> bool:
    """A frame's points are there: not None and all finite (a missing face is None or NaN)."""
    return pts is not None and bool(np.isfinite(pts).all())


def jitter_of(track, norm_pair: tuple[int, int] = MULTIPIE_68.norm_pair, keep=None) -> dict:
    """{"jitter", "jitter_rigid_removed", "steps"} over consecutive pairs of found points.

    track: a sequence of (K, 2) points (None or NaN where no face was found); each step is divided by
    the distance of the points `norm_pair` (the outer eye corners) in the second frame; keep: the
    indices of the points whose motion counts (None: all), the similarity fitted to them alone.
    """
    raw, residual = [], []
    for a, b in zip(track[:-1], track[1:]):
        if not (found(a) and found(b)):
            continue
        iod = float(np.linalg.norm(b[norm_pair[0]] - b[norm_pair[1]]))
        if keep is not None:
            a, b = a[keep], b[keep]
        raw.append(np.linalg.norm(b - a, axis=1).mean() / iod)
        residual.append(np.linalg.norm(b - apply(similarity(a, b), a), axis=1).mean() / iod)
    nan = float("nan")
    return {"jitter": float(np.mean(raw)) if raw else nan,
            "jitter_rigid_removed": float(np.mean(residual)) if residual else nan, "steps": len(raw)}


def measure_jitter(path, smoothing: bool | dict = True, max_frames: int | None = None, **aligner_kwargs) -> dict:
    """Run a video-mode FaceAligner over a clip -> {"frames", "faces", "jitter",
    "jitter_rigid_removed", "steps"}; jitters are fractions of the inter-ocular distance."""
    from .pipeline import FaceAligner

    frames, fps = read_frames(path, max_frames)
    with FaceAligner(video=True, smoothing=smoothing, fps=fps, **aligner_kwargs) as fa:
        track = track_points(frames, fps, fa)
    out = {"frames": len(frames), "faces": sum(t is not None for t in track), **jitter_of(track)}
    log.info("%s smoothing=%s: %s", Path(path).name, smoothing, out)
    return out


def compare(path, max_frames: int | None = None, **aligner_kwargs) -> dict:
    """measure_jitter without and with smoothing -> {"raw": {...}, "smoothed": {...}}."""
    return {"raw": measure_jitter(path, False, max_frames, **aligner_kwargs),
            "smoothed": measure_jitter(path, True, max_frames, **aligner_kwargs)}
