"""Two views of each face for stage 2 (training/consistency.py): the second crop's geometry, its
noise, the disagreement term, and the config that turns it on."""
import numpy as np
import pytest
import torch

from facealign.formats.cascade_pt import load_cascade
from facealign.training import consistency
from facealign.training.config import ConfigError, load_config
from facealign.training.data import FaceSamples, ShardedBatches, context_size, make_loader, split_faces
from facealign.training.geometry import apply, warp
from facealign.training.inputs import Stage2Inputs
from facealign.transform import CropTransform

from test_train_data import ROOT


def _maps(b=64, size=128):
    crops = [CropTransform.from_center(200 + 10 * i, 180 - 5 * i, 150 + i, size, angle=3.0 * i) for i in range(b)]
    return torch.tensor(np.stack([c.matrix for c in crops]), dtype=torch.float32)


def test_the_second_view_moves_by_a_small_similarity_within_its_bounds():
    size = 128
    a = _maps(size=size)
    b = consistency.moved(a, size, torch.Generator().manual_seed(0))
    b_to_a = consistency.between(a, b)
    pts = torch.rand(len(a), 68, 2) * 300 + 50  # picture pixels
    torch.testing.assert_close(apply(b_to_a, apply(b, pts)), apply(a, pts), atol=1e-3, rtol=0)
    move = consistency.between(b, a)  # view a's crop pixels -> view b's: the move itself
    lin = move[:, :, :2]
    scale = torch.sqrt(torch.det(lin))
    angle = torch.rad2deg(torch.atan2(lin[:, 1, 0], lin[:, 0, 0]))
    centre = torch.full((len(a), 1, 2), (size - 1) / 2)
    shift = (apply(move, centre) - centre)[:, 0]
    assert (scale - 1).abs().max() <= consistency.MOVE["scale"] + 1e-5
    assert angle.abs().max() <= consistency.MOVE["rotate"] + 1e-4
    assert shift.abs().max() <= consistency.MOVE["shift"] * size + 1e-3
    # a similarity (no shear), and not the identity: every face's second crop moves
    torch.testing.assert_close(lin[:, 0, 0], lin[:, 1, 1]), torch.testing.assert_close(lin[:, 0, 1], -lin[:, 1, 0])
    assert shift.norm(dim=-1).min() > 0 and (scale - 1).abs().max() > consistency.MOVE["scale"] / 2


def test_disagreement_is_zero_for_points_that_move_with_the_crop_and_grows_with_shake():
    a = _maps(8)
    b = consistency.moved(a, 128, torch.Generator().manual_seed(1))
    pts = torch.rand(8, 68, 2) * 200 + 100
    first, second = apply(a, pts), apply(b, pts)  # the same picture points, seen in each view
    pairs = consistency.between(a, b)
    assert consistency.disagreement(first, second, pairs) < 1e-3
    shaken = second + torch.tensor([0.6, -0.8])  # 1 px in view b (a similarity close to 1: ~1 px in view a)
    assert consistency.disagreement(first, shaken, pairs).item() == pytest.approx(1.0, abs=0.05)


def test_the_split_disagreement_weighs_a_whole_face_move_by_its_rigid_factor_and_a_shape_change_fully():
    a = _maps(8)
    b = consistency.moved(a, 128, torch.Generator().manual_seed(2))
    pts = torch.rand(8, 68, 2) * 200 + 100
    first, second, pairs = apply(a, pts), apply(b, pts), consistency.between(a, b)
    turn = torch.tensor([[np.cos(0.02), -np.sin(0.02)], [np.sin(0.02), np.cos(0.02)]], dtype=torch.float32)
    centre = first.mean(1, keepdim=True)
    rigid = ((first - centre) @ turn.T) * 1.01 + centre + torch.tensor([0.5, -0.3])  # the whole face moved
    rigid_b = apply(consistency.between(b, a), rigid)  # ... as view b sees it
    whole = consistency.disagreement(first, rigid_b, pairs).item()
    assert whole > 0.5
    assert consistency.split_disagreement(first, rigid_b, pairs, rigid=0.0).item() < 1e-3  # no shape change
    assert consistency.split_disagreement(first, rigid_b, pairs, rigid=0.5).item() == pytest.approx(whole / 2, rel=1e-3)
    mouth = second.clone()
    mouth[:, 48:] += torch.tensor([0.0, 2.0])  # one part of the face moves: mostly shape
    shape_only = consistency.split_disagreement(first, mouth, pairs, rigid=0.0).item()
    assert 0.5 * consistency.disagreement(first, mouth, pairs).item() < shape_only
    assert consistency.split_disagreement(first, mouth, pairs, rigid=1.0).item() > shape_only


@pytest.fixture(scope="module")
def batch(w300):
    casc = load_cascade(ROOT / "weights" / "fast.pt")
    spec1, spec2 = casc.stages
    cfg = load_config("fast_Stage2_PIP_Aug_Wing", ["max_train=40", f"data={w300}"])
    ctx = context_size([(spec1.input_size, spec1.crop_scale), (spec2.input_size, spec2.crop_scale)])
    ds = FaceSamples(split_faces(cfg)[0], cfg, spec1.input_size, spec1.crop_scale, context=ctx)
    return casc, next(iter(make_loader(ds, ShardedBatches(len(ds), 8, seed=0), 0, pin=False)))


def test_stage2_inputs_with_two_views_give_each_face_twice(batch):
    """The second half of the batch is each face again: its crop moved (its true points follow it),
    both halves with pixel noise of the stated size on top of the crop a single view gives; the
    second crop's pixels are the first's seen through the move."""
    casc, loaded = batch
    spec1, spec2 = casc.stages
    stage1, cpu = casc.models()[0], torch.device("cpu")
    one = Stage2Inputs(stage1, spec1, spec2, cpu)(loaded)
    torch.manual_seed(0)
    two = Stage2Inputs(stage1, spec1, spec2, cpu, views=2)(loaded)
    assert one.pairs is None and two.x.shape == (16, *one.x.shape[1:]) and two.target.shape == (16, 68, 2)
    first, second = two.target.chunk(2)
    torch.testing.assert_close(first, one.target)
    torch.testing.assert_close(apply(two.pairs, second), first, atol=1e-3, rtol=0)
    moved_px = (second - first).norm(dim=-1).mean(1)
    assert moved_px.min() > 0.01 and moved_px.max() < 8  # a few pixels at most
    noise = two.x[:8] - one.x
    inside = (one.x > 0.05) & (one.x < 0.95)  # away from the clipping
    assert noise[inside].std().item() == pytest.approx(consistency.NOISE, rel=0.1)
    # view b's crop cut again through the move back onto view a's lands on view a's crop (up to the
    # noise and the resampling), away from the borders the move brings in
    def off(crops):  # mean absolute difference from view a's crops, away from the borders
        return (crops - two.x[:8])[..., 12:-12, 12:-12].abs().mean().item()

    back = off(warp(two.x[8:], two.pairs, spec2.input_size))  # view b's pixels -> view a's crop
    # the noise alone gives about 0.009 (two independent draws of sd 2/255); unmoved, 0.027
    assert back < 0.015 and back < 0.6 * off(two.x[8:]), (back, off(two.x[8:]))


def test_consistency_needs_stage_2_and_a_weight_of_zero_or_more():
    with pytest.raises(ConfigError, match="consistency is a weight >= 0 for stage: 2"):
        load_config("fast_Stage1_PIP_Aug_Wing", ["consistency=0.1"])
    with pytest.raises(ConfigError, match="consistency"):
        load_config("fast_Stage2_PIP_Aug_Wing", ["consistency=-1"])
    assert load_config("fast_Stage2_PIP_Aug_Wing", ["consistency=0.2"]).consistency == 0.2
    with pytest.raises(ConfigError, match="consistency_move"):
        load_config("fast_Stage2_PIP_Aug_Wing", ["consistency=0.2", "consistency_move=-1"])
    with pytest.raises(ConfigError, match="consistency_rigid"):
        load_config("fast_Stage2_PIP_Aug_Wing", ["consistency=0.2", "consistency_rigid=-0.5"])


def test_the_move_scales_with_its_amount_and_zero_is_no_move():
    a = _maps(32)
    for amount in (0.25, 0.0):
        move = consistency.between(consistency.moved(a, 128, torch.Generator().manual_seed(2), amount=amount), a)
        lin = move[:, :, :2]
        scale = torch.sqrt(torch.det(lin))
        centre = torch.full((32, 1, 2), 63.5)
        shift = (apply(move, centre) - centre)[:, 0]
        assert (scale - 1).abs().max() <= amount * consistency.MOVE["scale"] + 1e-5
        assert shift.abs().max() <= amount * consistency.MOVE["shift"] * 128 + 1e-3
    torch.testing.assert_close(move, torch.eye(2, 3).expand(32, 2, 3), atol=1e-4, rtol=0)  # amount 0: the same crop
