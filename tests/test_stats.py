"""The study's statistics on hand-made arrays: mean +- sd over seeds, the paired bootstrap over faces."""
import numpy as np
import pytest

from facealign.training.stats import mean_sd, paired_bootstrap


def test_mean_and_sample_sd_over_seeds():
    assert mean_sd([5.0, 6.0, 7.0]) == (6.0, 1.0)  # ddof=1
    assert mean_sd([5.0]) == (5.0, None)  # one seed: no spread
    assert mean_sd([None, float("nan")]) == (None, None)
    assert mean_sd([4.0, None, 6.0]) == (5.0, pytest.approx(np.sqrt(2)))


def test_a_constant_shift_differs_and_its_interval_is_the_shift():
    rng = np.random.default_rng(1)
    b = rng.uniform(3, 9, 554)
    r = paired_bootstrap(b + 0.25, b)
    assert r.diff == pytest.approx(0.25) and r.low == pytest.approx(0.25) and r.high == pytest.approx(0.25)
    assert r.differs and r.n == 554
    assert paired_bootstrap(b, b + 0.25).to_json()["ci"] == [-0.25, -0.25]


def test_paired_noise_around_zero_cannot_be_told_apart():
    d = np.tile([1.0, -1.0], 277)  # one cell better on half the faces, worse on the other half
    b = np.full(554, 6.0)
    r = paired_bootstrap(b + d, b)
    assert r.diff == 0.0 and r.low < 0 < r.high and not r.differs
    # the interval is about mean +- 1.96 sd / sqrt(n): sd 1 over 554 faces
    assert r.high == pytest.approx(1.96 / np.sqrt(554), rel=0.15)


def test_pairing_removes_what_both_cells_share():
    """Faces differ a lot (3 .. 30 %), one cell is better by 0.1 on every face: unpaired intervals would
    swallow 0.1, the paired one does not."""
    rng = np.random.default_rng(2)
    hard = rng.uniform(3, 30, 554)
    r = paired_bootstrap(hard + 0.1 + rng.normal(0, 0.05, 554), hard)
    assert r.differs and 0.09 < r.low < r.diff < r.high < 0.11


def test_bootstrap_needs_two_arrays_over_the_same_faces():
    with pytest.raises(ValueError, match="same faces"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
    assert paired_bootstrap([1.0, 2.0], [1.0, 2.0], seed=3).to_json() == {
        "diff": 0.0, "ci": [0.0, 0.0], "level": 0.95, "faces": 2, "differs": False}


def test_the_studys_trend_pairs_name_real_cells_and_wait_for_both():
    from facealign.training.questions import answers, pairs
    from facealign.training.sweep import cells, grids

    known = {c.name for g in grids() for c in cells(g)}
    assert {a for _, _, a, _ in pairs()} | {b for _, _, _, b in pairs()} <= known
    rng = np.random.default_rng(2)
    b = rng.uniform(3, 9, 554)
    errors = {"sweep_batch_bs4": b + 1.0, "sweep_wing_batch_bs4": b, "sweep_wing_batch_bs2": b + 0.01 * rng.standard_normal(554)}
    found = {q["question"]: q for q in answers(errors)}
    assert set(found) == {"MSE - Wing at batch 4", "Wing: batch 2 - batch 4"}  # MSE at batch 2 not run: left out
    assert found["MSE - Wing at batch 4"]["diff"] == pytest.approx(1.0) and found["MSE - Wing at batch 4"]["differs"]
    assert not found["Wing: batch 2 - batch 4"]["differs"] and found["Wing: batch 2 - batch 4"]["faces"] == 554
