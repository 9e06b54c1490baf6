"""GPU checks for the torch CUDA-graph and TensorRT paths: run on a machine with an NVIDIA GPU.

    python tools/gpu_check.py [--weights weights/accurate.pt] [--keep DIR]

Each check prints one line, PASS / FAIL / SKIP with what it measured or why it skipped;
the exit code is 1 when any check failed. Needs `pip install -e ".[dev,tensorrt]"` for
the TensorRT checks (they skip without `tensorrt`). What runs:

  torch-graphs        CUDA-graph FP16 runner vs float32 CPU on random crops, batches 1, 3, 16, 20
  torch-two-threads   two threads building graphed runners (capturing) at once, both correct
  trt-build           a .pt loaded with TensorRT (engines built into a fresh cache), parity vs CPU
  trt-export          `facealign export --format engine --cache-dir`, then the .engine loaded back
  trt-two-processes   two processes loading one .onnx into one empty cache: one build per stage
  trt-damaged-entry   a cached engine with flipped bytes is rebuilt on the next load
  auto-cpu            backend auto with device="cpu" on this GPU machine picks torch on the CPU
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAX_ERR_FP16 = 2e-2  # normalised outputs, FP16 vs float32
RESULTS: list[tuple[str, str, str]] = []


def check(name: str, needs_trt: bool = False):
    def wrap(fn):
        def run(*args):
            import torch

            if not torch.cuda.is_available():
                RESULTS.append((name, "SKIP", "PyTorch sees no CUDA GPU"))
            elif needs_trt and importlib.util.find_spec("tensorrt") is None:
                RESULTS.append((name, "SKIP", 'tensorrt not installed (pip install ".[tensorrt]")'))
            else:
                t = time.perf_counter()
                try:
                    detail = fn(*args)
                    RESULTS.append((name, "PASS", f"{detail} ({time.perf_counter() - t:.1f} s)"))
                except Exception as e:  # noqa: BLE001 - report and go on to the next check
                    traceback.print_exc()
                    RESULTS.append((name, "FAIL", f"{type(e).__name__}: {e}"))
        return run
    return wrap


def _inputs(size: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)


def _max_diff(model, ref, sizes=(1, 3, 16, 20)) -> float:
    worst = 0.0
    for k, spec in enumerate(model.stages):
        for n in sizes:
            x = _inputs(spec.input_size, n, seed=n)
            worst = max(worst, float(np.abs(model.runners[k](x) - ref.runners[k](x)).max()))
    return worst


@check("torch-graphs")
def torch_graphs(weights: Path) -> str:
    from facealign.backends import load_backend

    cpu, gpu = load_backend(weights, "torch", device="cpu"), load_backend(weights, "torch", device="cuda")
    err = _max_diff(gpu, cpu)
    assert err < MAX_ERR_FP16, f"max |fp16 graph - fp32 cpu| = {err:.2e}"
    return f"max diff {err:.2e}, buckets {sorted(gpu.runners[0].graphs)}"


@check("torch-two-threads")
def torch_two_threads(weights: Path) -> str:
    from facealign.backends import load_backend

    cpu, models, errors = load_backend(weights, "torch", device="cpu"), [], []

    def load():
        try:
            models.append(load_backend(weights, "torch", device="cuda"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    errs = [_max_diff(m, cpu, sizes=(2, 5)) for m in models]
    assert max(errs) < MAX_ERR_FP16, errs
    return f"2 runners captured concurrently, max diffs {', '.join(f'{e:.2e}' for e in errs)}"


@check("trt-build", needs_trt=True)
def trt_build(weights: Path, work: Path) -> str:
    from facealign.backends import load_backend

    cache = work / "cache-build"
    model = load_backend(weights, "tensorrt", cache_dir=cache)
    err = _max_diff(model, load_backend(weights, "torch", device="cpu"))
    entries = sorted(p.name for p in cache.glob("*.engine"))
    assert err < MAX_ERR_FP16 and len(entries) == len(model.stages), (err, entries)
    t = time.perf_counter()
    load_backend(weights, "tensorrt", cache_dir=cache)
    return f"max diff {err:.2e}; {len(entries)} engines cached; reload from cache {time.perf_counter() - t:.1f} s"


@check("trt-export", needs_trt=True)
def trt_export(weights: Path, work: Path) -> str:
    from facealign.backends import load_backend
    from facealign.cli import main
    from facealign.formats.engine_file import read_engine_file

    out = work / "model.engine"
    assert main(["export", str(weights), "--format", "engine", "-o", str(out),
                 "--cache-dir", str(work / "cache-export")]) == 0
    header, engines = read_engine_file(out)
    err = _max_diff(load_backend(out), load_backend(weights, "torch", device="cpu"))
    assert err < MAX_ERR_FP16, err
    return f"TensorRT {header['tensorrt']}, recipe {header['recipe']['precision']}, max diff {err:.2e}"


CHILD = """
import sys
from facealign.backends import load_backend
m = load_backend(sys.argv[1], "tensorrt", cache_dir=sys.argv[2])
print(len(m.runners))
"""


@check("trt-two-processes", needs_trt=True)
def trt_two_processes(weights: Path, work: Path) -> str:
    from facealign.export import export

    onnx_path = export(weights, "onnx", work / "two.onnx")
    cache = work / "cache-procs"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(onnx_path), str(cache)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-800:] for o in outs]
    entries, tmps = list(cache.glob("*.engine")), list(cache.glob("*.tmp"))
    n = int(outs[0][0].split()[-1])
    assert len(entries) == n and not tmps, (entries, tmps)
    return f"both processes loaded {n} stage(s); {len(entries)} cache entries, no temporary files"


@check("trt-damaged-entry", needs_trt=True)
def trt_damaged(weights: Path, work: Path) -> str:
    from facealign.backends import load_backend

    cache = work / "cache-build"  # filled by trt-build
    entries = sorted(cache.glob("*.engine"))
    assert entries, "trt-build left no cache entries"
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    model = load_backend(weights, "tensorrt", cache_dir=cache)
    err = _max_diff(model, load_backend(weights, "torch", device="cpu"), sizes=(2,))
    assert err < MAX_ERR_FP16, err
    from facealign.backends.engine_cache import unpack_entry

    assert unpack_entry(entries[0].read_bytes()) is not None, "the damaged entry was not rewritten"
    return f"damaged {entries[0].name} rebuilt; max diff {err:.2e}"


@check("auto-cpu")
def auto_cpu(weights: Path) -> str:
    from facealign.backends import backend_for, load_backend

    assert backend_for(weights, "auto", "cpu") == "torch"
    model = load_backend(weights, device="cpu")
    assert model.backend == "torch"
    return f"auto + device='cpu' -> {model.backend}; auto + device='cuda' -> {backend_for(weights, 'auto', 'cuda')}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", type=Path, default=ROOT / "weights" / "accurate.pt")
    p.add_argument("--keep", type=Path, default=None, help="keep the work files here (default: a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        torch_graphs(args.weights)
        torch_two_threads(args.weights)
        trt_build(args.weights, work)
        trt_export(args.weights, work)
        trt_two_processes(args.weights, work)
        trt_damaged(args.weights, work)
        auto_cpu(args.weights)
    for name, status, detail in RESULTS:
        print(f"{status:4}  {name:18}  {detail}")
    return int(any(status == "FAIL" for _, status, _ in RESULTS))


if __name__ == "__main__":
    sys.exit(main())
