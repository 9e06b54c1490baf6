"""`facealign webcam` (in a checkout also `python -m demo.webcam`): live 68-point landmarks on a
camera, a video file or a stream.

    facealign webcam                                       # camera 0, in a window
    facealign webcam --source clip.mp4 --no-display --output annotated.mp4

(its flags: facealign.commands.webcam)

Draws the points, their contours, the FPS and each stage's milliseconds. Keys
(with a window): q or Esc quits, s toggles smoothing, space pauses. Without a
display (no $DISPLAY, or --no-display) it runs headless and prints progress.
--output writes every input frame, annotated, to a playable H.264 MP4, also
when the run is stopped with Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import cv2
import numpy as np

from facealign.wording import plural

WINDOW = "facealign"
KEY_QUIT = {ord("q"), 27}
KEY_SMOOTH = ord("s")
KEY_PAUSE = ord(" ")


def display_available() -> bool:
    """True where a window can be opened: on Linux only with an X11 or Wayland display."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class FpsMeter:
    """Frames per second over the last ~second of wall time (exponential average of frame gaps)."""

    def __init__(self, alpha: float = 0.1):
        self.alpha, self.fps, self._last = alpha, 0.0, None

    def tick(self) -> float:
        now = time.perf_counter()
        if self._last is not None and now > self._last:
            inst = 1.0 / (now - self._last)
            self.fps = inst if self.fps == 0.0 else (1 - self.alpha) * self.fps + self.alpha * inst
        self._last = now
        return self.fps


def overlay_lines(fps: float, timings: dict, smoothing: bool, paused: bool = False) -> list[str]:
    """The text drawn in the corner: FPS, state, one line of per-stage milliseconds."""
    head = f"{fps:5.1f} FPS   smoothing {'on' if smoothing else 'off'}" + ("   PAUSED" if paused else "")
    stages = "  ".join(f"{name} {ms:.1f}" for name, ms in timings.items())
    return [head, f"ms: {stages}" if stages else "ms: -"]


def draw_text(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """Draw lines of white text on a dark band in the top-left corner of a BGR frame (in place)."""
    scale = max(0.4, min(frame.shape[1] / 1280.0, 1.0) * 0.6)
    step = int(26 * scale / 0.6)
    width = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in lines) + 12
    band = frame[: step * len(lines) + 8, :width]
    band[:] = (band * 0.4).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(frame, text, (6, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return frame


class Loop:
    """The demo's state: the video-mode aligner, the FPS meter, smoothing on/off and pause.
    options: FaceAligner's keyword arguments (weights, preset, backend, max_faces, smoothing)."""

    def __init__(self, fps: float, live: bool, **options):
        from facealign import FaceAligner
        from facealign.smoothing import TrackSmoother

        self.aligner = FaceAligner(video=True, fps=fps, **options)
        self._smoother = self.aligner.smoother or TrackSmoother()
        self.live = live  # a camera or stream: smooth on wall-clock time, not frame numbers
        self.meter = FpsMeter()
        self.paused = False
        self.frames = 0

    @property
    def smoothing(self) -> bool:
        return self.aligner.smoother is not None

    def decorate(self, shot) -> np.ndarray:
        """An Annotated frame (facealign.annotate) -> its image with the FPS and per-stage ms drawn."""
        timings = {k: v for k, v in shot.stats.ms.items() if k in shot.stats.stages_run}
        timings["draw"] = shot.draw_ms
        timings["total"] = shot.stats.total_ms + shot.draw_ms
        self.frames += 1
        return draw_text(shot.image, overlay_lines(self.meter.tick(), timings, self.smoothing))

    def toggle_smoothing(self) -> None:
        if self.smoothing:
            self.aligner.smoother = None
        else:
            self._smoother.reset()
            self.aligner.smoother = self._smoother

    def on_key(self, key: int) -> bool:
        """Handle a key code from cv2.waitKey (-1: none); True means quit."""
        if key < 0:
            return False
        key &= 0xFF
        if key in KEY_QUIT:
            return True
        if key == KEY_SMOOTH:
            self.toggle_smoothing()
        elif key == KEY_PAUSE:
            self.paused = not self.paused
        return False


def show(loop: Loop, image: np.ndarray) -> bool:
    """Show a frame; wait for keys while paused -> True when the user quits."""
    cv2.imshow(WINDOW, image)
    if loop.on_key(cv2.waitKey(1)):
        return True
    while loop.paused:  # hold the last frame; keys still work
        if loop.on_key(cv2.waitKey(30)):
            return True
    return False


def run_loop(loop: Loop, reader, writer, display: bool, records: list | None = None) -> None:
    """Read, annotate, show and/or write every frame until the source ends or the user quits;
    the loop itself is facealign.annotate's, shared with predict and the web page."""
    from facealign.annotate import annotate_frames

    for shot in annotate_frames(loop.aligner, reader, live=loop.live):
        shown = loop.decorate(shot)
        if records is not None:
            records.append(shot.record())
        if writer is not None:
            writer.write(shown)
        if display:
            if show(loop, shown):
                return
        elif loop.frames % 30 == 0:
            print(f"frame {loop.frames}: {loop.meter.fps:.1f} FPS", flush=True)


def open_source(source, options: dict):
    """(VideoReader, Loop) for `source` (camera index, file or stream URL); raises VideoError,
    FileNotFoundError or ValueError (bad weights or settings) with the reader closed."""
    from facealign.video import VideoReader, is_stream

    reader = VideoReader(source)
    try:
        live = isinstance(reader.source, int) or is_stream(reader.source)
        return reader, Loop(fps=reader.fps, live=live, **options)
    except BaseException:
        reader.close()
        raise


def play(source="0", output=None, json_path=None, display: bool = True, **options) -> int:
    """The demo: annotate every frame of `source`, in a window (display, where one can open) and/or
    to an MP4 (output) and the per-frame points (json_path) -> exit code (2: the source or the
    settings are unusable; 130: stopped with Ctrl-C, the files still written). options: FaceAligner's."""
    # Ctrl-C must reach us even when started from a shell that ignores SIGINT (a background job)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from facealign.video import VideoError, VideoWriter

    if display and not display_available():
        print("no display found: running headless (pass --no-display to say so)", file=sys.stderr)
        display = False
    try:
        reader, loop = open_source(source, options)
    except (VideoError, FileNotFoundError, ValueError) as e:
        print(f"facealign webcam: {e}", file=sys.stderr)
        return 2
    writer = VideoWriter(output, fps=reader.fps) if output else None
    records = [] if json_path else None
    interrupted = False
    try:
        with reader:
            run_loop(loop, reader, writer, display, records)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if writer is not None:
            writer.close()
        if display:
            cv2.destroyAllWindows()
    saved = f"; wrote {plural(writer.frames_written, 'frame')} to {output}" if writer is not None else ""
    if records is not None:
        saved += write_records(json_path, source, reader, loop, records)
    print(f"{'interrupted after' if interrupted else 'processed'} {plural(loop.frames, 'frame')}{saved}")
    return 130 if interrupted else 0


def write_records(path, source, reader, loop: Loop, records: list) -> str:
    """The per-frame points as the JSON of facealign predict -> the note for the closing line."""
    from facealign.formats.atomic import write_json
    from facealign.records import video_record

    write_json(path, video_record(str(source), reader.width, reader.height, loop.aligner.fps, records), indent=None)
    return f"; points of {plural(len(records), 'frame')} in {path}"
