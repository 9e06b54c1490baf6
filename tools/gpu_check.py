"""Every check that needs an NVIDIA GPU, in one script for a lent machine (issue 22).

    python tools/gpu_check.py [--data DIR] [--only NAME,...] [--steps N] [--keep DIR]
    python tools/gpu_check.py --pack-data DIR [--w300 ROOT] [--faces 32]   (here, where 300-W is)

Each check prints one line as it ends, `PASS|FAIL|SKIP name: figures` (SKIP with its reason);
the exit code is 1 when any check failed. It imports nothing from MediaPipe and needs no network:
torch (CUDA), numpy and OpenCV; onnx + onnxruntime for `onnx-fp16`; TensorRT for the trt-* checks
(they skip without it). Real-face figures come from a packed sample of 300-W test faces
(`--pack-data` writes one of a few MB into a git-ignored folder; carry it, then `--data DIR`);
without one the faces are synthetic drawings and the parity figures are reported without a bound.

  env              torch, CUDA, the GPU, which optional packages are here
  graph-fast, graph-accurate   CUDA-graph FP16 (torch backend) vs float32 on the CPU: frame-pixel
                   distance per point, p99 and max, each stage; buckets 1, 3, 16, 20 on crops
  capture-threads  two threads capturing graphs while a third replays (thread_local capture, one lock)
  speed-fast, speed-accurate   ms per frame at batch 1 and 8: crops on the CPU + graphed stages
  train-stage1, train-stage2   training images/s of accurate's stages on the device, bf16 +
                   channels_last against float32 (synthetic batches: the data loader is not timed)
  ddp-nccl         torchrun --nproc_per_node 1: a real NCCL process group, one DDP step, all-reduces
  nproc-too-many   more training processes than GPUs is a clear error before any launch
  onnx-fp16        the FP16-typed ONNX (what TensorRT 11 builds) of both presets on onnxruntime
  trt-build, trt-export, trt-two-processes, trt-damaged-entry   TensorRT engines and their cache
  auto-cpu         backend auto with device="cpu" on a GPU machine stays on the CPU
  no-mediapipe     nothing above imported mediapipe
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout
WEIGHTS = {p: ROOT / "weights" / f"{p}.pt" for p in ("fast", "accurate")}
BOUND_P99_PX, BOUND_MAX_PX = 1.0, 4.0  # FP16 vs float32, frame pixels, real faces (tests/test_fp16.py)
MAX_ERR_NORM = 3e-2  # FP16 vs float32, normalised outputs of the regression stages on real crops
S1 = ["model=resnet18", "width=0.5", "head=flatten", "input_size=128", "loss=wing"]  # accurate's stages
S2 = S1[:3] + ["stage=2", "input_size=160", "crop_scale=1.25", "loss=wing"]
FAILED: list[str] = []


def report(status: str, name: str, text: str) -> None:
    print(f"{status} {name}: {text}", flush=True)
    if status == "FAIL":
        FAILED.append(name)


def cuda_reason() -> str | None:
    """Why the GPU checks cannot run here, or None."""
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    import torch

    return None if torch.cuda.is_available() else "PyTorch sees no CUDA GPU"


def run_check(name: str, fn, *args, needs: tuple[str, ...] = ("cuda",)) -> None:
    """Run one check: SKIP with the reason when a need is missing, FAIL with the error, else PASS."""
    for need in needs:
        reason = cuda_reason() if need == "cuda" else (
            None if importlib.util.find_spec(need) else f"{need} is not installed" + (
                " (pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu13)" if need == "tensorrt" else ""))
        if reason:
            return report("SKIP", name, reason)
    t = time.perf_counter()
    try:
        figures = fn(*args)
    except Exception as e:  # noqa: BLE001 - report and go on to the next check
        traceback.print_exc()
        return report("FAIL", name, f"{type(e).__name__}: {e}")
    report("PASS", name, f"{figures} ({time.perf_counter() - t:.1f} s)")


# ----- faces -------------------------------------------------------------------------------------

def synthetic_faces(n: int = 16, side: int = 256, seed: int = 0):
    """n drawn faces (skin ellipse, eyes, brows, nose, mouth on a noisy background): (frames, pts)
    with pts the mean face placed where it was drawn. Only for when no real sample is given."""
    import cv2

    from facealign.pose import MODEL_3D

    rng = np.random.default_rng(seed)
    mean = MODEL_3D[:, :2] * np.array([1.0, -1.0])
    mean = (mean - mean.min(0)) / np.ptp(mean, 0).max()
    frames, pts = [], []
    for _ in range(n):
        img = rng.integers(40, 200, (side, side, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (0, 0), 6)
        size = rng.uniform(0.35, 0.5) * side
        p = (mean * size + rng.uniform(0.25, 0.4, 2) * side).astype(np.float32)
        c = p.mean(0)
        cv2.ellipse(img, tuple(int(v) for v in c), (int(size * 0.55), int(size * 0.7)), 0, 0, 360,
                    tuple(int(v) for v in rng.integers(120, 220, 3)), -1)
        for a, b in ((36, 42), (42, 48), (48, 60)):
            cv2.fillPoly(img, [p[a:b].round().astype(np.int32)], (40, 30, 30))
        for a, b in ((17, 22), (22, 27), (27, 31), (0, 17)):
            cv2.polylines(img, [p[a:b].round().astype(np.int32)], False, (50, 40, 40), 2)
        frames.append(img)
        pts.append(p)
    return frames, np.stack(pts)


def faces(data: Path | None):
    """(frames, point boxes (N, 4), where they came from): the packed sample when given, else drawings."""
    from facealign.data.sample import read_sample
    from facealign.transform import points_box

    if data is not None:
        frames, pts = read_sample(data)
        where = f"{len(frames)} real 300-W faces ({data})"
    else:
        frames, pts = synthetic_faces()
        where = f"{len(frames)} synthetic faces (no --data: figures only, no bound)"
    return frames, np.stack([points_box(p) for p in pts]), where


def distances(a: list[np.ndarray], b: list[np.ndarray]) -> list[tuple[float, float]]:
    """Per stage: (p99, max) of the per-point frame-pixel distances between two runs."""
    out = []
    for x, y in zip(a, b):
        d = np.linalg.norm(np.asarray(x) - np.asarray(y), axis=-1).ravel()
        out.append((float(np.percentile(d, 99)), float(d.max())))
    return out


def bounded(dists, real: bool) -> str:
    text = "; ".join(f"stage {k + 1} p99 {p:.3f} px, max {m:.3f} px" for k, (p, m) in enumerate(dists))
    p99, worst = dists[-1]
    if real and not (np.isfinite(worst) and p99 <= BOUND_P99_PX and worst <= BOUND_MAX_PX):
        raise AssertionError(f"{text} (bound p99 {BOUND_P99_PX}, max {BOUND_MAX_PX} px)")
    if not np.isfinite(worst):
        raise AssertionError(f"non-finite points: {text}")
    return text


# ----- inference ---------------------------------------------------------------------------------

def env() -> str:
    import torch

    have = {p: importlib.util.find_spec(p) is not None for p in ("onnx", "onnxruntime", "tensorrt", "yaml", "tqdm")}
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}), {torch.cuda.device_count()} x "
            f"{torch.cuda.get_device_name(0)}; " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in have.items()))


def graph_parity(preset: str, data: Path | None) -> str:
    from facealign.backends import load_backend
    from facealign.models.cascade import to_input

    frames, boxes, where = faces(data)
    cpu = load_backend(WEIGHTS[preset], "torch", device="cpu")
    gpu = load_backend(WEIGHTS[preset], "torch", device="cuda")
    text = bounded(distances(gpu(frames, boxes), cpu(frames, boxes)), data is not None)
    spec = cpu.stages[0]
    x = to_input([spec.transform(box_xyxy=b).warp(f) for b, f in zip(boxes, frames)])
    x = np.concatenate([x, x])[:20]
    buckets = max(float(np.abs(gpu.runners[0](x[:n])[0] - cpu.runners[0](x[:n])[0]).max()) for n in (1, 3, 16, 20))
    return f"{where}: {text}; stage 1 outputs at batches 1/3/16/20: max |fp16 - fp32| {buckets:.1e}"


def capture_threads(data: Path | None) -> str:
    from facealign.backends import load_backend

    frames, boxes, _ = faces(data)
    first = load_backend(WEIGHTS["fast"], "torch", device="cuda")
    want = first(frames[:4], boxes[:4])
    stop, errors, models, replays = threading.Event(), [], [], [0]

    def replay():
        while not stop.is_set():
            got = first(frames[:4], boxes[:4])
            if np.abs(got[-1] - want[-1]).max() > 1e-3:
                errors.append("a replay during the captures changed its answer")
            replays[0] += 1

    def capture(preset):
        try:
            models.append(load_backend(WEIGHTS[preset], "torch", device="cuda"))
        except Exception as e:  # noqa: BLE001
            errors.append(f"{preset}: {type(e).__name__}: {e}")

    busy = threading.Thread(target=replay)
    busy.start()
    threads = [threading.Thread(target=capture, args=(p,)) for p in ("fast", "accurate")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    busy.join()
    assert not errors, errors
    return f"2 loaders captured {sum(len(r.graphs) for m in models for r in m.runners)} graphs while {replays[0]} replays ran"


def speed(preset: str, data: Path | None, runs: int = 30) -> str:
    import torch

    from facealign.backends import load_backend

    frames, boxes, _ = faces(data)
    model = load_backend(WEIGHTS[preset], "torch", device="cuda")
    parts = []
    for b in (1, 8):
        f, bx = (frames * 8)[:b], np.concatenate([boxes] * 8)[:b]
        for _ in range(3):
            model(f, bx)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(f, bx)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        ms = 1000 * float(np.median(times))
        parts.append(f"batch {b}: {ms:.2f} ms ({ms / b:.2f} ms/face)")
    return f"{preset}, {torch.cuda.get_device_name(0)}, median of {runs}: " + "; ".join(parts)


def onnx_fp16(data: Path | None) -> str:
    from facealign.backends import load_backend
    from facealign.export import export

    frames, boxes, where = faces(data)
    frames, boxes, where = frames[:16], boxes[:16], where.replace(f"{len(frames)} ", f"{min(16, len(frames))} ", 1)
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, pt in WEIGHTS.items():
            f32 = export(pt, "onnx", Path(tmp) / f"{preset}.onnx", preset=preset)
            f16 = export(pt, "onnx", Path(tmp) / f"{preset}.fp16.onnx", preset=preset, fp16=True)
            d = distances(load_backend(f16)(frames, boxes), load_backend(f32)(frames, boxes))
            parts.append(f"{preset}: {bounded(d, data is not None)}")
    return f"{where}, full onnx.checker passed, onnxruntime CPU: " + " | ".join(parts)


def auto_cpu() -> str:
    from facealign.backends import backend_for, load_backend

    model = load_backend(WEIGHTS["accurate"], device="cpu")
    assert model.backend == "torch", model.backend
    return f"auto + device='cpu' -> {model.backend}; auto + device='cuda' -> {backend_for(WEIGHTS['accurate'], 'auto', 'cuda')}"


# ----- training ----------------------------------------------------------------------------------

def train_setup(stage: int, amp: str, channels_last: bool, batch: int = 32, ddp: bool = False, device: str = "cuda"):
    """(Step, inputs, one synthetic batch) of accurate's stage 1 or 2 on the GPU (training/synthetic.py)."""
    from facealign.training.config import load_config
    from facealign.training.synthetic import synthetic_setup

    extra = [f"amp={amp}", f"channels_last={str(channels_last).lower()}", f"device={device}", f"batch_size={batch}"]
    cfg = load_config(None, (S1 if stage == 1 else S2 + [f"stage1={WEIGHTS['accurate']}"]) + extra)
    return synthetic_setup(cfg, ddp=ddp)


def images_per_s(stage: int, amp: str, channels_last: bool, steps: int) -> float:
    import torch

    step, inputs, batch = train_setup(stage, amp, channels_last)
    for _ in range(5):
        step(*inputs(batch))
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        loss = step(*inputs(batch))
    assert torch.isfinite(loss), f"loss {loss}"
    return steps * len(batch["image"]) / (time.perf_counter() - t)


def train_speed(stage: int, steps: int) -> str:
    fast = images_per_s(stage, "bf16", True, steps)
    base = images_per_s(stage, "off", False, steps)
    what = "stage 1 (128 px)" if stage == 1 else "stage 2 (160 px, through the frozen stage 1)"
    return (f"accurate {what}, batch 32, {steps} steps: bf16 + channels_last {fast:.0f} images/s, "
            f"float32 {base:.0f} images/s (x{fast / base:.2f})")


def ddp_child(device: str) -> int:
    """Run by torchrun: one real DDP step over the process group (NCCL on "cuda", gloo on "cpu"),
    then all-reduces as the loop and the bench make them; prints what it saw as JSON."""
    import torch

    from facealign.training import distributed

    ranks = distributed.from_env()
    dev = torch.device("cuda", ranks.local_rank) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(dev)
    distributed.init(ranks, dev)
    step, inputs, batch = train_setup(1, "bf16", True, batch=16 if device == "cuda" else 2, ddp=ranks.distributed,
                                      device=device)
    loss = step(*inputs(batch))
    on_device = distributed.sum_over_ranks(torch.stack([loss.double(), loss.new_ones((), dtype=torch.float64)]), ranks)
    on_cpu = distributed.sum_over_ranks(torch.tensor([3.0, 4.0], dtype=torch.float64), ranks)  # moved for NCCL
    print(json.dumps({"backend": distributed.backend(), "world": ranks.world, "net": type(step.net).__name__,
                      "loss": on_device[0].item(), "device": str(on_device.device), "cpu_sum": on_cpu.tolist()}))
    distributed.shutdown()
    return 0


def ddp_nccl() -> str:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", __file__,
           "--ddp-child", "cuda"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-1500:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert r["backend"] == "nccl" and r["net"] == "DistributedDataParallel" and r["cpu_sum"] == [3.0, 4.0], r
    return f"world {r['world']}, backend {r['backend']}, {r['net']}, loss {r['loss']:.4f}, all-reduce on {r['device']}"


def nproc_too_many() -> str:
    import torch

    from facealign.training.devices import DeviceError, resolve_device

    n = torch.cuda.device_count() + 1
    try:
        resolve_device("cuda", 0, n, n)
    except DeviceError as e:
        return f"--nproc {n}: {e}"
    raise AssertionError(f"--nproc {n} with {n - 1} GPU(s) was accepted")


# ----- TensorRT ----------------------------------------------------------------------------------

def trt_build(work: Path, data: Path | None) -> str:
    from facealign.backends import load_backend

    frames, boxes, _ = faces(data)
    parts = []
    for preset, pt in WEIGHTS.items():
        cache = work / f"cache-{preset}"
        model = load_backend(pt, "tensorrt", cache_dir=cache)
        d = distances(model(frames, boxes), load_backend(pt, "torch", device="cpu")(frames, boxes))
        entries = sorted(cache.glob("*.engine"))
        assert len(entries) == len(model.stages), entries
        parts.append(f"{preset}: {bounded(d, data is not None)}")
    return " | ".join(parts)


def trt_export(work: Path) -> str:
    from facealign.cli import main
    from facealign.formats.engine_file import read_engine_file

    out = work / "fast.engine"
    assert main(["export", str(WEIGHTS["fast"]), "--format", "engine", "-o", str(out),
                 "--cache-dir", str(work / "cache-export")]) == 0
    header, engines = read_engine_file(out)
    return f"TensorRT {header['tensorrt']}, recipe {header['recipe']['precision']}, {len(engines)} engines"


CHILD = "import sys; from facealign.backends import load_backend; print(len(load_backend(sys.argv[1], 'tensorrt', cache_dir=sys.argv[2]).runners))"


def trt_two_processes(work: Path) -> str:
    from facealign.export import export

    onnx_path, cache = export(WEIGHTS["fast"], "onnx", work / "two.onnx"), work / "cache-procs"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(onnx_path), str(cache)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for _ in range(2)]
    outs = [p.communicate(timeout=500) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-800:] for o in outs]
    entries, tmps = list(cache.glob("*.engine")), list(cache.glob("*.tmp"))
    assert len(entries) == int(outs[0][0].split()[-1]) and not tmps, (entries, tmps)
    return f"two processes, one cache: {len(entries)} entries, no temporary files"


def trt_damaged(work: Path) -> str:
    from facealign.backends import load_backend
    from facealign.backends.engine_cache import unpack_entry

    entries = sorted((work / "cache-fast").glob("*.engine"))
    assert entries, "trt-build left no cache entries"
    data = bytearray(entries[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    entries[0].write_bytes(bytes(data))
    load_backend(WEIGHTS["fast"], "tensorrt", cache_dir=work / "cache-fast")
    assert unpack_entry(entries[0].read_bytes()) is not None, "the damaged entry was not rewritten"
    return f"damaged {entries[0].name} rebuilt"


# ----- main --------------------------------------------------------------------------------------

def checks(args, work: Path) -> list:
    """(name, function, arguments, needs) in the order they run."""
    data, steps = args.data, args.steps
    return [("env", env, (), ("cuda",)),
            ("graph-fast", graph_parity, ("fast", data), ("cuda",)),
            ("graph-accurate", graph_parity, ("accurate", data), ("cuda",)),
            ("capture-threads", capture_threads, (data,), ("cuda",)),
            ("speed-fast", speed, ("fast", data), ("cuda",)),
            ("speed-accurate", speed, ("accurate", data), ("cuda",)),
            ("train-stage1", train_speed, (1, steps), ("cuda",)),
            ("train-stage2", train_speed, (2, steps), ("cuda",)),
            ("ddp-nccl", ddp_nccl, (), ("cuda",)),
            ("nproc-too-many", nproc_too_many, (), ("cuda",)),
            ("onnx-fp16", onnx_fp16, (data,), ("torch", "onnx", "onnxruntime")),
            ("trt-build", trt_build, (work, data), ("cuda", "tensorrt")),
            ("trt-export", trt_export, (work,), ("cuda", "tensorrt")),
            ("trt-two-processes", trt_two_processes, (work,), ("cuda", "tensorrt")),
            ("trt-damaged-entry", trt_damaged, (work,), ("cuda", "tensorrt")),
            ("auto-cpu", auto_cpu, (), ("cuda",))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, help="a packed sample of real faces (made with --pack-data)")
    p.add_argument("--only", help="comma-separated check names to run (default: all)")
    p.add_argument("--steps", type=int, default=40, help="timed training steps per setting (default 40)")
    p.add_argument("--keep", type=Path, help="keep the work files (engines, exports) here")
    p.add_argument("--pack-data", type=Path, metavar="DIR", help="write a sample of 300-W test faces to DIR and exit")
    p.add_argument("--w300", help="with --pack-data: the 300-W root (default: $FACEALIGN_DATA or ../shared/data/300w)")
    p.add_argument("--faces", type=int, default=32, help="with --pack-data: how many faces (default 32)")
    p.add_argument("--ddp-child", choices=("cuda", "cpu"), help=argparse.SUPPRESS)  # under torchrun (ddp-nccl)
    args = p.parse_args(argv)
    if args.ddp_child:
        return ddp_child(args.ddp_child)
    if args.pack_data:
        from facealign.data.sample import pack_sample

        path = pack_sample(args.pack_data, args.faces, args.w300)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {args.faces} faces): never commit it")
        return 0
    only = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name, fn, fn_args, needs in checks(args, work):
            if only is None or name in only:
                run_check(name, fn, *fn_args, needs=needs)
    if "mediapipe" in sys.modules:
        report("FAIL", "no-mediapipe", "mediapipe was imported")
    else:
        report("PASS", "no-mediapipe", "mediapipe never imported")
    return int(bool(FAILED))


if __name__ == "__main__":
    sys.exit(main())
