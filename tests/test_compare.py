"""`facealign compare dlib` on real 300-W faces (dlib-bin + face-recognition-models from the dev extra)."""
import json
from pathlib import Path

import pytest

from facealign.cli import main as cli

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"


def test_compare_with_dlib_on_the_same_faces(tmp_path, capsys):
    pytest.importorskip("dlib", reason='dlib-bin is not installed (pip install ".[dlib]")')
    out = tmp_path / "cmp.json"
    assert cli(["compare", "dlib", "--data", str(DATA), "--limit", "12", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["_faces"]["total"] == 12
    n = res["_faces"]["compared"]
    assert n >= 10  # both detectors find nearly every 300-W face
    assert res["dlib (HOG boxes)"]["n"] == n == res["facealign (MediaPipe boxes)"]["n"]
    assert res["dlib (HOG boxes)"]["nme"] < 5  # dlib's predictor is a strong peer on these faces
    assert "dlib (HOG boxes)" in capsys.readouterr().out
