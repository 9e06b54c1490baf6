"""Losses against values computed by hand (crop pixels)."""
import math

import pytest
import torch

from facealign.training.config import load_config
from facealign.training.losses import LOSSES, get_loss, point_loss

PRED = torch.tensor([[[0.0, 0.0], [3.0, -12.0]]])
TARGET = torch.zeros(1, 2, 2)  # errors: 0, 0, 3, 12 pixels


def test_mse_l1_smoothl1_by_hand():
    assert LOSSES["mse"](PRED, TARGET).item() == pytest.approx((9 + 144) / 4)
    assert LOSSES["l1"](PRED, TARGET).item() == pytest.approx((3 + 12) / 4)
    # Huber beta=1: |x| - 0.5 beyond 1 pixel
    assert LOSSES["smoothl1"](PRED, TARGET).item() == pytest.approx((2.5 + 11.5) / 4)


def test_wing_by_hand():
    w, e = 10.0, 2.0
    c = w - w * math.log(1 + w / e)
    expected = (0 + 0 + w * math.log(1 + 3 / e) + (12 - c)) / 4
    assert LOSSES["wing"](PRED, TARGET, omega=w, epsilon=e).item() == pytest.approx(expected, rel=1e-6)
    # continuous at |x| = omega
    at = torch.tensor([[[10.0, 0.0]]])
    near = torch.tensor([[[10.0 - 1e-4, 0.0]]])
    z = torch.zeros(1, 1, 2)
    assert LOSSES["wing"](at, z).item() == pytest.approx(LOSSES["wing"](near, z).item(), abs=1e-3)


def test_unit_scale_divides_the_points_by_the_input_size():
    """The study's scale: points in [0, 1] of a 64 px crop (errors 3/64 and 12/64)."""
    def loss(name, units):
        return point_loss(load_config("raw_CNN_noAug_MSE", [f"loss={name}", f"loss_units={units}", "input_size=64"]))
    a, b = 3 / 64, 12 / 64
    assert loss("mse", "unit")(PRED, TARGET).item() == pytest.approx((a * a + b * b) / 4)
    assert loss("l1", "unit")(PRED, TARGET).item() == pytest.approx((a + b) / 4)
    # beta = 1 on the unit scale: every error is below it, so SmoothL1 is half the MSE
    assert loss("smoothl1", "unit")(PRED, TARGET).item() == pytest.approx((a * a + b * b) / 8)
    # Wing's omega and epsilon are divided with the points: the same curve, 1/64 of the value
    assert loss("wing", "unit")(PRED, TARGET).item() == pytest.approx(loss("wing", "pixels")(PRED, TARGET).item() / 64)


def test_unknown_loss_lists_choices():
    with pytest.raises(ValueError, match="mse, l1, smoothl1, wing"):
        get_loss("huber")


def test_heatmap_kl_is_zero_at_its_own_target_and_grows_with_distance():
    from facealign.training.losses import heatmap_kl

    target = torch.tensor([[[0.1, -0.2]]])
    h = w = 16
    xs = (torch.arange(w) * 2 + 1) / w - 1

    def blob(cx, cy, s=2.0 / 16):
        g = torch.exp(-0.5 * ((xs.view(1, w) - cx) / s) ** 2) * torch.exp(-0.5 * ((xs.view(h, 1) - cy) / s) ** 2)
        return (g / g.sum()).view(1, 1, h, w)

    assert heatmap_kl(blob(0.1, -0.2), target).item() == pytest.approx(0.0, abs=1e-5)
    near, far = heatmap_kl(blob(0.2, -0.2), target).item(), heatmap_kl(blob(0.6, 0.3), target).item()
    assert 0 < near < far
