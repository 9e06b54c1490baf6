"""The 300-W reader on the real shared data, .pts parsing, splits and the data root."""
from pathlib import Path

import numpy as np
import pytest

from facealign.data import PtsError, load_folder, load_split, read_pts, train_val_split, write_pts
from facealign.data.dataset import MissingDataError, data_root

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"


def test_split_counts_on_real_data():
    train = load_split("train", DATA)
    assert len(train) == 2014
    assert train.counts == {"afw": 337, "helen/trainset": 872, "lfpw/trainset": 805}
    common = load_split("common", DATA)
    assert len(common) == 554
    assert common.counts == {"helen/testset": 330, "lfpw/testset": 224}


def test_absent_subset_is_reported_not_silently_empty(caplog):
    with pytest.raises(MissingDataError, match="ibug"):
        load_split("challenging", DATA)
    full = load_split("full", DATA)  # common faces, with ibug reported absent
    assert len(full) == 554 and full.counts["ibug"] == 0
    assert "ibug" in caplog.text


def test_points_are_zero_based_and_inside_the_crop():
    common = load_split("common", DATA)
    face = common[0]
    raw = np.loadtxt(face.image_path.with_suffix(".pts"), skiprows=3, comments="}")
    np.testing.assert_allclose(face.pts, raw - 1, atol=1e-5)
    img = common.image(0)
    assert img.shape == (384, 384, 3) and img.dtype == np.uint8
    pts = common.points()
    assert pts.shape == (554, 68, 2)
    assert (pts > -1).all() and (pts < 384).all()


def test_pts_without_header_and_round_trip(tmp_path):
    pts = np.random.default_rng(0).uniform(0, 300, (68, 2)).astype(np.float32)
    write_pts(tmp_path / "a.pts", pts)
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), pts, atol=1e-5)
    bare = "\n".join(f"{x + 1} {y + 1}" for x, y in pts)
    (tmp_path / "b.pts").write_text(bare)
    np.testing.assert_allclose(read_pts(tmp_path / "b.pts"), pts, atol=1e-4)


@pytest.mark.parametrize("text, message", [
    ("version: 1\nn_points: 68\n{\n1 2\n}\n", "header says 68"),
    ("1 2\n3 4\n", "expected 68 points"),
    ("1 2 3\n" * 68, "expected 'x y'"),
    ("a b\n" * 68, "expected 'x y'"),
])
def test_malformed_pts_gives_a_clear_error(tmp_path, text, message):
    (tmp_path / "bad.pts").write_text(text)
    with pytest.raises(PtsError, match=message):
        read_pts(tmp_path / "bad.pts")


def test_any_folder_of_pairs_is_read_recursively(tmp_path):
    src = DATA / "lfpw" / "testset"
    names = sorted(p.stem for p in src.glob("*.pts"))[:3]
    (tmp_path / "deep" / "er").mkdir(parents=True)
    for i, n in enumerate(names):
        dst = tmp_path / ("deep/er" if i else ".")
        (dst / f"{n}.png").write_bytes((src / f"{n}.png").read_bytes()) if (src / f"{n}.png").exists() else \
            (dst / f"{n}.jpg").write_bytes((src / f"{n}.jpg").read_bytes())
        (dst / f"{n}.pts").write_text((src / f"{n}.pts").read_text())
    faces = load_folder(tmp_path)
    assert len(faces) == 3
    with pytest.raises(MissingDataError):
        load_folder(tmp_path / "deep" / "nothing-here")


def test_data_root_flag_env_default(monkeypatch):
    monkeypatch.delenv("FACEALIGN_DATA", raising=False)
    assert data_root() == Path("../shared/data/300w")
    monkeypatch.setenv("FACEALIGN_DATA", "/elsewhere")
    assert data_root() == Path("/elsewhere")
    assert data_root("/flag") == Path("/flag")


def test_validation_hold_out_is_fixed_and_disjoint():
    tr, va = train_val_split(2014, 0.1, seed=0)
    tr2, va2 = train_val_split(2014, 0.1, seed=0)
    assert len(va) == 201 and len(tr) == 1813
    assert not set(tr) & set(va)
    np.testing.assert_array_equal(va, va2)
