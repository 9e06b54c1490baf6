"""facealign.evaluate: typed results, and `facealign eval --folder` with malformed pairs mixed in."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from facealign.evaluate import EvalResult, StageScore

REPO = Path(__file__).resolve().parents[1]


def test_result_shape_does_not_depend_on_the_arguments():
    res = EvalResult((StageScore(1, 3, 4.0, 0.0, 0.5), StageScore(2, 3, 3.5, 0.0, 0.55, 33.3)), faces=4,
                     missed=1, errors=np.array([0.03, 0.035, 0.04]), skipped=(("a.pts", "a.pts:3: bad"),))
    js = res.to_json()
    assert res.final.stage == 2 and js["nme"] == 3.5 and js["fr_with_missed"] == 33.3
    assert [s["stage"] for s in js["stages"]] == [1, 2] and js["missed"] == 1 and js["faces"] == 4
    assert js["skipped"] == [{"path": "a.pts", "reason": "a.pts:3: bad"}]
    empty = EvalResult((), faces=2, missed=2).to_json()  # the detector found nothing
    assert set(empty) == set(js) and empty["n"] == 0 and empty["nme"] is None  # NaN -> null
    json.dumps(empty, allow_nan=False)


def test_eval_folder_skips_malformed_pairs_and_scores_the_rest(w300, tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    good = sorted((w300 / "helen" / "testset").glob("*.pts"))[:3]
    for pts in good:
        shutil.copy(pts, folder)
        shutil.copy(pts.with_suffix(".jpg"), folder)
    bad_pts = folder / "broken.pts"  # a truncated .pts beside a good picture
    bad_pts.write_text("\n".join(good[0].read_text().splitlines()[:20]))
    shutil.copy(good[0].with_suffix(".jpg"), folder / "broken.jpg")
    bad_img = folder / "noimage.jpg"  # a good .pts beside a picture that is not one
    shutil.copy(good[1], folder / "noimage.pts")
    bad_img.write_text("not a picture")
    out = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "facealign", "eval", "--folder", str(folder), "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "skipped 2 malformed pair(s)" in proc.stdout
    assert f"{bad_pts}: header says 68 points, file has 17" in proc.stdout
    assert str(bad_img) in proc.stdout and "not a picture" in proc.stdout
    res = json.loads(out.read_text())["faces"]
    assert res["n"] == 3 and res["faces"] == 3 and len(res["stages"]) == 2
    assert 0 < res["nme"] < 8 and res["fr"] == 0.0
    assert sorted(s["path"] for s in res["skipped"]) == sorted([str(bad_pts), str(bad_img)])
