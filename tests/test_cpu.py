"""The CPU's name and vector instructions (facealign/cpu.py), read from cpuinfo files as Linux writes them."""
from pathlib import Path

from facealign.cpu import cpu_info, describe, has_vnni

ZEN2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx sse4a avx2 bmi2

processor\t: 1
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx sse4a avx2 bmi2
"""
SAPPHIRE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu avx2 avx512f avx512dq avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8
"""


def test_a_cpu_without_vnni_is_named_with_what_it_lacks(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(ZEN2)
    info = cpu_info(f)
    assert info == {"model": "AMD EPYC", "features": ["AVX2"]}
    assert has_vnni(info) is False
    assert describe(info).startswith("AMD EPYC; AVX2, no VNNI") and "docs/speed.md section 14" in describe(info)


def test_a_cpu_with_vnni_lists_it_and_no_warning(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(SAPPHIRE)
    info = cpu_info(f)
    assert info["features"] == ["AVX2", "AVX-512", "AVX-512 VNNI", "AVX-512 BF16", "AMX"]
    assert has_vnni(info) is True and "no VNNI" not in describe(info)


def test_no_cpuinfo_file_gives_a_name_and_unknown_instructions(tmp_path):
    info = cpu_info(tmp_path / "missing")
    assert info["features"] is None and has_vnni(info) is None and info["model"]
    assert describe(info).endswith("its vector instructions unknown")


def test_this_machines_cpu_is_read():
    info = cpu_info()
    assert info["model"]
    if Path("/proc/cpuinfo").is_file():
        assert info["features"] is not None
