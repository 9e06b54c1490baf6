"""Per-request logic of the web page, free of Gradio: arrays and paths in, outputs out.

Every handler returns a result object whose `message` is a friendly sentence for
the page ("" when there is nothing to say); bad input never raises out of here.
Images crossing this boundary are RGB uint8 (what Gradio shows); the library
works in BGR and the conversion happens only in this module.
"""
from __future__ import annotations

import csv
import json
import logging
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from facealign.image import ImageError, read_image, to_bgr

log = logging.getLogger(__name__)

MAX_SIDE = 1920  # long side, px, above which pictures and frames are downscaled
MAX_PIXELS = 100_000_000  # larger pictures are refused before decoding (memory)
NO_FACE = "No face found in this picture."
Progress = Callable[[float, str], None]  # (fraction done, description), as gr.Progress takes them


@dataclass(frozen=True)
class Settings:
    """What the settings panel chooses; hashable, so it keys the aligner cache."""

    preset: str = "accurate"
    backend: str = "auto"
    detector: str = "mediapipe"  # full range, refined by short range: see facealign.detectors
    smoothing: bool = True  # One Euro smoothing of tracked points; video and webcam only
    max_faces: int = 4
    points: bool = True
    contours: bool = True
    pose_axes: bool = False
    box: bool = False

    def aligner_key(self, video: bool) -> tuple:
        return (self.preset, self.backend, self.detector, bool(video and self.smoothing),
                int(self.max_faces), bool(video))


class AlignerCache:
    """FaceAligner instances per settings, handed out one request at a time.

    A FaceAligner in video mode carries tracking state, and the detector is not
    known to be thread-safe, so each request checks an instance out and puts it
    back; at most `keep` idle instances are kept per settings.
    """

    def __init__(self, weights=None, keep: int = 2):
        self.weights, self.keep = weights, keep
        self._idle: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def build(self, key: tuple):
        """A new FaceAligner for an aligner_key(); raises ValueError/FileNotFoundError on bad settings."""
        from facealign import FaceAligner  # heavy import: only when a request needs it

        preset, backend, detector, smoothing, max_faces, video = key
        return FaceAligner(weights=self.weights, preset=preset, backend=backend,
                           detector=detector, max_faces=max_faces, video=video, smoothing=smoothing)

    def take(self, key: tuple):
        """An idle aligner for `key` (reset), else a new one; hand it back with give_back()."""
        with self._lock:
            idle = self._idle.get(key, [])
            aligner = idle.pop() if idle else None
        if aligner is None:
            return self.build(key)
        aligner.reset()
        return aligner

    def give_back(self, key: tuple, aligner) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.keep:
                idle.append(aligner)
                return
        aligner.close()

    @contextmanager
    def checkout(self, settings: Settings, video: bool = False):
        """with cache.checkout(settings) as aligner: ... -- the aligner is this request's alone."""
        key = settings.aligner_key(video)
        aligner = self.take(key)
        try:
            yield aligner
        finally:
            self.give_back(key, aligner)


# ---------------------------------------------------------------- shared bits

def drawing_spec(settings: Settings):
    from facealign import DrawingSpec

    return DrawingSpec(points=settings.points, contours=settings.contours,
                       pose_axes=settings.pose_axes, box=settings.box)


def annotate(aligner, frame_bgr: np.ndarray, settings: Settings):
    """Run the aligner on a BGR frame -> (annotated BGR copy, list of Landmarks)."""
    from facealign import draw_landmarks

    faces = aligner(frame_bgr)
    return draw_landmarks(frame_bgr, faces, drawing_spec(settings)), faces


def downscale(frame: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float]:
    """Shrink so the long side is <= max_side -> (frame, scale = new / old); scale 1.0 when untouched."""
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return frame, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


def face_record(face, index: int, scale: float = 1.0) -> dict:
    """One face as plain JSON types (Landmarks.to_dict), coordinates divided by `scale` (to input pixels)."""
    rec = {"face": index, **face.to_dict()}
    if scale != 1.0:
        rec["points"] = (face.points / scale).round(2).tolist()
        rec["box_xyxy"] = (face.box_xyxy / scale).round(2).tolist()
    return rec


def new_workdir(root: Path, max_age_s: float = 3600.0) -> Path:
    """A fresh folder under `root` for one request's files; folders older than max_age_s are removed."""
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if old.is_dir() and now - old.stat().st_mtime > max_age_s:
                for f in old.iterdir():
                    f.unlink(missing_ok=True)
                old.rmdir()
        except OSError:  # another request is sweeping it too
            pass
    return Path(tempfile.mkdtemp(dir=root))


# ---------------------------------------------------------------- pictures

TABLE_HEADERS = ["face", "score", "yaw", "pitch", "roll", "x1", "y1", "x2", "y2"]


@dataclass
class PictureResult:
    image: np.ndarray | None = None  # annotated, RGB uint8
    n_faces: int = 0
    table: list[list] = field(default_factory=list)  # rows under TABLE_HEADERS
    json_path: str | None = None
    csv_path: str | None = None
    message: str = ""


def load_picture(path) -> tuple[np.ndarray, list[str]]:
    """Read an uploaded picture -> (BGR uint8, notes about conversions). Raises ImageError."""
    if path is None:
        raise ImageError("Upload or paste a picture first.")
    size, orientation = _header(path)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"{Path(path).name}: the picture is too large to process "
                         f"({size[0]}x{size[1]}; the limit is {MAX_PIXELS // 10**6} megapixels)")
    raw = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED) \
        if Path(path).is_file() and Path(path).stat().st_size else None
    if raw is None:
        read_image(path)  # raises the precise reason (missing, empty, not decodable)
        raise ImageError(f"{Path(path).name}: not a picture")
    notes = []
    if raw.dtype != np.uint8:
        notes.append(f"{raw.dtype} picture converted to 8 bits")
    if raw.ndim == 2 or raw.shape[2] == 1:
        notes.append("grey picture converted to colour")
    elif raw.shape[2] == 4:
        notes.append("transparency flattened on black")
    bgr = to_bgr(raw)
    for op in _EXIF_ROTATIONS.get(orientation, ()):  # phone pictures: IMREAD_UNCHANGED ignores EXIF
        bgr = cv2.rotate(bgr, op)
    return bgr, notes


_EXIF_ROTATIONS = {3: (cv2.ROTATE_180,), 6: (cv2.ROTATE_90_CLOCKWISE,), 8: (cv2.ROTATE_90_COUNTERCLOCKWISE,)}


def _header(path) -> tuple[tuple[int, int] | None, int]:
    """(width, height) and EXIF orientation from the file header, without decoding the pixels;
    (None, 1) where Pillow cannot read the header (OpenCV may still decode the file)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: we check the size ourselves
            with Image.open(path) as im:
                return im.size, int(im.getexif().get(274, 1))
    except Image.DecompressionBombError:
        return (MAX_PIXELS, MAX_PIXELS), 1  # far beyond any limit we take
    except Exception:  # noqa: BLE001 - not a format Pillow knows, or not a picture at all
        return None, 1


def analyse_picture(path, settings: Settings, cache: AlignerCache, out_root: Path) -> PictureResult:
    """Uploaded picture file -> annotated picture, face table, JSON + CSV points (in input pixels)."""
    try:
        frame, notes = load_picture(path)
    except ImageError as err:
        return PictureResult(message=_friendly(err))
    h, w = frame.shape[:2]
    frame, scale = downscale(frame)
    if scale < 1.0:
        notes.append(f"large picture ({w}x{h}) downscaled to {frame.shape[1]}x{frame.shape[0]} "
                     f"for processing; the points files are in the original's pixels")
    with cache.checkout(settings, video=False) as aligner:
        drawn, faces = annotate(aligner, frame, settings)
    records = [face_record(f, i, scale) for i, f in enumerate(faces)]
    out = new_workdir(out_root)
    stem = Path(str(path)).stem[:60] or "picture"
    json_path = out / f"{stem}_landmarks.json"
    json_path.write_text(json.dumps({"width": w, "height": h, "faces": records}, indent=1))
    csv_path = out / f"{stem}_landmarks.csv"
    write_points_csv(csv_path, [(None, records)])
    message = "; ".join(notes)
    if not faces:
        message = NO_FACE + (f" ({message})" if message else "")
    return PictureResult(image=cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB), n_faces=len(faces),
                         table=[table_row(r) for r in records], json_path=str(json_path),
                         csv_path=str(csv_path), message=_capital(message))


def table_row(rec: dict) -> list:
    pose = rec["pose"]
    return [rec["face"], rec["score"], _r(pose["yaw"]), _r(pose["pitch"]), _r(pose["roll"]),
            *[round(v) for v in rec["box_xyxy"]]]


def _r(v, nd: int = 1):
    """Round for the table; None (pose not solvable) stays None."""
    return None if v is None else round(float(v), nd)


def write_points_csv(path: Path, frames: list[tuple[int | None, list[dict]]]) -> None:
    """Long format: one row per point; a `frame` column only for videos."""
    video = any(f is not None for f, _ in frames)
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow((["frame"] if video else []) + ["face", "point", "x", "y"])
        for index, records in frames:
            for rec in records:
                for k, (x, y) in enumerate(rec["points"]):
                    wr.writerow(([index] if video else []) + [rec["face"], k, x, y])


def _friendly(err: Exception) -> str:
    """The error's message with a leading "path: " cut to the file name: paths in Gradio's
    upload cache mean nothing to the person at the page."""
    text = str(err)
    head, sep, rest = text.partition(": ")
    if sep and ("/" in head or "\\" in head):
        return f"{Path(head).name}: {rest}"
    return text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# ---------------------------------------------------------------- webcam

@dataclass
class StreamSession:
    """One browser tab's webcam stream: its own video-mode aligner (tracking state)."""

    key: tuple | None = None
    aligner: object | None = None
    frames: int = 0


def webcam_frame(frame_rgb, settings: Settings, session: StreamSession | None,
                 cache: AlignerCache) -> tuple[np.ndarray | None, StreamSession, str]:
    """One streamed webcam frame (RGB uint8) -> (annotated RGB, session, status line)."""
    session = session if isinstance(session, StreamSession) else StreamSession()
    if frame_rgb is None:
        return None, session, ""
    try:
        frame = to_bgr(np.asarray(frame_rgb), assume="rgb")
    except ImageError as err:
        return None, session, _friendly(err)
    frame, _ = downscale(frame, 1280)
    key = settings.aligner_key(video=True)
    if session.key != key or session.aligner is None:
        end_session(session, cache)
        session.aligner, session.key, session.frames = cache.take(key), key, 0
    drawn, faces = annotate(session.aligner, frame, settings)
    session.frames += 1
    status = f"frame {session.frames}: {len(faces)} face(s)"
    return cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB), session, status


def end_session(session, cache: AlignerCache) -> None:
    """Return a webcam session's aligner to the cache (the tab closed, or the settings changed)."""
    if isinstance(session, StreamSession) and session.aligner is not None:
        cache.give_back(session.key, session.aligner)
        session.aligner = session.key = None




# ---------------------------------------------------------------- videos

@dataclass
class VideoResult:
    video_path: str | None = None  # annotated H.264 MP4
    json_path: str | None = None
    n_frames: int = 0
    frames_with_faces: int = 0
    message: str = ""


def analyse_video(path, settings: Settings, cache: AlignerCache, out_root: Path,
                  progress: Progress | None = None, max_frames: int = 1800) -> VideoResult:
    """Uploaded video -> annotated MP4 + per-frame points JSON (tracking/video-mode pipeline).

    Frames larger than MAX_SIDE are downscaled; the JSON's points are in the
    original frame's pixels. At most `max_frames` frames are processed.
    """
    from facealign.video import VideoError, VideoReader, VideoWriter

    if path is None:
        return VideoResult(message="Upload a video first.")
    try:
        reader = VideoReader(str(path))
    except VideoError as err:
        return VideoResult(message=_friendly(err))
    out = new_workdir(out_root)
    stem = Path(str(path)).stem[:60] or "video"
    video_path, json_path = out / f"{stem}_landmarks.mp4", out / f"{stem}_landmarks.json"
    total = min(reader.frame_count or max_frames, max_frames)
    fps, width, height = reader.fps, reader.width, reader.height
    if progress is not None:
        progress(0.0, "starting")
    frames, with_faces, scale, truncated = [], 0, 1.0, False
    with reader, VideoWriter(video_path, fps=fps) as writer, \
            cache.checkout(settings, video=True) as aligner:
        for frame in reader:
            if len(frames) >= max_frames:
                truncated = True
                break
            small, scale = downscale(frame)
            drawn, faces = annotate(aligner, small, settings)
            writer.write(drawn)
            frames.append([face_record(f, i, scale) for i, f in enumerate(faces)])
            with_faces += bool(faces)
            if progress is not None and len(frames) % 5 == 0:
                progress(min(len(frames) / max(total, 1), 1.0), f"frame {len(frames)} of ~{total}")
    json_path.write_text(json.dumps({
        "width": width, "height": height, "fps": round(fps, 3),
        "frames": [{"frame": i, "faces": recs} for i, recs in enumerate(frames)]}))
    notes = [f"{len(frames)} frames, a face in {with_faces}"]
    if truncated:
        notes.append(f"only the first {max_frames} frames were processed")
    if scale < 1.0:
        notes.append(f"frames downscaled from {width}x{height} for processing")
    if writer.codec != "h264":
        notes.append(f"written with {writer.codec} (H.264 unavailable): some browsers may not play it")
    if not with_faces:
        notes.insert(0, "no face found in this video")
    return VideoResult(str(video_path), str(json_path), len(frames), with_faces, _capital("; ".join(notes)))
