"""Training data on the real 300-W faces: seeded samples, shards, and stage 2's inputs cut on the device."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facealign.formats.cascade_pt import load_cascade
from facealign.transform import similarity
from facealign.training.config import load_config
from facealign.training.data import FaceSamples, ShardedBatches, context_size, make_loader, split_faces
from facealign.training.geometry import apply, invert, warp
from facealign.training.geometry import similarity as torch_similarity
from facealign.training.inputs import Stage2Inputs, to_network

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def faces(w300):
    cfg = load_config("Cas_Stage1_Aug_Wing", ["max_train=40", f"data={w300}"])
    return split_faces(cfg)[0]


def _epochs(dataset, workers, epochs=(0, 1), world=1):
    out = []
    for rank in range(world):
        sampler = ShardedBatches(len(dataset), 16, seed=0, rank=rank, world=world)
        loader = make_loader(dataset, sampler, workers, pin=False)
        for e in epochs:
            sampler.set_epoch(e)
            out.append([b for b in loader])
    return out


@pytest.mark.parametrize("stage", [1, 2])
def test_samples_are_the_same_whatever_the_workers(faces, stage):
    cfg = load_config("Cas_Stage1_Aug_Wing")
    context = context_size([(128, 1.35), (160, 1.25)]) if stage == 2 else 0
    ds = FaceSamples(faces, cfg, 128, 1.35, context=context)
    inline, workers = _epochs(ds, 0), _epochs(ds, 2)
    assert len(inline) == 2 and len(inline[0]) == 3  # 40 faces: batches of 16, 16 and 8
    for a_epoch, b_epoch in zip(inline, workers):
        for a, b in zip(a_epoch, b_epoch):
            assert a.keys() == b.keys()
            for k in a:
                assert torch.equal(a[k], b[k]), k
    assert not torch.equal(inline[0][0]["image"], inline[1][0]["image"])  # each epoch draws anew
    assert ds[(3, 5)]["image"].tobytes() == ds[(3, 5)]["image"].tobytes()  # (epoch, face) fixes the sample


@pytest.mark.parametrize("n", [40, 33, 50, 17])
def test_shards_of_two_ranks_cover_every_face_once(n):
    seen, steps = [], []
    for rank in range(2):
        sampler = ShardedBatches(n, 16, seed=3, rank=rank, world=2)
        sampler.set_epoch(7)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert all(len(b) >= 2 for b in batches)  # BatchNorm needs two faces in every process
        assert all(e == 7 for b in batches for e, _ in b)
        steps.append(len(batches))
        seen += [i for b in batches for _, i in b]
    assert steps[0] == steps[1]  # DistributedDataParallel needs the same number of steps everywhere
    assert sorted(seen) == list(range(n))


def test_torch_crops_match_opencv(read_media):
    picture = read_media("single_face.jpg")
    rng = np.random.default_rng(0)
    mats = []
    for _ in range(4):
        a, t = rng.uniform(-0.4, 0.4), rng.uniform(0.3, 0.6)
        rot = t * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        mats.append(np.hstack([rot, rng.uniform(-60, 20, size=(2, 1))]))
    x = to_network(torch.from_numpy(np.stack([picture] * 4)), torch.device("cpu"))
    crops = warp(x, torch.tensor(np.stack(mats), dtype=torch.float32), 128)
    for crop, m in zip(crops, mats):
        ref = cv2.warpAffine(picture, m, (128, 128), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        ours = (crop.permute(1, 2, 0).numpy()[..., ::-1] * 255)
        diff = np.abs(ours - ref.astype(np.float32))
        assert diff.mean() < 0.5 and np.percentile(diff, 99) < 3, (diff.mean(), diff.max())


def test_torch_similarity_and_points_match_numpy():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 300, size=(5, 68, 2))
    dst = rng.uniform(0, 128, size=(68, 2))
    ours = torch_similarity(torch.tensor(src), torch.tensor(dst)).numpy()
    for s, m in zip(src, ours):
        np.testing.assert_allclose(m, similarity(s, dst), rtol=1e-9, atol=1e-9)
    m = torch.tensor(ours)
    back = apply(invert(m), apply(m, torch.tensor(src)))
    np.testing.assert_allclose(back.numpy(), src, atol=1e-8)


def test_stage2_inputs_place_the_crop_where_stage1_says(faces):
    """The shipped accurate stage 1, run on the device inside the step, places stage 2's crops:
    the faces' true points land near the template, as they do for the cascade at inference."""
    casc = load_cascade(ROOT / "weights" / "accurate.pt")
    spec1, spec2 = casc.stages
    stage1 = casc.models()[0]
    cfg = load_config("Cas_Stage2_Aug_Wing-S1_Wing")
    ctx = context_size([(spec1.input_size, spec1.crop_scale), (spec2.input_size, spec2.crop_scale)])
    ds = FaceSamples(faces, cfg, spec1.input_size, spec1.crop_scale, context=ctx)
    sampler = ShardedBatches(len(ds), 16, seed=0)
    batch = next(iter(make_loader(ds, sampler, 0, pin=False)))
    crops, gt, previous, _ = Stage2Inputs(stage1, spec1, spec2, torch.device("cpu"))(batch)
    assert previous is None  # the shipped stage 2 does not see stage 1's points
    assert crops.shape == (16, 3, spec2.input_size, spec2.input_size) and gt.shape == (16, 68, 2)
    template = np.asarray(spec2.template)
    error = np.linalg.norm(gt.numpy() - template, axis=-1).mean(1)  # crop pixels
    eyes = np.linalg.norm(template[36] - template[45])
    assert np.median(error / eyes) < 0.15, error / eyes  # a face aligned by stage 1, not a random crop
    assert crops.min() >= 0 and crops.max() <= 1 and crops.std() > 0.1


def test_heatmap_is_one_picture_in_numpy_and_torch():
    from facealign.models.heatmap import render

    pts = np.random.default_rng(2).uniform(0, 63, size=(3, 68, 2)).astype(np.float32)
    pts[0, 0] = (10.0, 20.0)
    a, b = render(pts, 64, 1.5), render(torch.from_numpy(pts), 64, 1.5).numpy()
    assert a.shape == (3, 1, 64, 64) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a[0, 0, 20, 10] == pytest.approx(1.0) and a.min() >= 0 and a.max() <= 1
    assert a[0, 0, 20, 16] < 0.01  # 4 sigma away from (10, 20), if no other point is near
    assert (a > 0.5).mean() < 0.2  # 68 small blobs, not a flood


def test_a_heatmap_stage2_sees_stage1_points(faces):
    from dataclasses import replace

    from facealign.models.heatmap import render

    casc = load_cascade(ROOT / "weights" / "accurate.pt")
    spec1, spec2 = casc.stages
    spec2 = replace(spec2, heatmap_sigma=2.5, residual=False)
    cfg = load_config("Cas_Stage2_Aug_Wing-S1_Wing")
    ctx = context_size([(spec1.input_size, spec1.crop_scale), (spec2.input_size, spec2.crop_scale)])
    ds = FaceSamples(faces, cfg, spec1.input_size, spec1.crop_scale, context=ctx)
    batch = next(iter(make_loader(ds, ShardedBatches(len(ds), 8, seed=0), 0, pin=False)))
    x, gt, previous, _ = Stage2Inputs(casc.models()[0], spec1, spec2, torch.device("cpu"))(batch)
    assert x.shape == (8, 4, spec2.input_size, spec2.input_size)
    torch.testing.assert_close(x[:, 3:], render(previous, spec2.input_size, 2.5))
    eyes = np.linalg.norm(np.asarray(spec2.template)[36] - np.asarray(spec2.template)[45])
    error = (gt - previous).norm(dim=-1).mean(1) / eyes  # stage 1's error: what stage 2 learns to remove
    assert 0 < error.median() < 0.15
