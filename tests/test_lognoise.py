"""facealign.lognoise: third-party lines silenced where they are born, everything else passed on."""
from __future__ import annotations

import os
import threading

import cv2
import pytest

from facealign import lognoise

TFLITE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
ABSL = (b"W0000 00:00:1796104415.312743    7248 inference_feedback_manager.cc:114] Feedback manager "
        b"requires a model with a single signature inference. Disabling support for feedback tensors.\n")


@pytest.fixture
def quiet(monkeypatch):
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "")  # recorded, so that monkeypatch restores it
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    was = lognoise.verbose()
    lognoise.set_verbose(False)
    yield
    lognoise.set_verbose(was)


def test_native_start_drops_the_noise_and_keeps_the_rest_in_order(quiet, capfd):
    with lognoise.native_start():
        os.write(2, TFLITE)
        os.write(2, b"a line of ours\n")
        with lognoise.native_start():  # nested: the graphs of a refining detector
            os.write(2, ABSL)
            os.write(2, b"a second line\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "a line of ours\na second line\nafter\n"


def test_native_start_in_threads_loses_nothing(quiet, capfd):
    def start(i):
        with lognoise.native_start():
            os.write(2, ABSL)
            os.write(2, f"thread {i}\n".encode())

    threads = [threading.Thread(target=start, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["after", "thread 0", "thread 1", "thread 2", "thread 3"]


def test_verbose_shows_everything_and_restores_opencv(quiet, capfd):
    with lognoise.opening_video():
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "-8" and cv2.getLogLevel() == lognoise.CV_SILENT
    assert "OPENCV_FFMPEG_LOGLEVEL" not in os.environ  # set for the open alone: no child inherits it
    lognoise.set_verbose(True)
    with lognoise.opening_video():
        assert "OPENCV_FFMPEG_LOGLEVEL" not in os.environ and cv2.getLogLevel() != lognoise.CV_SILENT
    with lognoise.native_start():
        os.write(2, TFLITE)
    assert capfd.readouterr().err == TFLITE.decode()


def test_a_level_the_user_set_is_left_alone(quiet, monkeypatch):
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "32")
    with lognoise.opening_video():
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "32"
    assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "32"


def test_noise_patterns():
    assert lognoise.is_noise(TFLITE.decode()) and lognoise.is_noise(ABSL.decode())
    assert lognoise.is_noise("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x562552fd5300] moov atom not found\n")
    assert not lognoise.is_noise("FAILED /tmp/cut.mp4: not a video OpenCV can open\n")
    assert not lognoise.is_noise("WARNING facealign.pipeline: max_faces=4 left out 1 face(s)\n")
