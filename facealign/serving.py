"""What every front end that serves requests shares (the Gradio page today, a REST endpoint
tomorrow): a thread-safe cache of FaceAligner instances, and pictures in as uploaded files or bytes.

    cache = AlignerCache(weights=None, keep=2)
    frame, notes = load_upload(path)            # or decode_upload(request_body)
    with cache.checkout(AlignerKey(preset="fast")) as aligner:
        faces = aligner(frame)                   # records out: facealign.records

Pictures come back as (H, W, 3) uint8 BGR, upright, with a note per conversion done; a file
that is not a usable picture raises facealign.image.ImageError with a sentence to show.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .image import MAX_PIXELS, ImageError, decode_image, load_image


@dataclass(frozen=True)
class AlignerKey:
    """The FaceAligner settings a request asks for; hashable, so it keys the cache."""

    preset: str = "accurate"
    backend: str = "auto"
    detector: str = "mediapipe"
    smoothing: bool = False  # One Euro smoothing of tracked points (video mode only)
    max_faces: int | None = None  # None: every face
    video: bool = False  # video mode: tracking state, so one stream per instance

    def build(self, weights=None):
        """A new FaceAligner; raises ValueError/FileNotFoundError on bad settings."""
        from . import FaceAligner  # heavy import: only when a request needs it

        return FaceAligner(weights=weights, preset=self.preset, backend=self.backend, detector=self.detector,
                           max_faces=self.max_faces, video=self.video, smoothing=self.smoothing)


class AlignerCache:
    """FaceAligner instances per AlignerKey, handed out one request at a time.

    A FaceAligner in video mode carries tracking state, and the detector is not
    known to be thread-safe, so each request checks an instance out and puts it
    back; at most `keep` idle instances are kept per key. `weights`: one weights
    file for every key, instead of each key's preset.
    """

    def __init__(self, weights=None, keep: int = 2):
        self.weights, self.keep = weights, keep
        self._idle: dict[AlignerKey, list] = {}
        self._lock = threading.Lock()

    def take(self, key: AlignerKey):
        """An idle aligner for `key` (reset), else a new one; hand it back with give_back()."""
        with self._lock:
            idle = self._idle.get(key, [])
            aligner = idle.pop() if idle else None
        if aligner is None:
            return key.build(self.weights)
        aligner.reset()
        return aligner

    def give_back(self, key: AlignerKey, aligner) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.keep:
                idle.append(aligner)
                return
        aligner.close()

    @contextmanager
    def checkout(self, key: AlignerKey):
        """with cache.checkout(key) as aligner: ... -- the aligner is this request's alone."""
        aligner = self.take(key)
        try:
            yield aligner
        finally:
            self.give_back(key, aligner)


def load_upload(path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """An uploaded picture file -> (BGR uint8, upright; notes about conversions). Raises ImageError."""
    if path is None:
        raise ImageError("Upload or paste a picture first.")
    return load_image(path, max_pixels)


def decode_upload(data: bytes | None, name: str = "picture",
                  max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """A picture's bytes (a request body) -> as load_upload(). Raises ImageError."""
    if not data:
        raise ImageError("Send a picture first." if data is None else f"{name}: the file is empty")
    return decode_image(bytes(data), name, max_pixels)
