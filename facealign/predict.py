"""`facealign predict PATH...`: landmarks for pictures, folders (recursive) and videos.

For each input it writes, under --out:
  - a picture: <name>.png (annotated copy) and <name>.json
    {"source", "width", "height", "faces": [FACE, ...]}
  - a video:   <name>.mp4 (annotated, H.264, every input frame) and <name>.json
    {"source", "fps", "width", "height", "frames": [{"index", "faces": [FACE, ...]}, ...]}
FACE = {"points": [[x, y] * 68] frame pixels, "score", "box_xyxy": [x0, y0, x1, y1],
        "pose": {"yaw", "pitch", "roll"} degrees or null, "track_id"}.
Folders are searched recursively for files with a picture or video suffix; an
output keeps the folder's layout. A file that cannot be read is reported and
the others are still processed; the exit code is 1 if any input failed.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from .image import ImageError, read_image
from .video import VideoError, VideoReader, VideoWriter

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
INPUT_ERRORS = (ImageError, VideoError, OSError, ValueError)


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="pictures, videos or folders (searched recursively)")
    p.add_argument("--out", default="predictions", help="output folder (default: ./predictions)")
    p.add_argument("--preset", default="accurate", help="shipped weights: accurate or fast")
    p.add_argument("--backend", default="auto", help="auto, torch, onnxruntime or tensorrt")
    p.add_argument("--weights", default=None, help="a weights file instead of the preset's")
    p.add_argument("--max-faces", type=int, default=4, help="at most this many faces per picture/frame")
    p.add_argument("--detector", default="mediapipe", help="face detector (default: mediapipe)")
    p.add_argument("--no-smooth", action="store_true", help="videos: raw per-frame points, no One Euro smoothing")


def collect_inputs(paths) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """Expand PATH arguments -> ([(file, output name relative to --out, no suffix)], [(path, error)]).

    A file named on the command line is taken whatever its suffix (a non-picture
    then fails with a clear message); a folder contributes its picture and video
    files, recursively, under a sub-folder of its own name.
    """
    jobs, missing = [], []
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            root = path.resolve()
            found = sorted(f for f in root.rglob("*")
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                missing.append((str(path), "the folder has no picture or video files"))
            jobs += [(f, Path(root.name) / f.relative_to(root).with_suffix("")) for f in found]
        elif path.is_file():
            jobs.append((path, Path(path.stem)))
        else:
            missing.append((str(path), "no such file or folder"))
    return _unique_names(jobs), missing


def _unique_names(jobs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Give inputs that would share an output name (a.jpg and a.mp4, or one file twice) a _2, _3 suffix."""
    seen: dict[str, int] = {}
    out = []
    for src, name in jobs:
        key = str(name).lower()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            name = name.with_name(f"{name.name}_{seen[key]}")
        out.append((src, name))
    return out


def face_to_dict(face) -> dict:
    """A `Landmarks` result -> plain JSON types (points rounded to 0.01 pixel, an unsolved pose as nulls)."""
    d = face.to_dict()
    d["points"] = np.round(np.asarray(face.points, np.float64), 2).tolist()  # no float32 digits (187.9499969)
    d["box_xyxy"] = np.round(np.asarray(face.box_xyxy, np.float64), 2).tolist()
    return d


def write_json(path: Path, obj) -> None:
    """Write JSON through a temporary file beside `path`, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def write_png(path: Path, image_bgr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise OSError(f"{path}: could not encode the annotated picture")
    buf.tofile(str(path))


def predict_image(aligner, src: Path, out_stem: Path) -> tuple[int, list[Path]]:
    """Annotated PNG + JSON for one picture -> (number of faces, written files)."""
    from . import draw_landmarks

    frame = read_image(src)
    faces = aligner(frame)
    png, js = out_stem.with_suffix(".png"), out_stem.with_suffix(".json")
    write_png(png, draw_landmarks(frame, faces))
    h, w = frame.shape[:2]
    write_json(js, {"source": str(src), "width": w, "height": h, "faces": [face_to_dict(f) for f in faces]})
    return len(faces), [png, js]


def predict_video(aligner, src: Path, out_stem: Path) -> tuple[int, list[Path]]:
    """Annotated MP4 (every frame) + per-frame JSON for one video -> (frames with a face, written files)."""
    from . import draw_landmarks

    mp4, js = out_stem.with_suffix(".mp4"), out_stem.with_suffix(".json")
    aligner.reset()
    frames, with_face = [], 0
    with VideoReader(src) as reader, VideoWriter(mp4, fps=reader.fps) as writer:
        for frame in reader:
            faces = aligner(frame)
            writer.write(draw_landmarks(frame, faces))
            frames.append({"index": len(frames), "faces": [face_to_dict(f) for f in faces]})
            with_face += bool(faces)
        info = {"source": str(src), "fps": reader.fps, "width": reader.width, "height": reader.height}
    write_json(js, {**info, "frames": frames})
    return with_face, [mp4, js]


class _Aligners:
    """One picture-mode and one video-mode FaceAligner, each built on first use."""

    def __init__(self, args):
        self.args = args
        self._made: dict[bool, object] = {}

    def get(self, video: bool):
        if video not in self._made:
            from . import FaceAligner

            a = self.args
            self._made[video] = FaceAligner(weights=a.weights, preset=a.preset, backend=a.backend,
                                            detector=a.detector, max_faces=a.max_faces, video=video,
                                            smoothing=False if a.no_smooth else None)
        return self._made[video]


def report_failure(src, err) -> None:
    """One line on stderr: FAILED <path>: <reason> (the path once, whether or not the reason names it)."""
    msg = str(err)
    if not msg.startswith(str(src)):
        msg = f"{src}: {msg}"
    print(f"FAILED {msg}", file=sys.stderr)


def process(jobs, out_dir: Path, aligners: _Aligners) -> list[tuple[str, str]]:
    """Run every job, printing one line each -> [(path, error)] for the ones that failed."""
    failed = []
    for src, name in jobs:
        is_video = src.suffix.lower() in VIDEO_SUFFIXES
        try:
            fn = predict_video if is_video else predict_image
            n, written = fn(aligners.get(is_video), src, out_dir / name)
        except INPUT_ERRORS as e:
            failed.append((str(src), str(e)))
            report_failure(src, e)
            continue
        what = "frame(s) with a face" if is_video else "face(s)"
        print(f"{src}: {n} {what} -> {', '.join(str(p) for p in written)}")
    return failed


def run(args) -> int:
    jobs, missing = collect_inputs(args.paths)
    for path, err in missing:
        report_failure(path, err)
    aligners = _Aligners(args)
    try:  # build what the inputs need now: a bad --weights is one error, not one per file
        for video in sorted({src.suffix.lower() in VIDEO_SUFFIXES for src, _ in jobs}):
            aligners.get(video)
    except (FileNotFoundError, ValueError) as e:
        print(f"facealign predict: {e}", file=sys.stderr)
        return 2
    failed = process(jobs, Path(args.out), aligners)
    print(f"{len(jobs) - len(failed)} of {len(jobs)} inputs done, {len(missing) + len(failed)} failed; "
          f"outputs in {args.out}")
    return 1 if missing or failed else 0
