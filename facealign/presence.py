"""Is the tracked face still there? The landmark network answers, as FaceMesh's face flag does.

In video mode a tracked face goes through the last stage alone, its crop placed by the last frame's
points (pipeline.FaceAligner). When the face leaves, that crop holds background, and the PIP head's
estimates of each point (its own and its neighbours' votes, models/heads/pip.py) scatter: the face's
mean point score (`landmark_score`) falls from about 0.75 to below 0.3. So a tracked face stays while
its landmark_score is at least `tracking.PRESENCE_MIN`; no detector call confirms it, and the detector
runs only to find new faces (every `redetect_every` frames) and on a frame where a track was lost.

    python -m facealign.presence [--preset P] [--faces N] [--clips CLIP ...]

measures both halves of that decision:
  - calibration: the last stage's landmark_score on crops placed from faces' true points (the
    tracked case: training faces, and the 554 common-subset faces it never saw) against crops placed where no face is: the same points moved half or a whole
    face away, 3x too large or 0.4x too small, or into a corner of the picture (300-W's crops are
    twice the face, so the corners hold background), and a mean face placed at random on the no-face
    pictures (media/free-mountain-vector-01.jpg, dogs.jpg). Quantiles per kind, and how many of each
    fall on the wrong side of the threshold;
  - clips: per frame, whether the video-mode aligner tracks a face, beside MediaPipe's detector run on
    the whole frame (the reference): when a face leaves, the frames until the track is dropped; when
    one enters, the frames until it is found; on a clip without faces, the frames tracked.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .transform import points_box

NEGATIVES = ("moved 0.5 face", "moved 1 face", "3x too large", "0.4x too small", "picture corner")
NO_FACE_PICTURES = ("free-mountain-vector-01.jpg", "dogs.jpg")
CLIPS = ("face_noface.mov", "noface_face.mov", "no_face.mp4")
QUANTILES = (0.01, 0.05, 0.5, 0.95, 0.99)


def landmark_scores(model, frames, pts, batch: int = 32) -> np.ndarray:
    """The last stage's mean point score for crops placed from (N, K, 2) points (as tracking does)."""
    out = []
    for s in range(0, len(frames), batch):
        res = model.refine(frames[s:s + batch], pts[s:s + batch])
        if res.scores is None:
            raise ValueError("these weights give no point scores: presence needs a PIP last stage")
        out.append(res.scores.mean(axis=1))
    return np.concatenate(out)


def misplaced(pts: np.ndarray, kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A face's (K, 2) points moved where its crop holds no face (one of NEGATIVES), in a size x size picture."""
    box = points_box(pts)
    centre, side = (box[:2] + box[2:]) / 2, float(max(box[2:] - box[:2]))
    angle = rng.uniform(0, 2 * np.pi)
    away = np.array([np.cos(angle), np.sin(angle)])
    if kind == "moved 0.5 face":
        return pts + 0.5 * side * away
    if kind == "moved 1 face":
        return pts + side * away
    if kind == "3x too large":
        return (pts - centre) * 3 + centre
    if kind == "0.4x too small":
        return (pts - centre) * 0.4 + centre
    if kind == "picture corner":  # a face-sized shape centred in a corner square of side 0.45 size
        corner = np.array([0.225, 0.225]) * size if rng.random() < 0.5 else np.array([0.775, 0.775]) * size
        return (pts - centre) * (0.45 * size / side) + corner
    raise ValueError(f"unknown kind {kind!r}; one of {NEGATIVES}")


def calibrate(model, faces, n: int = 200, media=None, seed: int = 0) -> dict[str, np.ndarray]:
    """{kind: landmark scores}: "face" (n training faces, crops from their true points) and each
    negative kind on the same faces, plus "no-face picture" when the media folder is there."""
    import cv2

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(faces), min(n, len(faces)), replace=False)
    frames = [faces.image(int(i)) for i in idx]
    pts = np.stack([faces[int(i)].pts for i in idx]).astype(np.float32)
    out = {"face": landmark_scores(model, frames, pts)}
    for kind in NEGATIVES:
        moved = np.stack([misplaced(p, kind, f.shape[0], rng) for p, f in zip(pts, frames)])
        out[kind] = landmark_scores(model, frames, moved.astype(np.float32))
    pictures = [Path(media) / name for name in NO_FACE_PICTURES] if media else []
    shapes, placed = [], []
    for path in (p for p in pictures if p.is_file()):
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        for _ in range(n // 2):
            p = pts[rng.integers(len(pts))]
            box = points_box(p)
            side = rng.uniform(0.15, 0.5) * min(h, w)
            centre = rng.uniform([side / 2, side / 2], [w - side / 2, h - side / 2])
            shapes.append(img)
            placed.append((p - (box[:2] + box[2:]) / 2) * (side / max(box[2:] - box[:2])) + centre)
    if placed:
        out["no-face picture"] = landmark_scores(model, shapes, np.stack(placed).astype(np.float32))
    return out


def clip_track(path, reference: bool = True, **aligner_kwargs) -> dict:
    """One clip through a video-mode FaceAligner -> {"tracked": faces per frame, "reference": whether
    MediaPipe's detector finds a face on the whole frame (when `reference`), "fps"}."""
    from .detectors import create_detector
    from .pipeline import FaceAligner
    from .video import read_frames

    frames, fps = read_frames(path)
    with FaceAligner(video=True, fps=fps, **aligner_kwargs) as fa:
        tracked = [len(fa(f, timestamp=i / fps)) for i, f in enumerate(frames)]
    out = {"tracked": tracked, "fps": fps}
    if reference:
        det = create_detector("mediapipe")
        try:
            out["reference"] = [bool(det.detect(f)) for f in frames]
        finally:
            det.close()
    return out


def delays(tracked: list[int], reference: list[bool]) -> dict:
    """Frames between the reference's changes and the tracker's: {"leaves_at", "dropped_after",
    "enters_at", "found_after", "tracked_without_face"} (None where the clip has no such change).
    dropped_after: frames from the first reference frame without a face (after one with) to the
    first frame the tracker has none; found_after: likewise for a face that appears."""
    on = [t > 0 for t in tracked]
    out = {"leaves_at": None, "dropped_after": None, "enters_at": None, "found_after": None,
           "tracked_without_face": int(sum(o and not r for o, r in zip(on, reference)))}
    for i in range(1, len(reference)):
        if reference[i - 1] and not reference[i] and out["leaves_at"] is None:
            out["leaves_at"] = i
            out["dropped_after"] = next((j - i for j in range(i, len(on)) if not on[j]), None)
        if not reference[i - 1] and reference[i] and out["enters_at"] is None:
            out["enters_at"] = i
            out["found_after"] = next((j - i for j in range(i, len(on)) if on[j]), None)
    return out


def main(argv=None) -> int:
    from .backends import load_backend
    from .commands import args as args_module
    from .data import load_split
    from .tracking import PRESENCE_MIN
    from .weights import resolve

    p = argparse.ArgumentParser(prog="python -m facealign.presence", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    args_module.model(p)
    p.add_argument("--faces", type=int, default=200, help="training faces to calibrate on (default: %(default)s)")
    args_module.data(p)
    p.add_argument("--media", default=str(Path.cwd().parent / "shared/data/media"),
                   help="the media folder: no-face pictures and CLIPS (default: %(default)s)")
    p.add_argument("--clips", nargs="*", default=list(CLIPS), help="clips in --media (default: %(default)s)")
    args = p.parse_args(argv)
    weights = resolve(args.weights, args.preset, args.backend)
    model = load_backend(weights, args.backend)
    scores = calibrate(model, load_split("train", args.data), args.faces, args.media)
    test = load_split("common", args.data)  # faces the network never saw, crops from their true points
    scores["face, common test subset"] = landmark_scores(model, [test.image(i) for i in range(len(test))],
                                                         test.points().astype(np.float32))
    print(f"{weights}: the last stage's landmark_score (mean point score); tracking.PRESENCE_MIN = {PRESENCE_MIN}")
    print("| crops | n | " + " | ".join(f"q{int(q * 100)}" for q in QUANTILES) + " | wrong side |")
    print("| --- | --- |" + " --- |" * (len(QUANTILES) + 1))
    for kind, s in scores.items():
        wrong = (s < PRESENCE_MIN) if kind.startswith("face") else (s >= PRESENCE_MIN)
        print(f"| {kind} | {len(s)} | " + " | ".join(f"{v:.3f}" for v in np.quantile(s, QUANTILES))
              + f" | {100 * wrong.mean():.1f} % |")
    for clip in args.clips:
        path = Path(args.media) / clip
        res = clip_track(path, weights=weights)
        print(f"{clip}: {len(res['tracked'])} frames; {delays(res['tracked'], res['reference'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
