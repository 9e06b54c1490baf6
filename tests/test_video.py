"""facealign.video: reading with clear errors, H.264 writing that cv2 reads back, finalising on Ctrl-C."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facealign.video import VideoError, VideoReader, VideoWriter, parse_source, read_frames

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
CLIP = MEDIA / "single_face.mp4"  # 72 frames, 640x360, 30 fps


def read_back(path) -> list[np.ndarray]:
    """Every frame of a video file as cv2 decodes it (independent of facealign.video)."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cv2 cannot open {path}"
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is missing")
    return read_back(CLIP)


def test_reader_reports_fps_count_and_size():
    with VideoReader(str(CLIP)) as reader:
        frames = list(reader)
        assert reader.fps == pytest.approx(30.0)
        assert reader.frame_count == 72
        assert (reader.width, reader.height) == (640, 360)
    assert len(frames) == 72
    assert frames[0].shape == (360, 640, 3) and frames[0].dtype == np.uint8


def test_h264_writer_round_trip(tmp_path, clip_frames):
    out = tmp_path / "copy.mp4"
    with VideoWriter(out, fps=30) as writer:
        for frame in clip_frames:
            writer.write(frame)
    assert writer.codec == "h264"
    back = read_back(out)
    assert len(back) == len(clip_frames) == 72
    assert back[0].shape == clip_frames[0].shape
    # same picture, not channel-swapped: only compression noise remains
    for i in (0, 36, 71):
        diff = np.abs(back[i].astype(np.int16) - clip_frames[i].astype(np.int16)).mean(axis=(0, 1))
        assert diff.max() < 6.0, f"frame {i}: mean abs difference per channel {diff}"
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0, abs=0.01)
    cap.release()


def test_odd_sizes_are_padded_to_even(tmp_path):
    frames = [np.full((101, 77, 3), (40 * i, 100, 200), np.uint8) for i in range(5)]
    with VideoWriter(tmp_path / "odd.mp4", fps=10) as writer:
        for f in frames:
            writer.write(f)
    back = read_back(tmp_path / "odd.mp4")
    assert len(back) == 5
    assert back[0].shape == (102, 78, 3)
    assert np.abs(back[3][:101, :77].astype(int) - frames[3]).mean() < 4.0


def test_opencv_fallback_writes_a_readable_file(tmp_path, clip_frames):
    with VideoWriter(tmp_path / "mp4v.mp4", fps=30, prefer_h264=False) as writer:
        for frame in clip_frames[:10]:
            writer.write(frame)
    assert writer.codec == "mp4v"
    back = read_back(tmp_path / "mp4v.mp4")
    assert len(back) == 10 and back[0].shape == (360, 640, 3)


def test_writer_finalises_the_file_on_ctrl_c(tmp_path, clip_frames):
    out = tmp_path / "interrupted.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(out, fps=30) as writer:
            for i, frame in enumerate(clip_frames):
                writer.write(frame)
                if i == 9:
                    raise KeyboardInterrupt
    assert len(read_back(out)) == 10


def test_writer_rejects_a_frame_of_another_size(tmp_path):
    with VideoWriter(tmp_path / "x.mp4") as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
        with pytest.raises(ValueError, match="differs"):
            writer.write(np.zeros((32, 64, 3), np.uint8))
        with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
            writer.write(np.zeros((64, 64), np.uint8))


def test_empty_video_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        VideoReader(empty)


def test_not_a_video_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video " * 100)
    with pytest.raises(VideoError, match="not a video"):
        read_frames(junk)
    with pytest.raises(VideoError, match="no such video file"):
        VideoReader(tmp_path / "missing.mp4")


def test_missing_camera_tells_to_pass_a_file():
    with pytest.raises(VideoError, match="--source path/to/video.mp4") as err:
        VideoReader(97)
    assert "camera" in str(err.value)


def test_parse_source():
    assert parse_source("0") == 0 and parse_source(3) == 3
    assert parse_source("clip.mp4") == "clip.mp4"
    assert parse_source("rtsp://host/stream") == "rtsp://host/stream"
