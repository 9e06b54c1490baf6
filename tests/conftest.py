"""Shared fixtures: the project's real data lives beside the repository, in ../shared/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MEDIA = DATA / "media"
W300 = DATA / "300w"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data not found: {path}")
    return path


@pytest.fixture(scope="session")
def media():
    """media("single_face.jpg") -> Path of a file under ../shared/data/media (skips if absent)."""
    return lambda name: _need(MEDIA / name)


@pytest.fixture(scope="session")
def read_media(media):
    """read_media("single_face.jpg") -> (H, W, 3) uint8 BGR picture."""
    from facealign.image import read_image

    return lambda name: read_image(media(name))


@pytest.fixture(scope="session")
def w300():
    """Path of the 300-W root (skips if absent)."""
    return _need(W300)


@pytest.fixture(scope="session")
def aligner():
    """One picture-mode FaceAligner (shipped weights, default detector), shared by the session."""
    from facealign import FaceAligner
    from facealign.weights import WEIGHTS_DIR

    _need(WEIGHTS_DIR / "accurate.pt")
    with FaceAligner() as fa:
        yield fa


@pytest.fixture(scope="session")
def video_frames(media):
    """video_frames("single_face.mp4", start, stop, step) -> list of (H, W, 3) uint8 BGR frames."""
    return lambda name, start=0, stop=None, step=1: _read_frames(media(name), start, stop, step)


def _read_frames(path: Path, start: int = 0, stop: int | None = None, step: int = 1) -> list[np.ndarray]:
    """Frames start, start+step, ... (< stop) of a video, decoded in order (HEVC seeking is unreliable),
    with the project's one video reader."""
    from facealign.video import VideoReader

    frames = []
    with VideoReader(path) as reader:
        for i, frame in enumerate(reader):
            if stop is not None and i >= stop:
                break
            if i >= start and (i - start) % step == 0:
                frames.append(frame)
    return frames
