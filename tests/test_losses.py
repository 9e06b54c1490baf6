"""Losses against values computed by hand (crop pixels)."""
import math

import pytest
import torch

from train.losses import LOSSES, get_loss

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


def test_unknown_loss_lists_choices():
    with pytest.raises(ValueError, match="mse, l1, smoothl1, wing"):
        get_loss("huber")
