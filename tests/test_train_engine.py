"""The training engine on real hardware paths: torchrun processes (gloo), EMA, checkpoints, devices, --bench."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.cli import main as cli
from facealign.formats.cascade_pt import load_cascade
from facealign.training.config import load_config
from facealign.training.data import split_faces
from facealign.training.losses import point_loss
from facealign.training.validate import validate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
TINY = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=48", "batch_size=16",
        "lr=0.003", "grid_every=1", "warmup_epochs=0.5"]
NAME = "raw_CNN_noAug_MSE"


@pytest.fixture(autouse=True)
def _needs_300w(w300):
    """Every test here trains on the real faces: without them each skips, saying which folder it wanted
    (the GPU test used to fail instead, its run ending on MissingDataError)."""


def _train(out, *extra):
    return cli(["train", NAME, *TINY, f"out={out}", "--data", str(DATA), *extra])


def _rows(out):
    return list(csv.DictReader(open(out / f"logs/{NAME}/metrics.csv")))


@pytest.mark.slow
def test_two_processes_write_one_run_lower_the_loss_and_resume(tmp_path, capsys):
    """`--nproc 2` starts torchrun: two gloo processes, one set of outputs, exact bookkeeping on resume."""
    assert _train(tmp_path, "epochs=3", "--nproc", "2", "--stop-after", "2") == 0
    assert [int(r["epoch"]) for r in _rows(tmp_path)] == [1, 2]
    assert _train(tmp_path, "epochs=3", "--nproc", "2", "--resume") == 0
    rows = _rows(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert sorted(p.name for p in (tmp_path / "checkpoints" / NAME).iterdir()) == ["best.pt", "last.pt"]
    assert len(list((tmp_path / "runs" / NAME).iterdir())) == 1  # one TensorBoard run, continued
    log = (tmp_path / f"logs/{NAME}/train.log").read_text()
    assert "2 process(es)" in log and log.count("resumed") == 1
    assert log.count("epoch 3/3") == 1  # rank 1 wrote nothing
    ck = torch.load(tmp_path / f"checkpoints/{NAME}/last.pt", weights_only=False)
    assert ck["epoch"] == 3 and len(ck["history"]) == 3
    assert "launching:" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_print_what_one_does(tmp_path):
    """`--nproc 2` without --verbose: the launch line to copy (interpreter and OMP_NUM_THREADS), no
    torchrun banner, prefixed epoch lines, no info lines or config dict (those come with --verbose)."""
    base = [sys.executable, "-m", "facealign", "train", NAME, *TINY, "epochs=1", "max_train=32", "workers=0",
            "--data", str(DATA), "--nproc", "2"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    quiet = subprocess.run([*base, f"out={tmp_path / 'q'}"], capture_output=True, text=True, timeout=300, env=env)
    text = quiet.stdout + quiet.stderr
    assert quiet.returncode == 0, text[-3000:]
    launch = next(line for line in quiet.stdout.splitlines() if line.startswith("launching: "))
    assert launch.startswith("launching: OMP_NUM_THREADS=") and f" {sys.executable} -m torch.distributed.run " in launch
    assert "Setting OMP_NUM_THREADS" not in text and "*****" not in text
    assert "facealign.train: epoch 1/1" in quiet.stderr
    assert "training raw_CNN_noAug_MSE: {" not in text and "INFO" not in text and "process(es)" not in text
    loud = subprocess.run([*base, f"out={tmp_path / 'v'}", "--verbose"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert "facealign.train: training raw_CNN_noAug_MSE: {" in loud.stderr and "2 process(es)" in loud.stderr


def test_torchrun_itself_runs_the_module(tmp_path):
    """The launcher users type: `torchrun --nproc_per_node 2 -m train CONFIG ...`."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "train",
           NAME, *TINY, "epochs=1", "max_train=32", f"out={tmp_path}", "--data", str(DATA)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("best validation NME") == 1  # rank 0 alone reports
    assert len(_rows(tmp_path)) == 1


def test_ema_weights_are_what_a_run_validates_and_keeps(tmp_path, w300):
    assert _train(tmp_path, "epochs=1", "ema=0.99") == 0
    last = torch.load(tmp_path / f"checkpoints/{NAME}/last.pt", weights_only=False)
    best = load_cascade(tmp_path / f"checkpoints/{NAME}/best.pt")
    for k, v in last["ema"].items():
        assert torch.equal(best.state_dicts[-1][k], v), k
    differ = [k for k, v in last["model"].items() if v.is_floating_point() and not torch.equal(v, last["ema"][k])]
    assert "fc.weight" in differ
    # the validation NME in the log is the EMA weights' NME
    cfg = load_config(NAME, [*TINY, f"data={w300}"])
    val = split_faces(cfg)[1]
    models = best.models()
    nme, loss = validate(best.stages, models, val, torch.device("cpu"), point_loss(cfg))
    row = _rows(tmp_path)[0]
    assert nme == pytest.approx(float(row["val_nme"]), rel=1e-4)
    assert loss == pytest.approx(float(row["val_loss"]), rel=1e-4)


def test_a_checkpoint_stores_each_tensor_once(tmp_path):
    assert _train(tmp_path, "epochs=1") == 0
    path = tmp_path / f"checkpoints/{NAME}/last.pt"
    ck = torch.load(path, weights_only=False)
    cascade = ck["cascade"]["state_dicts"][-1]
    for k, v in ck["ema"].items():  # the cascade entry *is* the EMA weights: one storage
        assert cascade[k].untyped_storage().data_ptr() == v.untyped_storage().data_ptr(), k

    def nbytes(sd):
        return sum(v.numel() * v.element_size() for v in sd.values())

    weights = nbytes(ck["model"])
    moments = sum(t.numel() * t.element_size() for s in ck["state"]["optimizer"]["state"].values()
                  for t in s.values() if torch.is_tensor(t))
    assert path.stat().st_size < 1.05 * (2 * weights + moments) + 200_000  # raw + EMA + Adam, nothing twice
    best = tmp_path / f"checkpoints/{NAME}/best.pt"
    assert best.stat().st_size < 1.05 * weights + 200_000  # the cascade alone
    assert "optimizer" not in str(torch.load(best, weights_only=False).keys())


def test_mixed_precision_bf16_trains_on_the_cpu(tmp_path):
    assert _train(tmp_path, "epochs=2", "amp=bf16", "channels_last=true") == 0
    rows = _rows(tmp_path)
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    log = (tmp_path / f"logs/{NAME}/train.log").read_text()
    assert "precision bf16" in log and "1 process(es), DDP over none" in log  # no torchrun: a plain process


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a CUDA GPU")
def test_a_device_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    assert _train(tmp_path, "epochs=1", "device=cuda") == 2
    err = capsys.readouterr().err
    assert "device=cuda: torch sees no CUDA GPU" in err and "device=cpu" in err
    assert not (tmp_path / "logs").exists()  # nothing was loaded or written
    assert _train(tmp_path, "epochs=1", "device=cpu", "sync_bn=true", "--nproc", "2") == 2
    assert "sync_bn=true needs CUDA" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_trains_with_auto_mixed_precision(tmp_path):
    assert _train(tmp_path, "epochs=2", "device=cuda", "channels_last=true", "workers=2") == 0
    log = (tmp_path / f"logs/{NAME}/train.log").read_text()
    assert "on cuda:0" in log and ("precision bf16" in log or "precision fp16" in log)
    rows = _rows(tmp_path)
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])


def test_bench_prints_throughput_and_writes_nothing(tmp_path, capsys):
    assert _train(tmp_path, "--bench", "4") == 0
    out = capsys.readouterr().out
    assert "images/s" in out and "data wait" in out and "ms a step" in out
    assert not any(tmp_path.iterdir())


def test_a_checkpoint_from_before_ema_resumes(tmp_path):
    """last.pt as the single-process engine wrote it (optimizer/scheduler at the top, no EMA)."""
    assert _train(tmp_path, "epochs=2", "--stop-after", "1") == 0
    path = tmp_path / f"checkpoints/{NAME}/last.pt"
    ck = torch.load(path, weights_only=False)
    state = ck.pop("state")
    ck.pop("ema")
    ck.update(optimizer=state["optimizer"], scheduler=state["scheduler"])
    torch.save(ck, path)
    assert _train(tmp_path, "epochs=2", "--resume") == 0
    assert [int(r["epoch"]) for r in _rows(tmp_path)] == [1, 2]
    resumed = torch.load(path, weights_only=False)
    assert resumed["epoch"] == 2 and resumed["ema"] is not None  # the average starts from the raw weights


def test_one_process_under_torchrun_trains_in_real_ddp(tmp_path, capsys):
    """`--nproc 1` starts torchrun with one process, which joins a real (gloo) process group and trains
    in DistributedDataParallel (world 1 used to skip the group: "DDP on one GPU" tested nothing);
    `--bench` reduces its figures over that group, on the process's device."""
    assert _train(tmp_path, "epochs=1", "--nproc", "1") == 0
    assert "launching:" in capsys.readouterr().out
    assert "1 process(es), DDP over gloo" in (tmp_path / f"logs/{NAME}/train.log").read_text()
    figures = tmp_path / "bench.json"
    assert _train(tmp_path / "bench", "--bench", "2", "--nproc", "1", "--bench-json", str(figures)) == 0
    r = json.loads(figures.read_text())
    assert r["ddp"] == "gloo" and r["processes"] == 1 and r["images_per_s"] > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_more_processes_than_gpus_is_an_error_before_launch(tmp_path, capsys):
    n = torch.cuda.device_count() + 1
    assert _train(tmp_path, "epochs=1", "device=cuda", "--nproc", str(n)) == 2
    out = capsys.readouterr()
    assert f"{n} training processes on this machine take one CUDA GPU each" in out.err
    assert "launching:" not in out.out and not (tmp_path / "logs").exists()


def test_a_diverged_run_stops_with_the_clear_error(tmp_path):
    """The sweep records a diverged cell by this error; the check is batched (no sync per step) but
    still stops the run before its epoch is validated or saved."""
    with pytest.raises(FloatingPointError, match=r"the loss became (nan|inf) in epoch 1; lower lr=1e\+30"):
        _train(tmp_path, "epochs=2", "lr=1e30")
    assert not list((tmp_path / "checkpoints").rglob("*.pt"))  # nothing saved from a diverged epoch


@pytest.mark.parametrize("views", [1, 2])
def test_a_stage2_training_step_waits_for_nothing(w300, views):
    """One stage-2 step as the engine runs it (crops cut through stage 1 on the device, forward, loss,
    backward, optimiser, EMA): no value read back, no tensor made from host data (issue 22: the loss's
    finiteness check, stage 2's matrix inverses, the warp's scale and the residual template did).
    SGD: Adam's step counters live on the CPU and are read there, which is no device sync. views=2:
    with the second, moved view of each face and the consistency term (training/consistency.py)."""
    from dispatch import Recorder

    from facealign.data.dataset import load_split
    from facealign.models import StageSpec, mean_template
    from facealign.training.data import context_size
    from facealign.training.devices import Precision
    from facealign.training.inputs import Stage2Inputs
    from facealign.training.step import Step
    from facealign.transform import CropTransform

    cpu = torch.device("cpu")
    spec1 = StageSpec(width=0.25, head="flatten", input_size=64)
    template = mean_template(load_split("common", w300).points()[:50], 64, 1.25)
    spec2 = StageSpec(width=0.25, head="flatten", input_size=64, crop="points", crop_scale=1.25,
                      template=template.tolist(), residual=True)
    side = context_size([(64, spec1.crop_scale), (64, 1.25)])
    box = np.array([0.3, 0.3, 0.7, 0.7]) * side
    rng = np.random.default_rng(0)
    batch = {"image": torch.from_numpy(rng.integers(0, 255, (4, side, side, 3), dtype=np.uint8)),
             "to_crop1": torch.from_numpy(np.repeat(CropTransform.from_box(box, 64, spec1.crop_scale).matrix[None], 4, 0)
                                          .astype(np.float32)),
             "pts": torch.from_numpy(rng.uniform(0.3 * side, 0.7 * side, (4, 68, 2)).astype(np.float32))}
    inputs = Stage2Inputs(spec1.build().eval(), spec1, spec2, cpu, views=views)
    two_views = ["stage=2", "stage1=unused.pt", "consistency=0.1"] if views == 2 else []
    cfg = load_config(None, ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "optimizer=sgd",
                             "ema=0.99", "loss=wing", *two_views])
    step = Step(spec2.build(), spec2, cfg, cpu, Precision("off"), 10)
    step(*inputs(batch))  # the first step makes the optimiser's state
    assert ("consistency" in step.last_terms) == (views == 2)
    with Recorder() as rec:
        for _ in range(2):
            loss = step(*inputs(batch))
    assert rec.host == [] and torch.isfinite(loss)


def test_an_epoch_reads_its_loss_once_per_check(w300):
    """The loop sums the loss on the device and reads it every CHECK_EVERY steps and at the end (here
    3 steps: once); it made a tensor from a host count and read the loss back at every step before."""
    from collections import Counter

    from dispatch import Recorder

    from facealign.training.engine import Trainer

    cfg = load_config(NAME, [*TINY, "workers=0", "optimizer=sgd", f"data={w300}"])
    trainer = Trainer(cfg, write=False)
    with Recorder() as loader:  # what the loader does in this process (workers=0): collate
        batches = len(list(trainer.batches()))
    with Recorder() as epoch:
        trainer.train_epoch()
    extra = Counter(epoch.host) - Counter(loader.host)
    assert batches == 3 and extra["lift_fresh"] == 0 and extra["_local_scalar_dense"] <= 1, extra


def test_the_gpu_scripts_ddp_step_runs_under_torchrun_with_gloo():
    """tools/gpu_check.py's ddp-nccl child, on the CPU: torchrun --nproc_per_node 1, a real process group,
    one DDP step on a synthetic batch (training/synthetic.py), all-reduces of a device and a CPU tensor."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           str(root / "tools" / "gpu_check.py"), "--ddp-child", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    assert (r["backend"], r["world"], r["net"], r["cpu_sum"]) == ("gloo", 1, "DistributedDataParallel", [3.0, 4.0])
    assert np.isfinite(r["loss"])


@pytest.mark.parametrize("stage", [1, 2])
def test_synthetic_steps_train_both_stages(stage):
    """training/synthetic.py, which the GPU script times: a real step of accurate's stage (stage 2 through
    the frozen weights/accurate.pt stage 1) on a synthetic batch: finite losses, weights that move."""
    from facealign.training.synthetic import synthetic_setup

    root = Path(__file__).resolve().parents[1]
    common = ["model=resnet18", "width=0.5", "head=flatten", "loss=wing", "batch_size=2", "device=cpu", "lr=0.01",
              "warmup_epochs=0", "ema=0"]
    extra = ["input_size=128"] if stage == 1 else ["stage=2", "input_size=160", f"stage1={root / 'weights/accurate.pt'}"]
    step, inputs, batch = synthetic_setup(load_config(None, common + extra))
    assert batch["image"].dtype == torch.uint8
    before = [p.detach().clone() for p in step.model.parameters()]
    losses = [float(step(*inputs(batch))) for _ in range(2)]
    assert all(np.isfinite(losses)), losses
    assert any(not torch.equal(a, b) for a, b in zip(before, step.model.parameters()))


def test_amp_auto_on_a_cpu_takes_bf16_where_it_was_measured_faster():
    """docs/training.md: bf16 ran 1.11-1.58x float32 at batch 32 on AVX512-BF16 cores, 0.94x at batch 4."""
    from facealign.training.devices import cpu_has_bf16, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, 32).name == ("bf16" if cpu_has_bf16() else "off")
    assert resolve_precision("auto", cpu, 4).name == "off"
    assert resolve_precision("off", cpu, 32).name == "off" and resolve_precision("bf16", cpu, 4).name == "bf16"


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_the_fused_optimiser_steps_as_the_one_tensor_at_a_time_one(optimizer):
    """make_optimizer takes torch's fused version where there is one (a third of the CPU time): the
    same weights after a few steps as the reference implementation, to float32 rounding."""
    from facealign.training.config import Config
    from facealign.training.step import make_optimizer

    torch.manual_seed(0)
    cfg = Config(optimizer=optimizer, lr=0.05, weight_decay=1e-4)
    nets = [torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    fused = make_optimizer(nets[0], cfg)
    assert fused.param_groups[0]["fused"] is True
    ref_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.AdamW
    ref_kw = dict(momentum=cfg.momentum, nesterov=True) if optimizer == "sgd" else {}
    ref = ref_cls(nets[1].parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=False, **ref_kw)
    start = [p.detach().clone() for p in nets[0].parameters()]
    x, y = torch.randn(32, 8), torch.randn(32, 2)
    for _ in range(5):
        for net, opt in zip(nets, (fused, ref)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            opt.step()
    for a, b, a0 in zip(nets[0].parameters(), nets[1].parameters(), start):
        assert (a - a0).abs().max() > 1e-3  # it trained
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_checkpoint_of_the_one_tensor_optimiser_resumes_fused(tmp_path):
    """Checkpoints written before the fused optimisers (their param groups say fused=None) resume, and
    the resumed run steps fused: loading must not put the slow implementation back."""
    assert _train(tmp_path, "epochs=2", "--stop-after", "1") == 0
    path = tmp_path / f"checkpoints/{NAME}/last.pt"
    ck = torch.load(path, weights_only=False)
    for group in ck["state"]["optimizer"]["param_groups"]:
        group["fused"] = None
    torch.save(ck, path)
    from facealign.training.engine import Trainer

    t = Trainer(load_config(NAME, [*TINY, f"out={tmp_path}", "epochs=2"]), DATA, resume=True)
    assert t.epoch == 1 and all(g["fused"] is True for g in t.step.opt.param_groups)
    assert _train(tmp_path, "epochs=2", "--resume") == 0
    assert [int(r["epoch"]) for r in _rows(tmp_path)] == [1, 2]


def test_the_ema_is_the_decayed_average():
    from facealign.training.ema import ModelEMA

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    ema = ModelEMA(net, 0.9)
    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net[1].num_batches_tracked += 3
    ema.update(net)
    d = min(0.9, 2 / 11)
    torch.testing.assert_close(ema.module[0].weight, d * start["0.weight"] + (1 - d) * net[0].weight)
    assert int(ema.module[1].num_batches_tracked) == 3


# TensorBoard's own writer thread fails on the deleted folder too (its exception, not ours): expected here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_run_whose_tensorboard_folder_is_deleted_trains_on(tmp_path, caplog):
    """TensorBoard's folder removed under a running training (a cleanup's glob caught it: it happened to
    a queue run) stops the TensorBoard logging with a warning; the epochs, metrics.csv and the
    checkpoints go on (the run crashed at its next epoch before)."""
    import shutil

    from facealign.training.engine import Trainer
    from facealign.training.hooks import Hook

    class DeleteTensorBoard(Hook):
        def after_epoch(self, trainer, row):
            if trainer.epoch == 1:
                shutil.rmtree(trainer.files.runs_dir)

    cfg = load_config(NAME, [*TINY, "epochs=3", "workers=0", f"out={tmp_path}", f"data={DATA}"])
    with caplog.at_level("WARNING", logger="facealign.train"):
        result = Trainer(cfg, hooks=[DeleteTensorBoard()]).fit()
    assert result.epochs == 3 and len(_rows(tmp_path)) == 3
    assert torch.load(tmp_path / f"checkpoints/{NAME}/last.pt", weights_only=False)["epoch"] == 3
    assert "TensorBoard logging stopped" in caplog.text
