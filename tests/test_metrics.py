"""Metrics on hand-made arrays."""
import numpy as np
import pytest

from facealign.metrics import auc, ced, failure_rate, nme, summarize


def face(iod=100.0):
    pts = np.zeros((68, 2))
    pts[36] = (0, 0)
    pts[45] = (iod, 0)
    return pts


def test_nme_is_mean_error_over_outer_eye_distance():
    gt = face(100.0)[None]
    pred = gt.copy()
    pred[0, :, 0] += 3.0  # every point 3 px off
    np.testing.assert_allclose(nme(pred, gt), [0.03])
    pred2 = gt.copy()
    pred2[0, 0] += (30.0, 40.0)  # one point 50 px off: 50/68 px mean
    np.testing.assert_allclose(nme(pred2, gt), [50 / 68 / 100])


def test_failure_rate_auc_and_ced():
    errors = np.array([0.01, 0.02, 0.05, 0.09])
    assert failure_rate(errors) == 0.25
    x, y = ced(errors)
    assert y[0] == 0 and y[-1] == 0.75
    # AUC@0.08 by hand: steps at 0.01, 0.02, 0.05 -> (0.07*0.25 + 0.06*0.25 + 0.03*0.25) / 0.08
    assert auc(errors) == pytest.approx((0.07 + 0.06 + 0.03) * 0.25 / 0.08, abs=2e-3)
    assert auc(np.zeros(10)) == pytest.approx(1.0, abs=2e-3)
    assert auc(np.full(10, 0.5)) == 0.0
    s = summarize(errors)
    assert s["n"] == 4 and s["nme"] == pytest.approx(4.25) and s["fr"] == 25.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        nme(np.zeros((2, 68, 2)), np.zeros((3, 68, 2)))


def test_three_normalisations_on_a_hand_made_face():
    from facealign.metrics import normaliser

    gt = np.zeros((1, 68, 2))
    gt[0, :, 0] = np.linspace(0, 200, 68)  # a 200 x 50 point box
    gt[0, :, 1] = np.linspace(0, 50, 68)
    gt[0, 36:42] = (10.0, 20.0)  # the right eye's six points, centre (10, 20)
    gt[0, 42:48] = (90.0, 20.0)  # the left eye's, centre (90, 20): 80 px apart
    gt[0, 36], gt[0, 37] = (4.0, 20.0), (16.0, 20.0)  # its outer corner, and a point that keeps the centre
    gt[0, 45], gt[0, 44] = (96.0, 20.0), (84.0, 20.0)
    np.testing.assert_allclose(normaliser(gt, "outer_eyes"), [92.0])
    np.testing.assert_allclose(normaliser(gt, "pupils"), [80.0])
    np.testing.assert_allclose(normaliser(gt, "box"), [100.0])  # sqrt(200 * 50)
    pred = gt + (4.0, 0.0)  # every point 4 px off
    for norm, dist in (("outer_eyes", 92.0), ("pupils", 80.0), ("box", 100.0)):
        np.testing.assert_allclose(nme(pred, gt, norm), [4.0 / dist])
    with pytest.raises(ValueError, match="unknown normalisation 'iod'"):
        normaliser(gt, "iod")
