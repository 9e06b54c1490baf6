"""The on-disk cache of built TensorRT engines: keys, entries, locking (pure Python, no GPU needed).

An engine build takes a minute, so each one is kept in a cache folder
(~/.cache/facealign/engines by default) under a key made of the GPU name, the
TensorRT version, the build recipe (precision mode, batch profile, workspace) and
the sha256 of the stage's ONNX bytes. Several threads or processes may want the
same engine at once (the web page serves two requests at a time): the first takes
a file lock and builds, the others wait on the lock and then find the entry (the
cache is checked again after the lock). Entries are written through a unique
temporary file and a rename, and carry the sha256 of the engine: a damaged entry
is logged and rebuilt, and `invalidate` drops one that TensorRT refused to load.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..formats.atomic import atomic_write_bytes
from ..formats.hashing import sha256_bytes

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("~/.cache/facealign/engines")
ENTRY_MAGIC = b"FAECACHE"
PRECISIONS = ("fp16-flag", "fp16-typed", "fp32")


@dataclass(frozen=True)
class BuildRecipe:
    """How an engine is built. precision: "fp16-flag" (TensorRT 10: float32 graph + the FP16
    builder flag), "fp16-typed" (a float16-typed graph, strongly typed: TensorRT 11) or "fp32"."""

    precision: str = "fp16-flag"
    profile: tuple[int, int, int] = (1, 4, 16)  # min, opt, max batch
    workspace: int = 1 << 30  # bytes

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        lo, opt, hi = self.profile
        if not 1 <= lo <= opt <= hi:
            raise ValueError(f"batch profile must be 1 <= min <= opt <= max, got {self.profile}")

    def as_dict(self) -> dict:
        return {**asdict(self), "profile": list(self.profile)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def engine_key(onnx_bytes: bytes, recipe: BuildRecipe, gpu: str, trt_version: str) -> str:
    """Cache file name: GPU name, TensorRT version, recipe hash, model hash."""
    recipe_hash = sha256_bytes(json.dumps(recipe.as_dict(), sort_keys=True).encode())[:12]
    return f"{_slug(gpu)}_trt{_slug(trt_version)}_{recipe_hash}_{sha256_bytes(onnx_bytes)[:24]}.engine"


def pack_entry(engine: bytes) -> bytes:
    return ENTRY_MAGIC + hashlib.sha256(engine).digest() + engine


def unpack_entry(data: bytes) -> bytes | None:
    """The engine of a cache entry, or None when the entry is damaged."""
    head = len(ENTRY_MAGIC) + 32
    if len(data) <= head or data[:len(ENTRY_MAGIC)] != ENTRY_MAGIC:
        return None
    engine = data[head:]
    return engine if hashlib.sha256(engine).digest() == data[len(ENTRY_MAGIC):head] else None


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive lock on `path` (created if needed) across threads and processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # per open file: threads with their own open() exclude too
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class EngineCache:
    """A folder of cached engines, each entry `<key>` beside its lock file `<key>.lock`."""

    def __init__(self, root=None):
        self.root = Path(root or DEFAULT_CACHE).expanduser()

    def path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes | None:
        """The cached engine, or None when absent or damaged (a damaged entry is logged)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        engine = unpack_entry(data)
        if engine is None:
            log.warning("cached engine %s is damaged (%d bytes); rebuilding it", path, len(data))
        return engine

    def get_or_build(self, key: str, build: Callable[[], bytes]) -> bytes:
        """The cached engine of `key`, else `build()` once (under the lock) and cache it."""
        engine = self.read(key)
        if engine is not None:
            return engine
        with file_lock(self.path(key + ".lock")):
            engine = self.read(key)  # another thread or process may have built it while we waited
            if engine is not None:
                return engine
            log.info("building %s (once; later loads read the cache)", self.path(key))
            engine = bytes(build())
            if not engine:
                raise RuntimeError(f"the engine build for {key} returned nothing")
            atomic_write_bytes(self.path(key), pack_entry(engine))
            return engine

    def invalidate(self, key: str) -> None:
        """Drop an entry (e.g. one TensorRT could not deserialize) so the next get rebuilds it."""
        with file_lock(self.path(key + ".lock")):
            with contextlib.suppress(FileNotFoundError):
                self.path(key).unlink()
