"""Third-party log noise, silenced where it is born; `--verbose` (CLI), `set_verbose(True)` (Python)
or FACEALIGN_VERBOSE=1 shows it. No stream is read afterwards: progress bars stay live.

What prints each line, measured with mediapipe 0.10.21 and opencv-contrib-python 4.11:

  FFmpeg inside OpenCV  "[mov,mp4,... @ 0x...] moov atom not found": av_log at AV_LOG_ERROR, the
                        level OpenCV sets. OPENCV_FFMPEG_LOGLEVEL=-8 (AV_LOG_QUIET) silences it;
                        OpenCV reads it at every open and sets FFmpeg's (global) level then, so
                        `opening_video()` sets it for the open alone, so child processes never
                        inherit it. (Once silenced, FFmpeg stays silent in this process: OpenCV
                        does not restore its level when the variable is gone. Measured.)
  OpenCV                "[ WARN:0@...] global cap_v4l.cpp:913 open VIDEOIO(V4L2:/dev/video63): can't
                        open camera by index", "[ERROR:0@...] ... Camera index out of range": cv2's
                        own logger; cv2.setLogLevel(0) (silent) at run time silences both.
  MediaPipe (C++)       "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." (TFLite's
                        minimal logger, a plain fprintf), "WARNING: All log messages before
                        absl::InitializeLog() ...", "W0000 ... inference_feedback_manager.cc:114]
                        Feedback manager requires a model with a single signature ..." (absl C++
                        logging). All three come while a graph starts (its calculators open).
                        They are written by the graph's threads after FaceDetection() has returned
                        (about 1 s later on 2 cores): the old stream filter was restored by then.
                        The wheel links absl and TFLite statically and exports no symbol but its
                        module's; GLOG_minloglevel=3, TF_CPP_MIN_LOG_LEVEL=3 and absl-py's
                        set_verbosity / set_stderrthreshold change nothing (measured). So
                        `native_start()` points fd 2 at a temporary file while a graph is built
                        *and run once* (the run returns after every calculator has opened), then
                        passes on every line that is not NOISE.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager

NOISE = re.compile(
    r"^(INFO: Created TensorFlow Lite"  # TFLite delegate
    r"|WARNING: All log messages before absl::InitializeLog"  # absl, before its logging starts
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\]"  # absl/glog lines from C++
    r"|\[[\w,]+ @ 0x[0-9a-f]+\] )")  # FFmpeg's per-demuxer lines ("moov atom not found")

FFMPEG_LEVEL = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET: FFmpeg inside OpenCV says nothing
CV_SILENT = 0  # cv::utils::logging::LOG_LEVEL_SILENT (cv2.setLogLevel; the wheel has no cv2.utils.logging)

_state = {"verbose": os.environ.get("FACEALIGN_VERBOSE", "") not in ("", "0")}
_fd2 = threading.RLock()  # one redirection of fd 2 at a time (the page starts graphs in several threads)
_env = threading.Lock()  # one open at a time changes the environment


def is_noise(line: str) -> bool:
    return bool(NOISE.match(line))


def verbose() -> bool:
    """Are third-party lines shown? (--verbose, set_verbose(True) or FACEALIGN_VERBOSE=1)"""
    return _state["verbose"]


def set_verbose(on: bool) -> None:
    """Show (True) or silence (False, the default) third-party lines from now on."""
    _state["verbose"] = bool(on)
    quiet_opencv()


def quiet_opencv() -> None:
    """Set OpenCV's own log level by verbose() (cheap, idempotent)."""
    import cv2

    if "cv2" not in _state:
        _state["cv2"] = cv2.getLogLevel()
    cv2.setLogLevel(_state["cv2"] if verbose() else CV_SILENT)


@contextmanager
def opening_video():
    """Around `cv2.VideoCapture(...)`: OpenCV's and FFmpeg's log levels by verbose(). A level the
    user set in OPENCV_FFMPEG_LOGLEVEL is left alone."""
    quiet_opencv()
    if verbose() or FFMPEG_LEVEL in os.environ:
        yield
        return
    with _env:
        os.environ[FFMPEG_LEVEL] = FFMPEG_QUIET
        try:
            yield
        finally:
            os.environ.pop(FFMPEG_LEVEL, None)


@contextmanager
def native_start():
    """Around the start of a C++ graph (MediaPipe): unless verbose(), fd 2 goes to a temporary file
    and afterwards every line of it that is not NOISE is written to stderr, in order. Keep the block
    to the start itself (build the graph and run it once) so that nothing else's output waits.
    Lines other threads write meanwhile are held and passed on too, never lost."""
    if verbose():
        yield
        return
    with _fd2:
        yield from _held_fd2()


def _held_fd2():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [ln for ln in held.read().splitlines(True) if not is_noise(ln.decode("utf-8", "replace"))]
            if kept:  # back to fd 2, where they were written (an outer native_start's file when nested)
                os.write(2, b"".join(kept))
