"""Atomic file writes (bytes, and JSON: `write_json`): a unique temporary file beside the target, flushed,
then renamed over it.

Readers see either the old file or the whole new one, never a half-written file, and two
writers of the same path (threads or processes) never share a temporary file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes, mode: int = 0o644) -> Path:
    """Write `data` to `path` atomically (creating its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private; weights and caches are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj, indent: int | None = 1) -> Path:
    """Write `obj` as JSON to `path` atomically (mode 0644, its folder created), with a trailing newline;
    indent=None writes it on one line (large per-frame records). Returns the path."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=indent) + "\n").encode("utf-8"))
