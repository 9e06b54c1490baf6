"""Point confidences mean something (facealign.confidence, `facealign eval --confidence`): the rank
statistics on hand-made arrays, the occluder pixel-exact, and the shipped fast weights on real 300-W
faces, clean and with a grey rectangle over the mouth."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facealign.backends import load_backend
from facealign.cli import main
from facealign.confidence import (GREY, evaluate_confidence, inside, occlude, occluder_box, rankdata,
                                  region_indices, spearman)
from facealign.data import load_split
from facealign.schemes import MULTIPIE_68
from facealign.weights import WEIGHTS_DIR


def test_ranks_average_ties_and_spearman_matches_hand_computed_values():
    np.testing.assert_array_equal(rankdata([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    np.testing.assert_array_equal(rankdata([3, 3, 3]), [2, 2, 2])
    x = np.array([1, 2, 3, 4, 5])
    assert spearman(x, x ** 3) == pytest.approx(1.0) and spearman(x, -x) == pytest.approx(-1.0)
    # ranks of y: 1, 2, 3.5, 5, 3.5 -> sum of products of centred ranks 8, sums of squares 10 and 9.5
    assert spearman(x, [5, 6, 7, 8, 7]) == pytest.approx(8 / np.sqrt(95))
    assert np.isnan(spearman(x, np.ones(5)))
    with pytest.raises(ValueError, match="two arrays of one length, got 5 and 4"):
        spearman(x, x[:4])


def test_the_occluder_covers_its_region_and_a_margin_exactly():
    pts = np.zeros((68, 2), np.float32)
    pts[:, 0], pts[:, 1] = np.linspace(5, 55, 68), 40.0
    pts[36], pts[45] = (10.0, 20.0), (50.0, 20.0)  # outer eye corners 40 px apart: margin 4 px
    mouth = region_indices(MULTIPIE_68, ("outer_lip", "inner_lip"))
    assert mouth == list(range(48, 68))
    pts[48:68] = [(25.0 + (i % 5), 30.0 + (i % 4)) for i in range(20)]  # box (25, 30) .. (29, 33)
    box = occluder_box(pts, mouth, MULTIPIE_68)
    np.testing.assert_allclose(box, [21, 26, 33, 37])
    frame = np.full((64, 64, 3), 7, np.uint8)
    out = occlude(frame, box)
    grey = (out == GREY).all(axis=2)
    assert grey[26:38, 21:34].all() and grey.sum() == 12 * 13 and (frame == 7).all()
    covered = inside(pts, box)
    assert covered[48:68].all() and covered.sum() == 20 + int(inside(pts[:48], box).sum())
    with pytest.raises(ValueError, match="has no region nose_tip to occlude"):
        region_indices(MULTIPIE_68, ("nose_tip",))


@pytest.fixture(scope="module")
def faces(w300):
    common = load_split("common", w300)
    return common.subset(np.linspace(0, len(common) - 1, 24).round().astype(int))


def test_confidence_ranks_errors_and_drops_under_a_grey_rectangle(faces):
    """fast on 24 common-subset faces: confidence and error are negatively rank-correlated (all 554
    faces: see weights/README.md), the least confident points are the worse ones, and a grey rectangle
    over the mouth (or an eye) lowers the covered points' confidence far more than the others'."""
    res = evaluate_confidence(load_backend(WEIGHTS_DIR / "fast.onnx"), faces)
    assert res.faces == 24 and res.points == 24 * 68
    assert res.spearman < -0.1 and res.spearman_95[1] < 0, (res.spearman, res.spearman_95)
    assert res.error_low > 1.2 * res.error_rest, (res.error_low, res.error_rest)
    for occ in res.occlusions:
        covered_drop = occ.covered_before - occ.covered_after
        uncovered_drop = occ.uncovered_before - occ.uncovered_after
        assert covered_drop > 0.03 and covered_drop > 2 * uncovered_drop, occ
        assert occ.covered_error_after > occ.covered_error_before  # the covered points do get worse
    mouth = res.occlusions[0]
    assert mouth.region == "mouth" and mouth.covered_points >= 24 * 20
    assert mouth.covered_low_after > mouth.covered_low_before  # more of them drawn as low-confidence rings
    assert json.loads(json.dumps(res.to_json()))["occlusions"][1]["region"] == "right eye"


def test_eval_confidence_command(tmp_path, w300, capsys):
    """`facealign eval --confidence` on a folder of picture + .pts pairs prints the figures and writes
    them as JSON; with detector boxes, or weights without scores, it says why it cannot."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for pts in sorted((w300 / "helen" / "testset").glob("*.pts"))[:6]:
        for f in (pts, pts.with_suffix(".jpg")):
            shutil.copy(f, folder / f.name)
    out = tmp_path / "conf.json"
    assert main(["eval", str(WEIGHTS_DIR / "fast.onnx"), "--folder", str(folder), "--confidence", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Spearman rank correlation" in text and "grey rectangle over the mouth" in text
    data = json.loads(out.read_text())["faces"]
    assert data["faces"] == 6 and data["points"] == 6 * 68 and data["low_fraction"] == 0.1
    assert main(["eval", "--preset", "fast", "--confidence", "--boxes", "detector"]) == 2
    assert "--confidence crops from the ground-truth boxes" in capsys.readouterr().err
    assert main(["eval", str(_unscored(tmp_path)), "--folder", str(folder), "--confidence"]) == 2
    assert "give no point scores" in capsys.readouterr().err


def _unscored(tmp_path: Path) -> Path:
    """A one-stage cascade whose head (avg, a regression head) has no point scores."""
    torch = pytest.importorskip("torch", reason='writing cascades needs PyTorch (pip install ".[torch]")')
    from facealign.formats.cascade_pt import save_cascade
    from facealign.models import StageSpec

    spec = StageSpec(width=0.25, head="avg", input_size=64)
    torch.manual_seed(0)
    save_cascade(tmp_path / "avg.pt", [spec], [spec.build().eval()])
    return tmp_path / "avg.pt"
