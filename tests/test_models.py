"""The ResNet regressors' heads: shapes, the integral (soft-argmax) head's geometry, training hooks."""
import numpy as np
import pytest
import torch

from facealign.models import create_model
from facealign.models.heads.integral import IntegralHead


@pytest.mark.parametrize("head", ["avg", "flatten", "integral", "pip"])
def test_every_head_gives_68_normalised_points(head):
    torch.manual_seed(0)
    m = create_model("resnet18", width=0.25, head=head, input_size=64).eval()
    with torch.no_grad():
        out = m(torch.rand(3, 3, 64, 64))
    assert out.shape == (3, 68, 2) and torch.isfinite(out).all()
    if head == "integral":  # an untrained integral head points at the crop centre
        assert out.abs().max() < 0.05


def test_integral_head_is_the_mean_of_cell_centres():
    """A map peaked on one cell gives that cell's centre in [-1, 1] (cells cover the crop)."""
    head = IntegralHead([4, 4, 4, 4], num_points=1).eval()
    with torch.no_grad():
        for conv in head.lateral:
            conv.weight.zero_()
            conv.bias.zero_()
        head.logits.bias.zero_()
        head.logits.weight.zero_()
    feats = [torch.zeros(1, 4, 8 // 2 ** i, 8 // 2 ** i) for i in range(4)]

    class Peak(torch.nn.Module):  # replace the smoothing conv: a logit map of one hot cell
        def forward(self, x):
            y = torch.zeros(1, 1, 8, 8)
            y[0, 0, 2, 5] = 60.0
            return y
    head.smooth = Peak()
    head.logits = torch.nn.Identity()
    with torch.no_grad():
        x, y = head(feats)[0, 0].tolist()
    assert x == pytest.approx((2 * 5 + 1) / 8 - 1, abs=1e-4) and y == pytest.approx((2 * 2 + 1) / 8 - 1, abs=1e-4)


def test_integral_head_returns_its_maps_in_training_only():
    m = create_model("resnet18", width=0.25, head="integral", input_size=64)
    out = m.train()(torch.rand(2, 3, 64, 64))
    out.points.sum().backward()
    prob = out.maps[0]
    assert m.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 68, 2)  # eval: the points alone
    assert prob.shape == (2, 68, 16, 16)
    assert np.allclose(prob.detach().sum((-2, -1)).numpy(), 1.0, atol=1e-5)
    assert all(p.grad is not None for p in m.integral.parameters())


def test_unknown_head_is_refused():
    with pytest.raises(ValueError, match="choose from avg, flatten, integral, pip"):
        create_model("resnet18", head="heatmap")
