"""Landmarks for pictures, folders (recursive) and videos, as `facealign predict PATH...` runs them.

For each input it writes, under the output folder (readable by every user, as other files are):
  - a picture: <name>.<its own suffix> (annotated copy: a JPEG stays a JPEG, at quality 95;
               a format without a writer here becomes a PNG) and <name>.json
  - a video:   <name>.mp4 (annotated, H.264, every input frame) and <name>.json
The JSON follows the one schema of every front end (facealign.records, README "JSON schema").
Every face is returned unless --max-faces caps them; the faces a cap leaves out are counted
("left_out") and reported. Pictures are turned upright by their EXIF orientation.
Folders are searched recursively for files with a picture or video suffix; an
output keeps the folder's layout. A file that cannot be read is reported and
the others are still processed; the exit code is 1 if any input failed.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from .annotate import annotate, annotate_video, left_out_note
from .formats.atomic import write_json
from .image import ImageError, read_image
from .records import picture_record
from .video import VideoError, VideoReader, VideoWriter

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
INPUT_ERRORS = (ImageError, VideoError, OSError, ValueError)


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


JPEG_QUALITY = 95
WRITE_SUFFIXES = {".jpg": ".jpg", ".jpeg": ".jpeg", ".png": ".png", ".bmp": ".bmp", ".tif": ".tif",
                  ".tiff": ".tiff", ".webp": ".webp"}  # input suffix -> the annotated copy's (else .png)


def picture_suffix(src: Path) -> str:
    """The annotated copy's suffix: the input's own (.jpg stays .jpg), else .png."""
    return WRITE_SUFFIXES.get(src.suffix.lower(), ".png")


def write_picture(path: Path, image_bgr: np.ndarray) -> None:
    """Encode by `path`'s suffix (JPEG and WebP at quality JPEG_QUALITY) and write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY],
              ".webp": [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]}.get(path.suffix.lower(), [])
    ok, buf = cv2.imencode(path.suffix, image_bgr, params)
    if not ok:
        raise OSError(f"{path}: could not encode the annotated picture")
    buf.tofile(str(path))


CAP_HOW = "pass --max-faces 0"


def predict_image(aligner, src: Path, out_stem: Path) -> tuple[str, list[Path]]:
    """Annotated copy (in the input's format) + JSON for one picture -> (what was found, written files)."""
    frame = read_image(src)
    shot = annotate(aligner, frame)
    png, js = out_stem.with_suffix(picture_suffix(src)), out_stem.with_suffix(".json")
    write_picture(png, shot.image)
    h, w = frame.shape[:2]
    write_json(js, picture_record(str(src), w, h, shot.faces, shot.stats.left_out), indent=None)
    note = left_out_note(shot.stats.left_out, CAP_HOW)
    return f"{len(shot.faces)} face(s)" + (f" ({note})" if note else ""), [png, js]


def predict_video(aligner, src: Path, out_stem: Path) -> tuple[str, list[Path]]:
    """Annotated MP4 (every frame) + per-frame JSON for one video -> (what was found, written files)."""
    mp4, js = out_stem.with_suffix(".mp4"), out_stem.with_suffix(".json")
    with VideoReader(src) as reader, VideoWriter(mp4, fps=reader.fps) as writer:
        run = annotate_video(aligner, reader, writer)
    write_json(js, run.record(str(src)), indent=None)
    note = left_out_note(run.left_out, CAP_HOW, frames=True)
    return f"{run.with_faces} frame(s) with a face" + (f" ({note})" if note else ""), [mp4, js]


class Aligners:
    """One picture-mode and one video-mode FaceAligner, each built on first use with `options`
    (FaceAligner's keyword arguments: weights, preset, backend, detector, max_faces, smoothing)."""

    def __init__(self, **options):
        self.options = options
        self._made: dict[bool, object] = {}

    def get(self, video: bool):
        if video not in self._made:
            from . import FaceAligner

            self._made[video] = FaceAligner(video=video, **self.options)
        return self._made[video]


def report_failure(src, err) -> None:
    """One line on stderr: FAILED <path>: <reason> (the path once, whether or not the reason names it)."""
    msg = str(err)
    if not msg.startswith(str(src)):
        msg = f"{src}: {msg}"
    print(f"FAILED {msg}", file=sys.stderr)


def process(jobs, out_dir: Path, aligners: Aligners) -> list[tuple[str, str]]:
    """Run every job, printing one line each -> [(path, error)] for the ones that failed."""
    failed = []
    for src, name in jobs:
        is_video = src.suffix.lower() in VIDEO_SUFFIXES
        try:
            fn = predict_video if is_video else predict_image
            found, written = fn(aligners.get(is_video), src, out_dir / name)
        except INPUT_ERRORS as e:
            failed.append((str(src), str(e)))
            report_failure(src, e)
            continue
        print(f"{src}: {found} -> {', '.join(str(p) for p in written)}")
    return failed
