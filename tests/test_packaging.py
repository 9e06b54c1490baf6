"""What an install claims: a wheel built from the checkout holds the one top-level package
`facealign` (no `train`, no `demo`), with the shipped weights and the training configs inside;
install hints name the checkout, not a package index."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def checkout_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore) copied to `dest`: a build
    there sees no stale build/ folder and leaves nothing in the checkout."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    src, out = checkout_copy(tmp_path_factory.mktemp("src")), tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and "No module named pip" in done.stderr:
        pytest.skip("pip is not installed in this environment")
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("facealign-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


@pytest.mark.slow
def test_wheel_claims_only_facealign_with_weights_and_configs(wheel):
    names = wheel.namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"facealign"}, top
    onnx = [n for n in names if n.startswith("facealign/_weights/") and n.endswith(".onnx")]
    configs = [n for n in names if n.startswith("facealign/training/configs/") and n.endswith(".yaml")]
    assert {Path(n).name for n in onnx} >= {"accurate.onnx", "fast.onnx"}
    assert {Path(n).name for n in configs} == {p.name for p in (REPO / "train" / "configs").glob("*.yaml")}
    assert "facealign/training/engine.py" in names and "facealign/app/webcam.py" in names
    packages = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "facealign").rglob("__init__.py")}
    missing = sorted(p for p in packages if f"{p}/__init__.py" not in names)
    assert not missing, f"packages left out of the wheel (pyproject.toml's packages): {missing}"


def test_install_hints_name_the_checkout_not_an_index():
    """facealign is installed from its repository: `pip install ".[train]"`, never 'facealign[train]'."""
    from facealign.install import pip_hint

    assert pip_hint("train") == 'pip install ".[train]" in the facealign checkout'
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "facealign").rglob("*.py"))
                 if p.name != "install.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if "facealign[" in line]
    assert offenders == []
