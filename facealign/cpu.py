"""The CPU the networks run on: its name and the vector instructions that decide how fast they run.

    from facealign.cpu import cpu_info, describe
    print(describe(cpu_info()))   # "AMD EPYC; AVX2, no VNNI (the int8 files gain less without it: ...)"

The int8 files lean on VNNI (AVX-512 VNNI or AVX-VNNI): on a CPU without it they run 3-5x slower against
FaceMesh than on one with it (docs/speed.md section 14), so `facealign bench` prints this beside its
figures. Read from /proc/cpuinfo (Linux); elsewhere the name comes from `platform` and the
instructions are unknown.
"""
from __future__ import annotations

import platform
from pathlib import Path

# /proc/cpuinfo flag -> how it is named, in the order they are listed
FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
         "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX"}


def cpu_info(path: str | Path = "/proc/cpuinfo") -> dict:
    """{"model": the CPU's name, "features": the FLAGS it has (their names) or None where unknown}."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return {"model": platform.processor() or platform.machine() or "unknown", "features": None}
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:  # the first processor's
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    model = fields.get("model name") or platform.processor() or platform.machine() or "unknown"
    return {"model": model, "features": [name for flag, name in FLAGS.items() if flag in flags]}


def has_vnni(info: dict) -> bool | None:
    """Whether the CPU has VNNI (int8 dot products), None when unknown."""
    if info["features"] is None:
        return None
    return bool({"AVX-512 VNNI", "AVX-VNNI"} & set(info["features"]))


def describe(info: dict) -> str:
    """One line: the name, the instructions, and what a CPU without VNNI means for the int8 files."""
    if info["features"] is None:
        return f"{info['model']}; its vector instructions unknown"
    found = ", ".join(info["features"]) or "no AVX2"
    if has_vnni(info):
        return f"{info['model']}; {found}"
    return (f"{info['model']}; {found}, no VNNI (the int8 files gain less without it: docs/speed.md "
            f"section 14)")
