"""Per-request logic of the web page, free of Gradio: arrays and paths in, outputs out. What any
front end would share (the aligner cache, pictures in) is facealign.serving's.

Every handler returns a result object whose `message` is a friendly sentence for
the page ("" when there is nothing to say); bad input never raises out of here.
Images crossing this boundary are RGB uint8 (what Gradio shows); the library
works in BGR and the conversion happens only in this module.
"""
from __future__ import annotations

import csv
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from facealign.annotate import annotate as annotate_shot
from facealign.annotate import annotate_video, downscale, left_out_note
from facealign.formats.atomic import write_json
from facealign.image import ImageError, to_bgr
from facealign.records import picture_record
from facealign.serving import AlignerCache, AlignerKey, load_upload
from facealign.wording import plural

log = logging.getLogger(__name__)

MAX_SIDE = 1920  # long side, px, above which pictures and frames are downscaled
CAP_HOW = "set Maximum faces to 0"
NO_FACE = "No face found in this picture."
Progress = Callable[[float, str], None]  # (fraction done, description), as gr.Progress takes them


@dataclass(frozen=True)
class Settings:
    """What the settings panel chooses: the aligner's settings (aligner_key) and the drawing's."""

    preset: str = "accurate"
    backend: str = "auto"
    detector: str = "mediapipe"  # full range, refined by short range: see facealign.detectors
    smoothing: bool = True  # One Euro smoothing of tracked points; video and webcam only
    max_faces: int | None = None  # None: every face
    points: bool = True
    contours: bool = True
    pose_axes: bool = False
    box: bool = False

    def aligner_key(self, video: bool) -> AlignerKey:
        return AlignerKey(self.preset, self.backend, self.detector, bool(video and self.smoothing),
                          int(self.max_faces) if self.max_faces else None, bool(video))


# ---------------------------------------------------------------- shared bits

def drawing_spec(settings: Settings):
    from facealign import DrawingSpec

    return DrawingSpec(points=settings.points, contours=settings.contours,
                       pose_axes=settings.pose_axes, box=settings.box)


def annotate(aligner, frame_bgr: np.ndarray, settings: Settings, max_side: int | None = None):
    """facealign.annotate.annotate with the page's drawing settings -> Annotated."""
    return annotate_shot(aligner, frame_bgr, drawing_spec(settings), max_side)


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

# score: the detector's; points mean / min: the face's point confidences (blank without them)
TABLE_HEADERS = ["face", "score", "points mean", "points min", "yaw", "pitch", "roll", "x1", "y1", "x2", "y2"]


@dataclass
class PictureResult:
    image: np.ndarray | None = None  # annotated, RGB uint8
    n_faces: int = 0
    table: list[list] = field(default_factory=list)  # rows under TABLE_HEADERS
    json_path: str | None = None
    csv_path: str | None = None
    message: str = ""


def analyse_picture(path, settings: Settings, cache: AlignerCache, out_root: Path) -> PictureResult:
    """Uploaded picture file -> annotated picture, face table, JSON + CSV points (in input pixels)."""
    try:
        frame, notes = load_upload(path)
    except ImageError as err:
        return PictureResult(message=_friendly(err))
    h, w = frame.shape[:2]
    with cache.checkout(settings.aligner_key(video=False)) as aligner:
        shot = annotate(aligner, frame, settings, MAX_SIDE)
    if shot.scale < 1.0:
        notes.append(f"large picture ({w}x{h}) downscaled to {shot.image.shape[1]}x{shot.image.shape[0]} "
                     f"for processing; the points files are in the original's pixels")
    notes.append(left_out_note(shot.stats.left_out, CAP_HOW))
    out = new_workdir(out_root)
    stem = Path(str(path)).stem[:60] or "picture"
    record = picture_record(Path(str(path)).name, w, h, shot.faces, shot.stats.left_out, shot.scale)
    json_path = out / f"{stem}_landmarks.json"
    write_json(json_path, record, indent=1)
    csv_path = out / f"{stem}_landmarks.csv"
    write_points_csv(csv_path, [(None, record["faces"])])
    message = "; ".join(n for n in notes if n)
    if not shot.faces:
        message = NO_FACE + (f" ({message})" if message else "")
    return PictureResult(image=cv2.cvtColor(shot.image, cv2.COLOR_BGR2RGB), n_faces=len(shot.faces),
                         table=[table_row(r) for r in record["faces"]], json_path=str(json_path),
                         csv_path=str(csv_path), message=_capital(message))


def table_row(rec: dict) -> list:
    """A face record -> its row under TABLE_HEADERS."""
    pose, scores = rec["pose"], rec["point_scores"]
    mean, least = (None, None) if scores is None else (float(np.mean(scores)), float(np.min(scores)))
    return [rec["face"], rec["score"], _r(mean, 3), _r(least, 3), _r(pose["yaw"]), _r(pose["pitch"]),
            _r(pose["roll"]), *[round(v) for v in rec["box_xyxy"]]]


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

    key: AlignerKey | None = None
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
    shot = annotate(session.aligner, frame, settings)
    session.frames += 1
    status = f"frame {session.frames}: {len(shot.faces)} face(s)"
    note = left_out_note(shot.stats.left_out, CAP_HOW)
    return cv2.cvtColor(shot.image, cv2.COLOR_BGR2RGB), session, status + (f"; {note}" if note else "")


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

    def on_frame(shot) -> None:
        if progress is not None and (shot.index + 1) % 5 == 0:
            progress(min((shot.index + 1) / max(total, 1), 1.0), f"frame {shot.index + 1} of ~{total}")

    with reader, VideoWriter(video_path, fps=fps) as writer, \
            cache.checkout(settings.aligner_key(video=True)) as aligner:
        run = annotate_video(aligner, reader, writer, drawing_spec(settings), MAX_SIDE, max_frames, on_frame)
    write_json(json_path, run.record(Path(str(path)).name), indent=None)
    notes = [f"{plural(len(run.frames), 'frame')}, a face in {run.with_faces}"]
    if run.truncated:
        notes.append(f"only the first {max_frames} frames were processed")
    if run.scale < 1.0:
        notes.append(f"frames downscaled from {width}x{height} for processing")
    if writer.codec != "h264":
        notes.append(f"written with {writer.codec} (H.264 unavailable): some browsers may not play it")
    if run.left_out:
        notes.append(left_out_note(run.left_out, CAP_HOW, frames=True))
    if not run.with_faces:
        notes.insert(0, "no face found in this video")
    return VideoResult(str(video_path), str(json_path), len(run.frames), run.with_faces,
                       _capital("; ".join(notes)))
