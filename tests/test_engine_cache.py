"""The TensorRT engine cache without a GPU: keys, locking across threads and processes, damaged entries.

The builders here are real functions run by the cache (they sleep to make the builds overlap and
record each call in a file); what is under test is the cache's own logic, which TensorRT builds use.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from facealign.backends.engine_cache import BuildRecipe, EngineCache, engine_key, pack_entry, unpack_entry

ROOT = Path(__file__).resolve().parents[1]
ONNX = b"stage one onnx bytes"


def counting_builder(log: Path, payload: bytes, delay: float = 0.3):
    """A builder that takes `delay` seconds, appends a line to `log` per call, returns `payload`."""
    def build() -> bytes:
        time.sleep(delay)
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {threading.get_ident()}\n")
        return payload
    return build


def calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_key_covers_gpu_tensorrt_recipe_and_model():
    base = engine_key(ONNX, BuildRecipe(), "NVIDIA H100 80GB HBM3", "10.16.0")
    assert base == engine_key(ONNX, BuildRecipe(), "NVIDIA H100 80GB HBM3", "10.16.0")
    others = [engine_key(ONNX + b"!", BuildRecipe(), "NVIDIA H100 80GB HBM3", "10.16.0"),
              engine_key(ONNX, BuildRecipe(), "NVIDIA L4", "10.16.0"),
              engine_key(ONNX, BuildRecipe(), "NVIDIA H100 80GB HBM3", "11.1.0"),
              engine_key(ONNX, BuildRecipe(precision="fp16-typed"), "NVIDIA H100 80GB HBM3", "10.16.0"),
              engine_key(ONNX, BuildRecipe(profile=(1, 8, 32)), "NVIDIA H100 80GB HBM3", "10.16.0"),
              engine_key(ONNX, BuildRecipe(workspace=1 << 28), "NVIDIA H100 80GB HBM3", "10.16.0")]
    assert len({base, *others}) == 7
    assert base.endswith(".engine") and "/" not in base and " " not in base
    assert base.startswith("NVIDIA-H100-80GB-HBM3_trt10.16.0_")


def test_recipe_is_checked():
    with pytest.raises(ValueError, match="unknown precision 'int8'; choose from fp16-flag, fp16-typed, fp32"):
        BuildRecipe(precision="int8")
    with pytest.raises(ValueError, match="batch profile"):
        BuildRecipe(profile=(4, 2, 16))


def test_entries_carry_their_hash():
    assert unpack_entry(pack_entry(b"engine")) == b"engine"
    damaged = bytearray(pack_entry(b"engine"))
    damaged[-1] ^= 1
    assert unpack_entry(bytes(damaged)) is None
    assert unpack_entry(b"short") is None and unpack_entry(pack_entry(b"engine")[:-3]) is None


def test_threads_wanting_one_engine_build_it_once(tmp_path):
    cache, log, key = EngineCache(tmp_path / "cache"), tmp_path / "calls.log", engine_key(ONNX, BuildRecipe(), "g", "10")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build(key, counting_builder(log, b"E" * 1000))))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls(log) == 1 and results == [b"E" * 1000] * 6
    assert sorted(p.name for p in cache.root.iterdir()) == sorted([key, key + ".lock"])  # no temporary file left
    assert cache.get_or_build(key, counting_builder(log, b"other")) == b"E" * 1000 and calls(log) == 1


CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from facealign.backends.engine_cache import EngineCache
from test_engine_cache import counting_builder
engine = EngineCache({cache!r}).get_or_build({key!r}, counting_builder(Path({log!r}), b"P" * 5000, 1.0))
print(len(engine), engine[:1].decode())
"""


def test_two_processes_filling_one_cache_build_once(tmp_path):
    key, log = engine_key(ONNX, BuildRecipe(), "g", "10"), tmp_path / "calls.log"
    code = CHILD.format(root=str(ROOT), cache=str(tmp_path / "cache"), key=key, log=str(log))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    assert [o[0].strip() for o in outs] == ["5000 P", "5000 P"]
    assert calls(log) == 1  # one process built, the other waited on the lock and read the entry
    assert EngineCache(tmp_path / "cache").read(key) == b"P" * 5000


def test_a_damaged_entry_is_rebuilt(tmp_path, caplog):
    cache, log, key = EngineCache(tmp_path), tmp_path / "calls.log", "k.engine"
    assert cache.get_or_build(key, counting_builder(log, b"good engine", 0)) == b"good engine"
    data = bytearray(cache.path(key).read_bytes())
    data[-2] ^= 0xFF  # a flipped bit
    cache.path(key).write_bytes(bytes(data))
    assert cache.read(key) is None and "damaged" in caplog.text
    assert cache.get_or_build(key, counting_builder(log, b"good engine", 0)) == b"good engine"
    cache.path(key).write_bytes(cache.path(key).read_bytes()[:20])  # a truncated one
    assert cache.get_or_build(key, counting_builder(log, b"good engine", 0)) == b"good engine"
    assert calls(log) == 3 and cache.read(key) == b"good engine"


def test_invalidate_and_a_failed_build_leave_no_entry(tmp_path):
    cache, log, key = EngineCache(tmp_path), tmp_path / "calls.log", "k.engine"
    cache.get_or_build(key, counting_builder(log, b"engine", 0))
    cache.invalidate(key)
    assert cache.read(key) is None

    def failing() -> bytes:
        raise RuntimeError("TensorRT failed to build")

    with pytest.raises(RuntimeError, match="failed to build"):
        cache.get_or_build(key, failing)
    assert not cache.path(key).exists() and not list(tmp_path.glob("*.tmp"))
    assert cache.get_or_build(key, counting_builder(log, b"engine", 0)) == b"engine" and calls(log) == 2
