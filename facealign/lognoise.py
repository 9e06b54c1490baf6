"""Third-party log noise on stderr, hidden from CLI users unless they pass --verbose.

TFLite (inside MediaPipe) writes "INFO: Created TensorFlow Lite XNNPACK delegate" and absl
"W0000 ..." lines, and FFmpeg inside OpenCV "[mov,mp4,... @ 0x...] moov atom not found",
straight to file descriptor 2 from C++, where Python's logging cannot reach them. While a
`StderrFilter` is installed, fd 2 is a pipe read by a thread that drops lines matching
NOISE and passes every other line through unchanged, in order.
"""
from __future__ import annotations

import os
import re
import sys
import threading

NOISE = re.compile(
    r"^(INFO: Created TensorFlow Lite"  # TFLite delegate
    r"|WARNING: All log messages before absl::InitializeLog"  # absl, before its logging starts
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\]"  # absl/glog lines from C++
    r"|\[[\w,]+ @ 0x[0-9a-f]+\] )")  # FFmpeg's per-demuxer lines ("moov atom not found")

QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}


def is_noise(line: str) -> bool:
    return bool(NOISE.match(line))


class StderrFilter:
    """with StderrFilter(): ... -- fd 2 filtered (see the module docstring) inside the block."""

    def __init__(self, keep=None):
        self.keep = keep or (lambda line: not is_noise(line))
        self._saved: int | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def __enter__(self) -> "StderrFilter":
        for k, v in QUIET_ENV.items():
            os.environ.setdefault(k, v)
        sys.stderr.flush()
        self._saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), daemon=True, name="stderr-filter")
        self._thread.start()
        return self

    def _pump(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                if self.keep(raw.decode("utf-8", "replace")):
                    os.write(self._saved, raw)
                else:
                    self.dropped += 1

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's write end: the pump reads to its end
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():  # else a child process still holds the pipe: leave the fd
            os.close(self._saved)
