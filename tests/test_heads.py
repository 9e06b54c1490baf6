"""Heads as plug-ins (facealign/models/heads): the registry, the weights and outputs they must keep
from before the refactor, the trainer's head-agnostic path, and the PIP head's codec and export."""
from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.cli import main as cli
from facealign.data.dataset import load_split
from facealign.formats.cascade_pt import load_cascade, save_cascade
from facealign.models import StageSpec, create_model
from facealign.models.heads import _HEADS, get_head, list_heads, register_head
from facealign.models.heads.base import Head, HeadOutput
from facealign.transform import CropTransform, points_box
from heads_reference import CASES, filled, probe, seeded

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).parent / "data" / "heads_reference.npz"
TINY = ["model=resnet18", "width=0.25", "input_size=64", "max_train=48", "batch_size=16", "workers=0",
        "lr=0.003", "grid_every=1", "warmup_epochs=0.5"]


def test_every_head_round_trips_through_the_registry(tmp_path):
    """Built by name, saved in a cascade file with its spec, read back: the same outputs."""

    assert list_heads() == ("avg", "flatten", "integral", "pip")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for name in list_heads():
        spec = StageSpec(width=0.25, head=name, input_size=64,
                         head_args={"stride": 32, "neighbours": 4} if name == "pip" else {})
        model = filled(spec.build())
        assert isinstance(model.head, get_head(name)) and model.head.name == name
        assert any(k.startswith(model.head.key + ".") for k in model.state_dict())
        save_cascade(tmp_path / f"{name}.pt", [spec], [model], half=False)
        casc = load_cascade(tmp_path / f"{name}.pt")
        assert casc.stages == [spec]
        with torch.no_grad():
            want, got = model(x), casc.models()[0](x)
        assert want.shape == (2, 68, 2)
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_an_unknown_head_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown head 'heatmap'; choose from avg, flatten, integral, pip"):
        create_model("resnet18", head="heatmap")


@pytest.mark.parametrize("case", list(CASES))
def test_heads_keep_their_state_dict_keys_and_outputs(case):
    """The same keys and shapes, and the same outputs for the same weights, as before heads were
    plug-ins (tests/heads_reference.py wrote the reference at commit 7caaec5)."""
    ref = np.load(REFERENCE)
    kw = CASES[case]
    model = filled(create_model("resnet18", **kw))
    keys = sorted(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    assert keys == sorted(ref[f"{case}/keys"].tolist())
    np.testing.assert_allclose(probe(model, kw.get("in_chans", 3), kw["input_size"]), ref[f"{case}/out"],
                               rtol=1e-5, atol=1e-5)
    # and a seeded run starts from the same weights as before (the same random stream)
    np.testing.assert_allclose(seeded(kw), ref[f"{case}/seeded"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("preset", ["accurate", "fast"])  # re-pinned when a preset is retrained (both: 2026-12-02)
def test_shipped_weights_give_the_same_outputs_as_before(preset):
    ref = np.load(REFERENCE)
    casc = load_cascade(ROOT / "weights" / f"{preset}.pt")
    for i, (spec, model) in enumerate(zip(casc.stages, casc.models())):
        np.testing.assert_allclose(probe(model, spec.in_channels, spec.input_size), ref[f"{preset}{i + 1}/out"],
                                   rtol=1e-5, atol=1e-6)


HEAD_RUNS = {"avg": [], "flatten": [], "integral": ["heatmap_weight=1"], "pip": ["pip_stride=16", "pip_neighbours=6"]}


@pytest.mark.parametrize("head", list(HEAD_RUNS))
def test_each_head_trains_a_tiny_run_whose_loss_falls(tmp_path, w300, head):
    assert cli(["train", "Cas_Stage1_Aug_Wing", *TINY, f"head={head}", *HEAD_RUNS[head], "epochs=2",
                f"out={tmp_path}", "--data", str(w300)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "logs/Cas_Stage1_Aug_Wing/metrics.csv")))
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    stage = torch.load(tmp_path / "checkpoints/Cas_Stage1_Aug_Wing/last.pt", weights_only=False)["cascade"]["stages"][0]
    assert stage["head"] == head
    assert stage["head_args"] == ({"neighbours": 6, "stride": 16} if head == "pip" else {})


class ProbeHead(Head):
    """A head from outside the package, under its own prefix: the trainer must need nothing else."""

    key = "probe"
    options = {"weight": 0.0}  # its settings (config head_options), declared by the head
    loss_keys = {"weight": "weight"}

    def __init__(self, chans, num_points, input_size):
        super().__init__()
        self.lin, self.k = torch.nn.Linear(chans[3], num_points * 2), num_points

    def init_weights(self):
        torch.nn.init.normal_(self.lin.weight, std=1e-3)

    def outputs(self, feats):
        return self.lin(feats[-1].mean((2, 3))).view(-1, self.k, 2), ()

    def loss(self, out, target_norm, weight=0.0):
        return {"probe": weight * (out.points - target_norm).abs().mean()}

    def shift_outputs(self, shift):
        with torch.no_grad():
            self.lin.bias += shift.reshape(-1)


@pytest.fixture
def probe_head():
    register_head("probe_head")(ProbeHead)
    yield "probe_head"
    _HEADS.pop("probe_head")


def _real_batch(w300, size, n=8):
    from facealign.models import to_input

    faces = load_split("common", w300)
    crops, pts = [], []
    for i in range(n):
        tf = CropTransform.from_box(points_box(faces[i].pts), size, 1.35)
        crops.append(tf.warp(faces.image(i)))
        pts.append(tf.to_crop(faces[i].pts))
    return torch.from_numpy(to_input(crops)), torch.from_numpy(np.stack(pts).astype(np.float32))


def test_the_trainer_uses_only_the_head_interface(w300, probe_head):
    """One Step with a head the trainer has never heard of: its loss is the point loss plus the head's
    own term (routed from its config key), and the step trains the head's weights."""
    from facealign.training.config import Config
    from facealign.training.devices import Precision
    from facealign.training.losses import wing
    from facealign.training.step import Step

    x, target = _real_batch(w300, 64)
    cfg = Config(head=probe_head, width=0.25, input_size=64, loss="wing", head_options={"weight": 0.5}, ema=0.0)
    spec = StageSpec(width=0.25, head=probe_head, input_size=64)
    torch.manual_seed(0)
    model = spec.build()
    twin = copy.deepcopy(model).train()
    out = twin(x).points
    want = wing(spec.decode(out), target) + 0.5 * (out - spec.codec.encode(target)).abs().mean()
    before = model.probe.lin.weight.detach().clone()
    step = Step(model, spec, cfg, torch.device("cpu"), Precision("off"), steps_per_epoch=4)
    got = step(x, target)
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert set(step.last_terms) == {"points", "probe"}  # the loss, term by term
    assert not torch.equal(model.probe.lin.weight, before)


def test_init_from_stage1_shifts_any_regression_head(w300, probe_head):
    """Stage 2 starting as stage 1: its outputs are stage 1's minus the template (offsets from it)."""
    from facealign.training.models import init_from_stage1

    x, pts = _real_batch(w300, 64)
    spec1 = StageSpec(width=0.25, head=probe_head, input_size=64)
    spec2 = StageSpec(width=0.25, head=probe_head, input_size=64, crop="points", residual=True,
                      template=pts.mean(0).tolist())
    stage1, stage2 = filled(spec1.build()), spec2.build()
    init_from_stage1(stage2, spec2, spec1, stage1)
    with torch.no_grad():
        torch.testing.assert_close(spec2.decode(stage2.eval()(x)), spec1.decode(stage1(x)), rtol=0, atol=1e-4)


@pytest.mark.parametrize("stride", [16, 32])
def test_pip_encode_decode_round_trip_on_real_faces(w300, stride):
    """True points -> the maps a perfect PIP head would give -> decoded back: within 1e-3 px; and those
    maps cost nothing in its training loss."""
    _, pts = _real_batch(w300, 128, n=16)
    spec = StageSpec(width=0.25, head="pip", input_size=128, head_args={"stride": stride, "neighbours": 10})
    head = spec.build().head
    head.prepare(spec.codec.encode(pts.mean(0)))
    target = spec.codec.encode(pts)
    maps = head.codec.target_maps(target, head.neighbours)
    assert maps[0].shape == (16, 68, (128 // stride) ** 2)
    points = head.codec.decode(*maps, head.neighbours)
    assert (spec.codec.decode(points) - pts).abs().max() < 1e-3
    terms = head.loss(HeadOutput(points, maps), target)
    assert set(terms) == {"score", "offset", "neighbours"}
    assert sum(terms.values()).item() == pytest.approx(0.0, abs=1e-6)


def test_pip_decoding_averages_the_neighbours_votes(w300):
    """Move one landmark's own offset by a cell: its decoded point moves by a cell / (1 + its voters)."""
    _, pts = _real_batch(w300, 128, n=2)
    spec = StageSpec(width=0.25, head="pip", input_size=128, head_args={"stride": 16, "neighbours": 10})
    head = spec.build().head
    target = spec.codec.encode(pts)
    score, offset, nb = head.codec.target_maps(target, head.neighbours)
    k = 30  # the nose
    voters = int((head.neighbours == k).sum())
    assert voters > 0
    offset = offset.clone()
    offset[:, 0, k] += score[:, k]  # +1 cell in x, at the cell the score map picks
    moved = (head.codec.decode(score, offset, nb, head.neighbours) - target)[:, k, 0] * head.grid / 2  # in cells
    torch.testing.assert_close(moved, torch.full((2,), 1.0 / (1 + voters)), rtol=0, atol=1e-5)


def test_pip_exports_to_onnx_with_parity(tmp_path, w300, capsys):
    """The argmax/gather decoding inside the graph: onnxruntime gives torch's points on real crops."""
    from facealign.backends import load_backend

    spec = StageSpec(width=0.25, head="pip", input_size=128, head_args={"stride": 16, "neighbours": 10})
    model = filled(spec.build())
    save_cascade(tmp_path / "pip.pt", [spec], [model], half=False)
    assert cli(["export", str(tmp_path / "pip.pt"), "--format", "onnx", "-o", str(tmp_path / "pip.onnx")]) == 0
    assert "stage 1: " in capsys.readouterr().out
    x, _ = _real_batch(w300, 128)
    with torch.no_grad():
        want, want_scores = model.infer(x)
    got, scores = load_backend(tmp_path / "pip.onnx", "onnxruntime").runners[0](x.numpy())
    np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(scores, want_scores.numpy(), rtol=0, atol=1e-5)


def _agreement_reference(score, offset, nb, neighbours, grid):
    """The PIP confidence written out point by point (numpy loops): the estimates decoding averages
    (a point's own, and each voter's), their RMS distance from their mean in crop sides, exp(-./scale)."""
    from facealign.models.heads.pip import AGREEMENT_SCALE

    b, k = score.shape[:2]
    idx = score.argmax(-1)
    out = np.zeros((b, k))
    for f in range(b):
        cells = [np.array([c % grid, c // grid], float) for c in idx[f]]
        for j in range(k):
            ests = [cells[j] + offset[f, :, j, idx[f, j]]]
            for i in range(k):
                for m in np.nonzero(neighbours[i] == j)[0]:
                    ests.append(cells[i] + nb[f, :, i, m, idx[f, i]])
            ests = np.array(ests)
            spread = np.sqrt(((ests - ests.mean(0)) ** 2).sum(1).mean()) / grid
            out[f, j] = np.exp(-spread / AGREEMENT_SCALE)
    return out


def test_pip_scores_each_point_by_how_well_its_estimates_agree_and_other_heads_say_they_have_none(w300):
    """PIP: a point's confidence is exp(-spread / AGREEMENT_SCALE) of the estimates decoding averages
    (written out by hand above); infer() gives forward()'s points (to float rounding); perfect maps (every
    estimate on the truth) score 1. A head without scores, or a PIP head without neighbours, gives None."""
    x, _ = _real_batch(w300, 64, n=4)
    for name, head_args in HEAD_CASES.values():
        model = filled(StageSpec(width=0.25, head=name, input_size=64, head_args=head_args).build()).eval()
        with torch.no_grad():
            points, scores = model.infer(x)
            torch.testing.assert_close(points, model(x), rtol=0, atol=1e-5)  # PIP: decode_at_cells, to rounding
            if name != "pip":
                assert scores is None and not model.scores
                continue
            maps = model.head.maps([model.features(x)[i] for i in model.head.features])
        assert model.scores and scores.shape == (4, 68) and scores.dtype == torch.float32
        head = model.head
        ref = _agreement_reference(*(m.numpy() for m in maps), head.neighbours.numpy(), head.codec.grid)
        np.testing.assert_allclose(scores.numpy(), ref, rtol=1e-4, atol=1e-6)
        # random weights scatter the votes (scores near 0): maps near the truth's test the scale too
        truth = torch.rand(2, 68, 2) * 1.6 - 0.8
        perfect = head.codec.target_maps(truth, head.neighbours)
        pts, ones = head.codec.decode_scored(*perfect, head.neighbours)
        torch.testing.assert_close(pts, truth, rtol=0, atol=1e-5)
        torch.testing.assert_close(ones, torch.ones(2, 68), rtol=0, atol=1e-4)
        gen = torch.Generator().manual_seed(0)
        noisy = (perfect[0], perfect[1] + 0.02 * torch.randn(perfect[1].shape, generator=gen),
                 perfect[2] + 0.02 * torch.randn(perfect[2].shape, generator=gen))
        _, agree = head.codec.decode_scored(*noisy, head.neighbours)
        ref = _agreement_reference(*(m.numpy() for m in noisy), head.neighbours.numpy(), head.codec.grid)
        np.testing.assert_allclose(agree.numpy(), ref, rtol=1e-4, atol=1e-6)
        assert 0.05 < agree.min() and agree.max() < 0.99 and agree.std() > 0.02
    lone = StageSpec(width=0.25, head="pip", input_size=64, head_args={"neighbours": 0, "stride": 16}).build().eval()
    with torch.no_grad():
        assert lone.infer(x)[1] is None and not lone.scores


def test_pip_config_keys_are_validated_and_its_stage1_config_matches_the_flatten_one():
    from facealign.training.config import ConfigError, load_config
    from facealign.training.models import stage_spec

    pip, flat = load_config("Cas_Stage1_PIP_Aug_Wing"), load_config("Cas_Stage1_Aug_Wing")
    assert (pip.head, pip.head_options) == ("pip", {"stride": 16, "neighbours": 10, "score_weight": 10.0,
                                                     "offset_weight": 1.0})
    same = ("model", "width", "input_size", "crop_scale", "augment", "epochs", "batch_size", "lr", "stage")
    assert all(getattr(pip, k) == getattr(flat, k) for k in same)
    assert stage_spec(pip).head_args == {"neighbours": 10, "stride": 16}
    for bad, msg in [(["head_options.stride=8"], "head_options.stride must be 16 or 32"),
                     (["pip_neighbours=-1"], "0 or more"),  # the flat key of earlier configs still reads
                     (["head_options.score_weight=-1"], "must be >= 0"),
                     (["head_options.stride=32", "input_size=32"], "needs input_size >= 64"),
                     (["head_options.strides=32"], "unknown head_options key 'strides' for head=pip; did you mean "
                                                   "head_options.stride"),
                     (["head=flatten", "pip_stride=16"], "pip_stride is a setting of head=pip, and this config's "
                                                         "head is flatten")]:
        with pytest.raises(ConfigError, match=msg):
            load_config("Cas_Stage1_PIP_Aug_Wing", bad)
    with pytest.raises(ConfigError, match=r"below the number of points \(68\)"):  # known once the data's scheme is
        stage_spec(load_config("Cas_Stage1_PIP_Aug_Wing", ["head_options.neighbours=68"]))
    assert stage_spec(load_config("Cas_Stage1_PIP_Aug_Wing", ["head_options.neighbours=3"]), num_points=12).num_points == 12
    s2 = load_config("Cas_Stage2_Aug_Wing-S1_MSE", ["head=pip", "prev_heatmap=1.5"])
    with pytest.raises(ConfigError, match="outputs are absolute points"):
        stage_spec(s2, template=np.zeros((68, 2)))
    assert stage_spec(load_config("Cas_Stage2_Aug_Wing-S1_MSE", ["head=pip"]), np.zeros((68, 2))).residual is False


HEAD_CASES = {**{n: (n, {}) for n in list_heads()}, "pip": ("pip", {"stride": 16, "neighbours": 10}),
              "pip32": ("pip", {"stride": 32, "neighbours": 4})}


@pytest.mark.parametrize("name", list(HEAD_CASES))
def test_no_head_makes_host_tensors_or_syncs(name):
    """Every registered head, as a CUDA graph captures it (eval forward) and as a training step runs
    it (train forward + loss): no tensor from host data, no value read back (issue 22: PIP's
    decode made one per stage with new_tensor, its loss more with new_tensor and F.one_hot)."""
    from dispatch import Recorder

    head, head_args = HEAD_CASES[name]
    spec = StageSpec(width=0.25, head=head, input_size=64, head_args=head_args)
    model = filled(spec.build())
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    target = torch.rand(2, 68, 2, generator=torch.Generator().manual_seed(1)) * 1.8 - 0.9
    with torch.no_grad(), Recorder() as rec:
        model.eval()(x)
        model.infer(x)  # points and point scores, as the backends run it
    assert rec.host == [], f"{name} eval forward: {rec.host}"
    with Recorder() as rec:
        out = model.train()(x)
        terms = model.head.loss(out, target, **({"weight": 1.0} if head == "integral" else {}))
        (out.points.sum() + sum(terms.values())).backward()
    assert rec.host == [], f"{name} training forward, loss and backward: {rec.host}"


@pytest.mark.parametrize("stride", [16, 32])
def test_pip_exports_without_if_nodes_and_decodes_in_float32(tmp_path, stride):
    """No If nodes in the exported graph (a squeeze on a dimension the tracer cannot size made them:
    their branches broke the FP16-typed graph), and a float16 network still decodes in float32."""
    import onnx

    from facealign.formats.cascade_pt import load_cascade as load
    from facealign.formats.onnx_cascade import to_onnx

    spec = StageSpec(width=0.25, head="pip", input_size=64, head_args={"stride": stride, "neighbours": 6})
    model = filled(spec.build())
    save_cascade(tmp_path / "pip.pt", [spec], [model], half=False)
    graph = to_onnx(load(tmp_path / "pip.pt")).graph
    ops = {n.op_type for n in graph.node}
    assert "If" not in ops
    assert not ops & {"Expand", "Where", "Einsum", "GatherElements"}  # the shape arithmetic of the decode before
    assert sum(n.op_type == "Shape" for n in graph.node) <= 1  # Resize's, with stride 16
    onnx.checker.check_model(to_onnx(load(tmp_path / "pip.pt")), full_check=True)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        half = model.to(torch.bfloat16)(x.to(torch.bfloat16))  # the CPU's half type; CUDA graphs run float16
    assert half.dtype == torch.float32


def test_a_saved_config_from_before_head_options_still_loads():
    """Checkpoints of earlier runs saved every flat head key (pip_*, heatmap_*): read as head_options,
    those of another head dropped, so a run in progress resumes (its config compares equal)."""
    from facealign.training.config import from_dict, load_config, to_dict

    for name, options in [("Cas_Stage1_Aug_Wing", {}), ("Cas_Stage1_PIP_Aug_Wing", {"stride": 16, "neighbours": 10,
                                                                                       "score_weight": 10.0,
                                                                                       "offset_weight": 1.0})]:
        old = to_dict(load_config(name))
        old.pop("head_options")
        old.update(pip_stride=16, pip_neighbours=10, pip_score_weight=10.0, pip_offset_weight=1.0,
                   heatmap_weight=0.0, heatmap_sigma=1.0)
        assert from_dict(old) == load_config(name) and from_dict(old).head_options == options


@pytest.mark.parametrize("head_args", [{"stride": 16, "neighbours": 10}, {"stride": 32, "neighbours": 4},
                                       {"stride": 16, "neighbours": 0}])
def test_pip_infer_reads_the_cells_and_gives_what_the_full_maps_give(head_args):
    """infer() (what exports and backends run) computes the offset and neighbour maps at each point's
    argmax cell only (GridCodec.decode_at_cells); its points and scores are decode_scored()'s on the
    full maps, to float rounding, for filled weights and the shipped ones."""
    spec = StageSpec(width=0.25, head="pip", input_size=64, head_args=head_args)
    models = [(filled(spec.build()).eval(), 64)]
    for preset in ("fast", "accurate"):
        casc = load_cascade(Path(__file__).resolve().parents[1] / "weights" / f"{preset}.pt")
        models += [(m.eval(), s.input_size) for s, m in zip(casc.stages, casc.models())]
    for model, size in models:
        x = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(size))
        head = model.head
        with torch.no_grad():
            feats = model.features(x)
            feats = [feats[i] for i in head.features]
            points, scores = head.infer(feats)
            ref_points, ref_scores = head.codec.decode_scored(*head.maps(feats), head.neighbours, scores=head.scores)
        torch.testing.assert_close(points, ref_points, rtol=0, atol=1e-5)
        assert (scores is None) == (ref_scores is None)
        if scores is not None:
            torch.testing.assert_close(scores, ref_scores, rtol=0, atol=1e-5)
            assert (ref_scores < 0.99).any()  # real scores, not all ones
