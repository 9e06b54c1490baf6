"""The one read -> align -> draw loop of every front end: predict, the web page, the webcam demo.

    shot = annotate(aligner, frame_bgr, style)          # one picture or frame -> Annotated
    shot.image, shot.faces, shot.record()               # drawn BGR, Landmarks, FRAME (facealign.records)
    run = annotate_video(aligner, reader, writer)       # every frame of a VideoReader into a VideoWriter
    run.record(source)                                  # the per-video JSON (facealign.records)

Frames larger than `max_side` are downscaled for processing (and drawn at that size);
records carry coordinates in the input's pixels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np

from .draw import DrawingSpec, draw_landmarks
from .profiler import FrameStats
from .records import frame_record, video_record


@dataclass(frozen=True, eq=False)
class Annotated:
    """One processed frame: image (H', W', 3) uint8 BGR drawn at the processing size; faces in
    processing pixels; scale = processing size / input size (1.0 when not downscaled)."""

    index: int
    image: np.ndarray
    faces: list
    scale: float
    stats: FrameStats
    draw_ms: float = 0.0

    def record(self) -> dict:
        return frame_record(self.index, self.faces, self.stats.left_out, self.scale)


@dataclass
class VideoRun:
    """What annotate_video did: one frame record per frame processed."""

    width: int
    height: int
    fps: float
    frames: list[dict] = field(default_factory=list)
    with_faces: int = 0
    left_out: int = 0  # frames where a max_faces cap left faces out
    truncated: bool = False  # stopped at max_frames before the end
    scale: float = 1.0

    def record(self, source) -> dict:
        return video_record(source, self.width, self.height, self.fps, self.frames)


def downscale(frame: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Shrink so the long side is <= max_side -> (frame, scale = new / old); (frame, 1.0) when untouched."""
    h, w = frame.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return frame, 1.0
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


def annotate(aligner, frame_bgr: np.ndarray, style: DrawingSpec | None = None, max_side: int | None = None,
             timestamp: float | None = None, index: int = 0) -> Annotated:
    """Align one (H, W, 3) uint8 BGR frame and draw the faces on a copy."""
    small, scale = downscale(frame_bgr, max_side)
    faces = aligner(small, timestamp=timestamp)
    t0 = time.perf_counter()
    drawn = draw_landmarks(small, faces, style)
    return Annotated(index, drawn, faces, scale, aligner.last_stats, (time.perf_counter() - t0) * 1e3)


def annotate_frames(aligner, frames: Iterable[np.ndarray], style: DrawingSpec | None = None,
                    max_side: int | None = None, live: bool = False) -> Iterator[Annotated]:
    """annotate() each frame in order, tracking from a fresh start (aligner.reset()). live: smooth
    on wall-clock time (a camera or stream), else on frame count / the aligner's fps."""
    aligner.reset()
    for i, frame in enumerate(frames):
        yield annotate(aligner, frame, style, max_side, time.perf_counter() if live else None, i)


def annotate_video(aligner, reader, writer=None, style: DrawingSpec | None = None, max_side: int | None = None,
                   max_frames: int | None = None, on_frame: Callable[[Annotated], None] | None = None) -> VideoRun:
    """Every frame of a facealign.video.VideoReader (at most max_frames) through annotate(), the
    drawn frames into `writer` (a VideoWriter, or None) -> VideoRun with one record per frame."""
    run = VideoRun(reader.width, reader.height, reader.fps)
    aligner.reset()
    for i, frame in enumerate(reader):
        if max_frames is not None and i >= max_frames:
            run.truncated = True
            break
        shot = annotate(aligner, frame, style, max_side, None, i)
        if writer is not None:
            writer.write(shot.image)
        run.frames.append(shot.record())
        run.with_faces += bool(shot.faces)
        run.left_out += bool(shot.stats.left_out)
        run.scale = shot.scale
        if on_frame is not None:
            on_frame(shot)
    return run


def left_out_note(left_out: int, how: str, frames: bool = False) -> str:
    """A sentence for a cap that left faces out ("" when none was); how: the way to get them all."""
    if not left_out:
        return ""
    what = f"in {left_out} frame(s) some faces were" if frames else f"{left_out} more face(s) were"
    return f"{what} left out by the maximum-faces cap; {how} to get every face"
