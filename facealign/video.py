"""Video in and out at the boundary: cameras, files and streams in; playable H.264 MP4 out.

Frames are (H, W, 3) uint8 BGR throughout, as OpenCV decodes them.

    with VideoReader("clip.mp4") as reader, VideoWriter("out.mp4", fps=reader.fps) as writer:
        for frame in reader:
            writer.write(frame)

`VideoWriter` pipes raw BGR frames to the ffmpeg that imageio-ffmpeg bundles
(libx264, yuv420p, odd sizes padded to even) and falls back to OpenCV's mp4v
writer where that ffmpeg cannot start. It always finalises the file on leaving
its `with` block, Ctrl-C included, so an interrupted run leaves a playable file.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0


class VideoError(RuntimeError):
    """A video source or output that cannot be used; the message says what to do."""


def parse_source(source) -> int | str:
    """A camera index (int, or a string of digits) -> int; anything else -> str (file path or URL)."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    return int(text) if text.isdigit() else text


def is_stream(source) -> bool:
    """True for URLs such as rtsp://..., http://... (not checked for existence on disk)."""
    return isinstance(source, str) and "://" in source


class VideoReader:
    """Iterate over the frames of a camera, a video file or a stream URL.

    Each item is an (H, W, 3) uint8 BGR frame. Opening reads the first frame, so
    a missing camera, an unreadable file or a video without frames fails here,
    with a `VideoError` that says what to do, not in the middle of a loop.
    """

    def __init__(self, source=0):
        self.source = parse_source(source)
        self._cap = self._open()
        self._first = self._read_first()
        self.height, self.width = self._first.shape[:2]
        self.index = 0  # frames handed out so far

    def _open(self) -> cv2.VideoCapture:
        src = self.source
        if isinstance(src, str) and not is_stream(src):
            path = Path(src)
            if not path.is_file():
                raise VideoError(f"{path}: no such video file")
            if path.stat().st_size == 0:
                raise VideoError(f"{path}: the file is empty")
        from .lognoise import opening_video

        with opening_video():  # FFmpeg's "moov atom not found", OpenCV's camera warnings: only when verbose
            cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            cap.release()
            raise VideoError(self._why_not())
        return cap

    def _read_first(self) -> np.ndarray:
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            self._cap.release()
            raise VideoError(self._why_not(opened=True))
        return frame

    def _why_not(self, opened: bool = False) -> str:
        src = self.source
        if isinstance(src, int):
            return (f"no camera at index {src} could be opened (none attached, or in use); "
                    "to run on a video file instead, pass --source path/to/video.mp4")
        if is_stream(src):
            return f"{src}: the stream cannot be opened or sent no frame; check the URL and the network"
        if opened:
            return f"{src}: the video has no frame that can be decoded (empty or corrupt)"
        return f"{src}: not a video OpenCV can open (is it an MP4/MOV/AVI/MKV/WebM file?)"

    @property
    def fps(self) -> float:
        """Frames per second the source reports; DEFAULT_FPS where it reports none (many cameras)."""
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return fps if 0.5 < fps < 1000.0 else DEFAULT_FPS

    @property
    def frame_count(self) -> int | None:
        """The container's frame count (an estimate for some files); None for cameras and streams."""
        if isinstance(self.source, int) or is_stream(self.source):
            return None
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return n if n > 0 else None

    def read(self) -> np.ndarray | None:
        """The next (H, W, 3) uint8 BGR frame, or None at the end."""
        if self._first is not None:
            frame, self._first = self._first, None
        elif self._cap is None:
            return None
        else:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                return None
        self.index += 1
        return frame

    def __iter__(self):
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_frames(source, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """All frames of a video (at most `max_frames`) as BGR uint8 arrays, and its fps."""
    frames = []
    with VideoReader(source) as reader:
        for frame in reader:
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
        return frames, reader.fps


def pad_even(frame: np.ndarray) -> np.ndarray:
    """Pad an (H, W, 3) frame on the bottom/right by one replicated pixel where H or W is odd.

    yuv420p needs even sizes; padding keeps every original pixel where it was.
    """
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


@contextlib.contextmanager
def deferred_sigint():
    """Hold back Ctrl-C for the duration of the block, then raise it.

    Used around a write to ffmpeg: an interrupt in the middle of one would make
    imageio-ffmpeg kill ffmpeg, leaving an unplayable file.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class VideoWriter:
    """Write BGR frames to a playable MP4 (H.264 through ffmpeg, else OpenCV's mp4v).

    The size is fixed by the first frame; odd sizes are padded to even. Use it
    as a context manager (or call `close()`): that finalises the file.
    `codec` says which writer is in use once the first frame is written.
    """

    def __init__(self, path, fps: float = DEFAULT_FPS, prefer_h264: bool = True):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.prefer_h264 = prefer_h264
        self.codec: str | None = None
        self.frames_written = 0
        self._size: tuple[int, int] | None = None  # (width, height) after padding
        self._gen = None  # imageio-ffmpeg generator
        self._cv: cv2.VideoWriter | None = None

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame of the first frame's size."""
        frame = np.asarray(frame_bgr)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected a frame of shape (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}")
        frame = pad_even(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._open(frame)
        elif size != self._size:
            raise ValueError(f"frame size {size} differs from the video's {self._size} (width, height)")
        else:
            self._put(frame)
        self.frames_written += 1

    def _put(self, frame: np.ndarray) -> None:
        if self._gen is not None:
            with deferred_sigint():
                self._gen.send(np.ascontiguousarray(frame))
        else:
            self._cv.write(frame)

    def _open(self, frame: np.ndarray) -> None:
        """Start a writer for `frame`'s size and write `frame` with it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._size = (frame.shape[1], frame.shape[0])
        if self.prefer_h264:
            try:
                self._gen = self._start_ffmpeg()
                self.codec = "h264"
                self._put(frame)  # fails here if ffmpeg cannot encode
                return
            except (ImportError, OSError, RuntimeError) as e:
                log.warning("H.264 through ffmpeg unavailable (%s); writing %s with OpenCV's mp4v", e, self.path)
                self._drop_ffmpeg()
        self._cv = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
        if not self._cv.isOpened():
            raise VideoError(f"{self.path}: cannot write a video there (is the folder writable?)")
        self.codec = "mp4v"
        self._put(frame)

    def _start_ffmpeg(self):
        """An imageio-ffmpeg generator, started: send it (H, W, 3) uint8 BGR frames."""
        import imageio_ffmpeg

        gen = imageio_ffmpeg.write_frames(
            str(self.path), self._size, pix_fmt_in="bgr24", pix_fmt_out="yuv420p", fps=self.fps,
            codec="libx264", quality=None, macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-preset", "veryfast", "-crf", "20", "-movflags", "+faststart"])
        gen.send(None)  # runs up to the first yield: ffmpeg is started
        return gen

    def _drop_ffmpeg(self) -> None:
        gen, self._gen = self._gen, None
        if gen is not None:
            with contextlib.suppress(Exception):
                gen.close()

    def close(self) -> None:
        """Finalise the file (idempotent). Ctrl-C during finalising is held back until it is done."""
        with deferred_sigint():
            if self._gen is not None:
                self._gen.close()
                self._gen = None
            if self._cv is not None:
                self._cv.release()
                self._cv = None
        if self.frames_written:
            log.info("wrote %d frames (%s) to %s", self.frames_written, self.codec, self.path)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

