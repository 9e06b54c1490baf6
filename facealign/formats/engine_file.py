"""The `.engine` file: serialized TensorRT engines of every stage in one container (pure Python).

Layout (all integers little-endian):

    8 bytes   magic b"FAENGINE"
    4 bytes   uint32 H: length of the header
    H bytes   header, UTF-8 JSON: {"format": "facealign-tensorrt-cascade", "version": 2,
              "stages": [StageSpec dicts], "meta": {...}, "inputs": [...], "outputs": [...],
              "scores": [per stage, its scores output's name or null] (version 2 on),
              "engine_sizes": [bytes per stage], "tensorrt": "10.x", "gpu": "NVIDIA H100 ...",
              "recipe": {build recipe}}
    then      the serialized engines of stage 1, 2, ... back to back (sizes from the header)

An engine runs only with the TensorRT version (and, as a rule, the GPU model) it was built
with; rebuild with `facealign export WEIGHTS --format engine` when either changes.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from .atomic import atomic_write_bytes

MAGIC = b"FAENGINE"
FORMAT = "facealign-tensorrt-cascade"
FORMAT_VERSION = 2  # 2: "scores" (engines with a stage{i}_scores output); version 1 files still read
SUFFIX = ".engine"


def pack_engine_file(header: dict, engines: list[bytes]) -> bytes:
    """The container's bytes (the header gains format, version and engine_sizes)."""
    header = {**header, "format": FORMAT, "version": FORMAT_VERSION, "engine_sizes": [len(e) for e in engines]}
    blob = json.dumps(header).encode("utf-8")
    return b"".join([MAGIC, struct.pack("<I", len(blob)), blob, *engines])


def write_engine_file(path, header: dict, engines: list[bytes]) -> Path:
    """Write the container atomically."""
    return atomic_write_bytes(path, pack_engine_file(header, engines))


def unpack_engine_file(data: bytes, where: str = "engine file") -> tuple[dict, list[bytes]]:
    """Container bytes -> (header, engines); ValueError naming `where` for anything else."""
    if data[:8] != MAGIC or len(data) < 12:
        raise ValueError(f"{where}: not a facealign engine file (write one with "
                         "`facealign export WEIGHTS --format engine`)")
    (n,) = struct.unpack("<I", data[8:12])
    try:
        header = json.loads(data[12:12 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: damaged engine header ({e})") from None
    if header.get("format") != FORMAT or header.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{where}: unsupported engine file format {header.get('format')!r} "
                         f"version {header.get('version')}")
    engines, pos = [], 12 + n
    for size in header.get("engine_sizes", []):
        engines.append(data[pos:pos + size])
        pos += size
    if pos != len(data) or not engines or any(len(e) == 0 for e in engines):
        raise ValueError(f"{where}: truncated or padded engine file ({len(data)} bytes, expected {pos})")
    return header, engines


def read_engine_file(path) -> tuple[dict, list[bytes]]:
    """-> (header dict, serialized engines). ValueError for anything that is not such a file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such engine file")
    return unpack_engine_file(path.read_bytes(), str(path))
