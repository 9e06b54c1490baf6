"""`python -m facealign.training.throughput [--steps N] [--json OUT] [--markdown OUT]`: which CPU settings train fastest.

Runs `python -m train CONFIG ... --bench N` once per (workload, variant), one after
another in fresh processes (nothing else should run meanwhile), and tables images/s
with each variant's ratio to the workload's float32 baseline timed in the same run.
Workloads: the study's raw ResNet-18 and ResNet-50 at its grid's 64 px (batch 32 and 4)
and the accurate preset's PIP stage 1 (half-width ResNet-18, 128 px).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from facealign.formats.atomic import write_json

WORKLOADS = {
    "R18 64px b32": ["raw_CNN_noAug_MSE", "input_size=64", "batch_size=32", "optimizer=sgd", "lr=0.3", "loss_units=unit"],
    "R18 64px b4": ["raw_CNN_noAug_MSE", "input_size=64", "batch_size=4", "optimizer=sgd", "lr=0.3", "loss_units=unit"],
    "R50 64px b32": ["raw_CNN_noAug_MSE", "model=resnet50", "input_size=64", "batch_size=32", "optimizer=sgd",
                     "lr=0.3", "loss_units=unit"],
    "accurate PIP s1 128px b32": ["Cas_Stage1_PIP_Aug_Wing"],
}
# name -> overrides; the first is every workload's baseline (float32, 2 workers, the cores' threads)
VARIANTS = {
    "fp32": ["amp=off"],
    "bf16": ["amp=bf16"],
    "channels_last": ["amp=off", "channels_last=true"],
    "bf16 + channels_last": ["amp=bf16", "channels_last=true"],
    "compile": ["amp=off", "compile=true"],
    "bf16 + compile": ["amp=bf16", "compile=true"],
    "1 thread": ["amp=off", "threads=1"],
    "no workers (faces in memory, in the loop)": ["amp=off", "workers=0"],
}
SHORT_WORKLOADS = ("R18 64px b4",)  # (batch 4: fewer variants, the grid's smallest batches)
SHORT_VARIANTS = ("fp32", "bf16", "channels_last", "compile")


def measure(workload: list[str], variant: list[str], steps: int, data: str | None) -> dict:
    """One `--bench` in its own process -> its result dict."""
    out = Path(".throughput.tmp.json")
    cmd = [sys.executable, "-m", "facealign.training", *workload, *variant, "max_train=256", "--bench", str(steps),
           "--bench-json", str(out)] + (["--data", data] if data else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    result = json.loads(out.read_text())
    out.unlink()
    return result


def markdown(rows: list[dict]) -> str:
    lines = ["| workload | variant | images/s | x fp32 | data wait | ms a step |", "| --- | --- | --- | --- | --- | --- |"]
    base = {r["workload"]: r["images_per_s"] for r in rows if r["variant"] == "fp32" and "images_per_s" in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['variant']} | failed: {r['error']} | | | |")
            continue
        ratio = r["images_per_s"] / base[r["workload"]] if r["workload"] in base else float("nan")
        lines.append(f"| {r['workload']} | {r['variant']} | {r['images_per_s']:.1f} | {ratio:.2f} | "
                     f"{100 * r['data_wait_share']:.1f} % | {r['step_ms']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m facealign.training.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=24, help="timed steps per measurement (default: %(default)s)")
    p.add_argument("--json", help="write every measurement here")
    p.add_argument("--markdown", help="write the table here")
    p.add_argument("--data", help="300-W root")
    args = p.parse_args(argv)
    rows = []
    for wname, workload in WORKLOADS.items():
        for vname, variant in VARIANTS.items():
            if wname in SHORT_WORKLOADS and vname not in SHORT_VARIANTS:
                continue
            r = {"workload": wname, "variant": vname, "overrides": workload + variant,
                 **measure(workload, variant, args.steps, args.data)}
            rows.append(r)
            print(f"{wname:28s} {vname:44s} " + (f"{r['images_per_s']:7.1f} images/s" if "images_per_s" in r
                                                  else f"failed: {r['error']}"), flush=True)
    table = markdown(rows)
    print(table)
    for out in (args.json, args.markdown):
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    if args.json:
        write_json(args.json, {"steps": args.steps, "rows": rows}, indent=1)
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
