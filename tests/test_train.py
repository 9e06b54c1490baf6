"""Config schema and short real training runs on the shared 300-W faces."""
import csv
import subprocess
import sys
import json
import shutil
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.cli import main as cli
from facealign.training.config import ConfigError, list_configs, load_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
TINY = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=48", "batch_size=16", "workers=0",
        "lr=0.003", "grid_every=1", "warmup_epochs=0.5"]


def test_study_configs_exist_and_load():
    names = set(list_configs())
    for n in ["raw_CNN_noAug_MSE", "Cas_Stage1_Aug_MSE", "Cas_Stage1_Aug_L1", "Cas_Stage1_Aug_SmoothL1",
              "Cas_Stage1_Aug_Wing", "Cas_Stage2_Aug_Wing-S1_MSE"]:
        assert n in names
        cfg = load_config(n)
        assert cfg.name == n
    assert load_config("raw_CNN_noAug_MSE").augment.enabled is False
    assert load_config("Cas_Stage2_Aug_Wing-S1_MSE").stage == 2


def test_overrides_are_validated():
    cfg = load_config("raw_CNN_noAug_MSE", ["epochs=3", "lr=0.01", "augment.flip=0", "augment=true"])
    assert (cfg.epochs, cfg.lr, cfg.augment.flip, cfg.augment.enabled) == (3, 0.01, 0.0, True)
    with pytest.raises(ConfigError, match="unknown config key 'epoch'"):
        load_config("raw_CNN_noAug_MSE", ["epoch=3"])
    with pytest.raises(ConfigError, match="expected int"):
        load_config("raw_CNN_noAug_MSE", ["epochs=many"])
    with pytest.raises(ConfigError, match="resnet18"):
        load_config("raw_CNN_noAug_MSE", ["model=vgg"])
    with pytest.raises(ConfigError, match="no such config"):
        load_config("no_such_experiment")


def _train(out, *extra):
    return cli(["train", "raw_CNN_noAug_MSE", *TINY, f"out={out}", "--data", str(DATA), *extra])


def test_short_training_lowers_the_loss_and_writes_outputs(tmp_path):
    assert _train(tmp_path, "epochs=3") == 0
    rows = list(csv.DictReader(open(tmp_path / "logs/raw_CNN_noAug_MSE/metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    for f in ["checkpoints/raw_CNN_noAug_MSE/last.pt", "checkpoints/raw_CNN_noAug_MSE/best.pt",
              "logs/raw_CNN_noAug_MSE/train.log"]:
        assert (tmp_path / f).is_file(), f
    events = list((tmp_path / "runs/raw_CNN_noAug_MSE").glob("*/events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # scalars and a face grid
    ck = torch.load(tmp_path / "checkpoints/raw_CNN_noAug_MSE/last.pt", weights_only=False)
    assert ck["epoch"] == 3 and ck["config"]["input_size"] == 64 and "val_nme" in ck["metrics"]


def test_resume_continues_exactly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _train(a, "epochs=3") == 0
    assert _train(b, "epochs=3", "--stop-after", "2") == 0  # a run stopped after two epochs ...
    assert _train(b, "epochs=3", "--resume") == 0  # ... continued
    ca = torch.load(a / "checkpoints/raw_CNN_noAug_MSE/last.pt", weights_only=False)
    cb = torch.load(b / "checkpoints/raw_CNN_noAug_MSE/last.pt", weights_only=False)
    assert cb["epoch"] == 3 and [h["epoch"] for h in cb["history"]] == [1, 2, 3]
    assert len(list((b / "runs/raw_CNN_noAug_MSE").iterdir())) == 1  # one TensorBoard run, continued
    for part in ("model", "ema"):
        for k, v in ca[part].items():
            torch.testing.assert_close(cb[part][k], v, rtol=1e-4, atol=1e-5, msg=f"{part} {k} differs after resume")


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert _train(tmp_path, "epochs=1", "--resume") == 2
    assert "start without --resume" in capsys.readouterr().err


def test_a_second_run_never_replaces_the_first(tmp_path, capsys):
    assert _train(tmp_path, "epochs=1") == 0
    ckpts = tmp_path / "checkpoints/raw_CNN_noAug_MSE"
    before = {p.name: p.read_bytes() for p in ckpts.iterdir()}
    metrics = (tmp_path / "logs/raw_CNN_noAug_MSE/metrics.csv").read_text()
    assert _train(tmp_path, "epochs=1", "seed=1") == 2
    err = capsys.readouterr().err
    assert all(choice in err for choice in ("--resume", "--overwrite", "name="))
    assert {p.name: p.read_bytes() for p in ckpts.iterdir()} == before
    assert (tmp_path / "logs/raw_CNN_noAug_MSE/metrics.csv").read_text() == metrics
    assert _train(tmp_path, "epochs=1", "seed=1", "--overwrite") == 0
    assert (ckpts / "last.pt").read_bytes() != before["last.pt"]
    assert len(list((tmp_path / "runs/raw_CNN_noAug_MSE").iterdir())) == 1  # the old TensorBoard run went too


def test_init_from_fine_tunes_an_earlier_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _train(a, "epochs=3") == 0
    ck = a / "checkpoints/raw_CNN_noAug_MSE/last.pt"
    assert _train(b, "epochs=1", f"init_from={ck}") == 0

    def first_loss(out):
        return float(next(csv.DictReader(open(out / "logs/raw_CNN_noAug_MSE/metrics.csv")))["loss"])

    assert first_loss(b) < first_loss(a)  # it went on from where run a got to
    assert f"starts from the weights in {ck}" in (b / "logs/raw_CNN_noAug_MSE/train.log").read_text()
    with pytest.raises(ValueError, match="another network"):
        _train(tmp_path / "c", "epochs=1", f"init_from={ck}", "width=0.5")


def test_short_stage2_training_and_eval_json(tmp_path):
    """Stage 2 on a frozen stage 1, then `facealign eval` reports both stages."""
    assert _train(tmp_path, "epochs=1") == 0
    s1 = tmp_path / "checkpoints/raw_CNN_noAug_MSE/last.pt"
    assert cli(["train", "Cas_Stage2_Aug_Wing-S1_MSE", *TINY, f"stage1={s1}", "epochs=2", f"out={tmp_path}",
                "--data", str(DATA)]) == 0
    s2 = tmp_path / "checkpoints/Cas_Stage2_Aug_Wing-S1_MSE/last.pt"
    rows = list(csv.DictReader(open(tmp_path / "logs/Cas_Stage2_Aug_Wing-S1_MSE/metrics.csv")))
    assert len(rows) == 2
    out = tmp_path / "eval.json"
    assert cli(["eval", str(s2), "--data", str(DATA), "--json", str(out), "--plot", str(tmp_path / "ced.png")]) == 0
    res = json.loads(out.read_text())["common"]
    assert res["n"] == 554 and set(res) >= {"n", "nme", "fr", "auc", "stages", "missed", "skipped"}
    assert [st["stage"] for st in res["stages"]] == [1, 2] and res["stages"][-1]["nme"] == res["nme"]
    assert 0 < res["nme"] < 100 and 0 <= res["fr"] <= 100 and 0 <= res["auc"] <= 1
    assert (tmp_path / "ced.png").stat().st_size > 10000


def test_stage2_at_another_input_size_starts_from_stage1_backbone(tmp_path):
    assert _train(tmp_path, "epochs=1") == 0
    s1 = tmp_path / "checkpoints/raw_CNN_noAug_MSE/last.pt"
    assert cli(["train", "Cas_Stage2_Aug_Wing-S1_MSE", *TINY, "input_size=96", f"stage1={s1}", "epochs=1",
                f"out={tmp_path}", "--data", str(DATA)]) == 0
    log = (tmp_path / "logs/Cas_Stage2_Aug_Wing-S1_MSE/train.log").read_text()
    assert "starts from stage 1's backbone" in log
    ck = torch.load(tmp_path / "checkpoints/Cas_Stage2_Aug_Wing-S1_MSE/last.pt", weights_only=False)
    assert [s["input_size"] for s in ck["cascade"]["stages"]] == [64, 96]


def test_integral_stage2_trains_from_stage1_backbone_and_exports(tmp_path):
    """A soft-argmax stage 2 with the heatmap loss: starts from stage 1's backbone, its loss
    falls, it exports to ONNX (the exporter checks torch against onnxruntime itself)."""
    assert _train(tmp_path, "epochs=1") == 0
    s1 = tmp_path / "checkpoints/raw_CNN_noAug_MSE/last.pt"
    assert cli(["train", "Cas_Stage2_Integral_Aug_Wing-S1_Wing", *TINY, "head=integral", "heatmap_weight=1",
                f"stage1={s1}", "epochs=2", "lr=0.01", f"out={tmp_path}", "--data", str(DATA)]) == 0
    ck = torch.load(tmp_path / "checkpoints/Cas_Stage2_Integral_Aug_Wing-S1_Wing/last.pt", weights_only=False)
    s1_sd = torch.load(s1, weights_only=False)["model"]
    stages = ck["cascade"]["stages"]
    assert stages[1]["head"] == "integral" and stages[1]["residual"] is False
    assert not torch.equal(ck["model"]["stem.0.weight"], s1_sd["stem.0.weight"])  # trained on from there
    assert "starts from stage 1's backbone" in (tmp_path / "logs/Cas_Stage2_Integral_Aug_Wing-S1_Wing/train.log").read_text()
    rows = list(csv.DictReader(open(tmp_path / "logs/Cas_Stage2_Integral_Aug_Wing-S1_Wing/metrics.csv")))
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    onnx = tmp_path / "int.onnx"
    assert cli(["export", str(tmp_path / "checkpoints/Cas_Stage2_Integral_Aug_Wing-S1_Wing/last.pt"),
                "--format", "onnx", "-o", str(onnx)]) == 0
    assert onnx.stat().st_size > 100000


def test_sweep_grids_follow_the_study(capsys):
    from facealign.training.sweep import cells, grid_of, grids, run_name, split_seed

    batch = cells("batch")
    assert [c.name for c in batch] == [f"sweep_batch_bs{b}" for b in (2, 4, 8, 16, 32)]
    # the study's optimiser, learning rate and loss scale in every cell
    assert all({"optimizer=sgd", "loss_units=unit", "lr=0.3"} <= set(c.overrides) for c in batch)
    assert grids() == ["batch", "batch_steps", "lr", "wing_batch", "depth_loss", "cascade"]
    assert [len(cells(g)) for g in grids()] == [5, 4, 6, 5, 15, 6]  # the study's 36 cells and 5 controls
    # equal optimiser steps: epochs scale with the batch, batch 4 at the budget's own (none under it)
    assert [c.epochs_scale for c in cells("batch_steps")] == [1, 2, 4, 8]
    cascade = cells("cascade", "study", seed=2)
    assert [c.name for c in cascade] == ["Cas_Stage1_Aug_L1", "Cas_Stage1_Aug_MSE", "Cas_Stage1_Aug_SmoothL1",
                                         "Cas_Stage1_Aug_Wing", "Cas_Stage2_Aug_Wing-S1_MSE", "Cas_Stage1_Aug_MSE-long"]
    assert cascade[4].overrides == ("stage1=study/checkpoints/Cas_Stage1_Aug_MSE_s2/best.pt",)  # its seed's stage 1
    assert (cascade[5].base, cascade[5].epochs_scale) == ("Cas_Stage1_Aug_MSE", 2.0)  # stage 1 + stage 2's epochs
    assert run_name("sweep_lr_lr0.3", 0) == "sweep_lr_lr0.3" and split_seed("sweep_lr_lr0.3_s2") == ("sweep_lr_lr0.3", 2)
    assert grid_of("sweep_depth_loss_resnet50_l1") == "depth_loss" and grid_of("Cas_Stage1_Aug_Wing") == "cascade"
    assert grid_of("sweep_batch_steps_bs8_s1") == "batch_steps" and grid_of("Cas_Stage1_Aug_MSE-long_s2") == "cascade"
    assert grid_of("abl_s1_pip") is None
    assert cli(["sweep", "lr", "epochs=1", "input_size=64", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("sweep_lr_lr") == 6


def _throughput(path):
    """A throughput table: the study's ResNet-18 at 64 px, batch 32, 100 images/s (a row with its overrides),
    and ResNet-50's, 50 images/s, named only (as python -m facealign.training.throughput names its rows)."""
    rows = [{"workload": "R18 64px b32", "variant": "fp32", "images_per_s": 100.0,
             "overrides": ["raw_CNN_noAug_MSE", "input_size=64", "batch_size=32", "optimizer=sgd", "lr=0.3"]},
            {"workload": "R50 64px b32", "variant": "fp32", "images_per_s": 50.0}]
    path.write_text(json.dumps({"steps": 24, "rows": rows}))
    return path


def test_sweep_dry_run_states_each_runs_budget_steps_and_time(tmp_path, capsys):
    table = _throughput(tmp_path / "throughput.json")
    assert cli(["sweep", "batch_steps", "epochs=20", "input_size=64", f"out={tmp_path}", "--seeds", "0,1",
                "--data", str(DATA), "--throughput", str(table), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    lines = [line.strip() for line in out.splitlines() if line.startswith("  sweep_")]
    assert len(lines) == 8 and lines[0].startswith("sweep_batch_steps_bs4: 20 epochs, 64 px, batch 4, lr 0.3")
    assert lines[7].startswith("sweep_batch_steps_bs32_s1: 160 epochs, 64 px, batch 32, lr 0.3, resnet18, sgd, "
                               "loss mse, seed 1")
    steps = [int(line.split(" steps")[0].rsplit(", ", 1)[1]) for line in lines]
    assert steps[0] == 20 * 453 and max(steps) - min(steps) < 0.01 * steps[0]  # 1,813 faces: equal steps
    # 160 epochs x (1,813 + 201 / 3 faces) at 100 images/s, measured on this very workload: 50.1 min
    assert "sweep_batch_steps_bs32: 160 epochs" in out and "seed 0, 9120 steps, ~50.1 min" in out
    assert "total: 8 run(s)" in out and "estimated from" in out and "WARNING" not in err
    assert cli(["sweep", "depth_loss", "epochs=20", "input_size=64", "--cell", "sweep_depth_loss_resnet50_mse",
                "--data", str(DATA), "--throughput", str(table), "--dry-run"]) == 0
    assert "resnet50, sgd, loss mse, seed 0, 1140 steps, ~12.5 min" in capsys.readouterr().out  # 20 x 1880 / 50 s
    assert cli(["sweep", "cascade", "epochs=20", "input_size=64", f"out={tmp_path}", "--seeds", "1",
                "--cell", "Cas_Stage1_Aug_MSE-long", "--data", str(DATA), "--dry-run",
                "--throughput", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "Cas_Stage1_Aug_MSE-long_s1: 40 epochs, 64 px, batch 32" in out and "no estimate: run python -m" in out
    # no budget on the command line: said loudly
    assert cli(["sweep", "lr", "--dry-run", "--data", str(DATA)]) == 0
    assert "WARNING: no epochs= and no input_size= given" in capsys.readouterr().err
    assert cli(["sweep", "lr", "epochs=1", "--cell", "sweep_lr_lr9", "--dry-run"]) == 2
    assert "not a cell of lr" in capsys.readouterr().err
    assert cli(["sweep", "lr", "epochs=1", "seed=3", "--dry-run"]) == 2


def _plant_log(out, cfg, seconds):
    """OUT/logs/<cfg.name>/ as a training writes it: config.json and metrics.csv, epoch i taking seconds[i]."""
    from facealign.training.config import to_dict

    folder = Path(out) / "logs" / cfg.name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
    with open(folder / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "val_nme", "val_loss", "lr", "images_per_s", "seconds"])
        w.writerows([e, 0.01, 15.0, 0.01, 0.3, 1813 / s, s] for e, s in enumerate(seconds, 1))


def test_sweep_dry_run_estimates_from_the_runs_logged_under_out(tmp_path, capsys):
    """The batch grid at two seeds over planted logs: batch 2 seed 0 finished (100 s epochs, one paused
    for 900 s), batch 4 seed 1 five epochs in (60 s). Batches 2 and 4 are measured on their cell, the
    others fitted through those two; the total counts only the time still to run."""
    from facealign.training.budget import duration
    from facealign.training.sweep import plan

    budget = ["epochs=20", "input_size=64", "threads=1", f"out={tmp_path}"]
    runs = {r.name: r.cfg for r in plan("batch", budget, [0, 1])}
    _plant_log(tmp_path, runs["sweep_batch_bs2"], [100.0] * 19 + [900.0])
    _plant_log(tmp_path, runs["sweep_batch_bs4_s1"], [60.0] * 5)
    assert cli(["sweep", "batch", *budget, "--seeds", "0,1", "--data", str(DATA),
                "--throughput", str(_throughput(tmp_path / "throughput.json")), "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("  sweep_")}
    assert lines["sweep_batch_bs2"].endswith("18120 steps, ~33.3 min (measured: 100.0 s/epoch, the median of 20 "
                                             "epoch(s) of sweep_batch_bs2); finished (20 of 20 epochs), counted 0")
    assert lines["sweep_batch_bs2_s1"].endswith("~33.3 min (measured: 100.0 s/epoch, the median of 20 epoch(s) of "
                                                "sweep_batch_bs2)")
    assert lines["sweep_batch_bs4_s1"].endswith("~20.0 min (measured: 60.0 s/epoch, the median of 5 epoch(s) of "
                                                "sweep_batch_bs4_s1); 5 of 20 epochs done, ~15.0 min left")
    assert "~20.0 min (measured: 60.0 s/epoch" in lines["sweep_batch_bs4"] and "left" not in lines["sweep_batch_bs4"]
    # through (906 steps, 100 s) and (453 steps, 60 s) at 1,880 images an epoch: 40/453 s a step, 20 s the images
    fitted = {steps: 40 / 453 * steps + 20 for steps in (227, 114, 57)}  # batch 8, 16, 32
    for name, steps in (("sweep_batch_bs8", 227), ("sweep_batch_bs16_s1", 114), ("sweep_batch_bs32", 57)):
        assert f"~{20 * fitted[steps] / 60:.1f} min (fitted on batch 2, 4: 88 ms/step x {steps} steps" in lines[name]
    left = 0 + 2000 + 1200 + 900 + 2 * 20 * sum(fitted.values())  # batch 2 (finished, then seed 1), 4, 4 s1, the fits
    assert (f"total: 10 run(s), 70280 optimiser steps; ~{duration(left)} still to run, one run at a time, estimated "
            f"from: 4 measured (runs of the same cell), 6 fitted") in out
    assert "0 from the throughput table; 1 finished (counted 0), 1 partly done (their time left)" in out


def test_a_study_grid_runs_with_seeds_and_reports_as_json_and_plots(tmp_path, capsys):
    """Two cells of the wing_batch grid x two seeds at a one-epoch budget on 48 faces: real trainings on the
    study's scale, then `facealign report --json --plots`, then the same document rebuilt from the copies."""
    budget = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=48", "workers=0", "epochs=1",
              f"out={tmp_path}"]
    cells = ["--cell", "sweep_wing_batch_bs4", "--cell", "sweep_wing_batch_bs8"]
    kept = tmp_path / "kept"  # each run's result and small files as soon as it finishes
    assert cli(["sweep", "wing_batch", *budget, *cells, "--seeds", "0,1", "--data", str(DATA), "--keep", str(kept)]) == 0
    assert sorted(p.name for p in kept.iterdir()) == ["sweep_wing_batch_bs4", "sweep_wing_batch_bs4_s1",
                                                      "sweep_wing_batch_bs8", "sweep_wing_batch_bs8_s1"]
    assert json.loads((kept / "sweep_wing_batch_bs8_s1/test.json").read_text())["n"] == 554
    assert not list(kept.rglob("*.pt"))
    assert cli(["sweep", "wing_batch", *budget, *cells, "--seeds", "0,1", "--resume", "--data", str(DATA)]) == 0
    assert "sweep_wing_batch_bs8_s1: done (1 epochs)" in capsys.readouterr().out  # resumed: nothing to do
    longer = [b if b != "epochs=1" else "epochs=2" for b in budget]
    assert cli(["sweep", "wing_batch", *longer, *cells, "--resume", "--data", str(DATA)]) == 2
    assert "trained at another budget" in capsys.readouterr().err  # never a silent warm restart
    out_json, plots = tmp_path / "study/results.json", tmp_path / "plots"
    assert cli(["report", "--out", str(tmp_path), "--data", str(DATA), "--json", str(out_json),
                "--plots", str(plots), "--markdown", str(tmp_path / "report.md")]) == 0
    doc = json.loads(out_json.read_text())
    runs = {r["name"]: r for r in doc["runs"]}
    assert sorted(runs) == ["sweep_wing_batch_bs4", "sweep_wing_batch_bs4_s1", "sweep_wing_batch_bs8",
                            "sweep_wing_batch_bs8_s1"]
    for r in runs.values():
        assert r["config"]["seed"] == r["seed"] and r["config"]["name"] == r["name"] and len(r["config"]) > 40
        assert (r["grid"], r["optimizer"], r["lr"], r["loss"], r["loss_units"]) == ("wing_batch", "sgd", 0.3, "wing", "unit")
        assert r["epochs"] == r["budget_epochs"] == 1 and r["steps"] == 48 // r["batch_size"]
        assert r["common_nme"] > 0 and 0 <= r["common_auc"] < 1 and 0 < r["best_val_loss"] < 1  # (one epoch: AUC@8 0)
        assert set(r["common_nme_by_norm"]) == {"outer_eyes", "pupils", "box"} and r["diverged"] is None
        assert r["curve"][0]["epoch"] == 1 and "val_loss" in r["curve"][0]
    assert runs["sweep_wing_batch_bs4_s1"]["seed"] == 1 and runs["sweep_wing_batch_bs4"]["seed"] == 0
    cell = next(c for c in doc["cells"] if c["cell"] == "sweep_wing_batch_bs4")
    pair = [runs["sweep_wing_batch_bs4"]["common_nme"], runs["sweep_wing_batch_bs4_s1"]["common_nme"]]
    assert cell["seeds"] == [0, 1] and cell["common_nme_mean"] == pytest.approx(sum(pair) / 2)
    assert cell["common_nme_sd"] == pytest.approx(abs(pair[0] - pair[1]) / 2 ** 0.5)
    assert 10 < doc["baseline"]["common_nme"] < 25 and doc["baseline"]["n"] == 554 and doc["commit"]["commit"]
    assert {c["cell"] for c in doc["comparisons"]} >= {"baseline"} and len(doc["normalisations"]) == 2
    assert doc["questions"] == []  # no trend's pair has both cells here (Wing at batch 2 was not run)
    for name in ("nme_vs_batch.png", "curves.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (plots / "nme_vs_lr.png").exists()  # no lr grid was run
    report = (tmp_path / "report.md").read_text()
    assert " ± " in report and report.count("mean face in the ground-truth box") == 3
    copies = tmp_path / "study/runs"
    assert sorted(p.name for p in (copies / "sweep_wing_batch_bs8_s1").iterdir()) == ["config.json", "metrics.csv",
                                                                                     "test.json"]
    assert not list(copies.rglob("*.pt"))
    rebuilt = tmp_path / "rebuilt.json"  # from the copies alone: no checkpoints, no retraining
    assert cli(["report", "--logs", str(copies), "--data", str(DATA), "--json", str(rebuilt)]) == 0
    again = json.loads(rebuilt.read_text())
    assert again["runs"] == doc["runs"] and again["cells"] == doc["cells"] and again["baseline"] == doc["baseline"]
    shutil.rmtree(tmp_path / "checkpoints")  # a machine lost: OUT is gone, the kept copies are not
    shutil.rmtree(tmp_path / "logs")
    assert cli(["sweep", "wing_batch", *budget, *cells, "--seeds", "0,1", "--resume", "--data", str(DATA),
                "--keep", str(kept)]) == 0
    out = capsys.readouterr().out
    assert ": training" not in out and out.count(": done (1 epochs, kept in ") == 4  # not trained again
    assert "4 measured (runs of the same cell)" in out and "4 finished (counted 0)" in out  # the plan knows
    elsewhere = [b if not b.startswith("out=") else f"out={tmp_path / 'other'}" for b in budget]
    assert cli(["sweep", "wing_batch", *elsewhere, *cells, "--seeds", "0,1", "--resume", "--data", str(DATA),
                "--keep", str(kept)]) == 0  # another OUT: the same runs, still kept
    assert capsys.readouterr().out.count(": done (1 epochs, kept in ") == 4


def test_a_cell_that_is_another_grids_run_is_not_trained_twice(tmp_path, capsys):
    """lr 0.3 at batch 4 (the lr grid) and batch 4 at its own epochs (the equal-steps control) are the batch
    grid's batch 4 cell: every config key alike but the name. Kept once, they are not trained again; the
    copies say whose run they are, and the report marks them."""
    budget = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=16", "workers=0", "epochs=1",
              f"out={tmp_path}"]
    kept = tmp_path / "kept"
    assert cli(["sweep", "batch", *budget, "--cell", "sweep_batch_bs4", "--data", str(DATA), "--keep", str(kept)]) == 0
    capsys.readouterr()
    lr = ["--cell", "sweep_lr_lr0.3", "--cell", "sweep_lr_lr0.5"]
    assert cli(["sweep", "lr", *budget, *lr, "--dry-run", "--data", str(DATA), "--keep", str(kept)]) == 0
    plan = capsys.readouterr().out
    assert "sweep_lr_lr0.3: 1 epoch, 64 px, batch 4, lr 0.3" in plan
    assert "the same run as sweep_batch_bs4, kept: not trained, counted 0" in plan
    assert "sweep_lr_lr0.5: 1 epoch" in plan and "1 the same as a kept run (counted 0)" in plan
    # a kept run is finished in the plan even when its epochs ran at another thread count (not "the same cell")
    assert cli(["sweep", "batch", *budget, "threads=1", "--cell", "sweep_batch_bs4", "--dry-run", "--data", str(DATA),
                "--keep", str(kept)]) == 0
    assert "finished (1 of 1 epochs), counted 0" in capsys.readouterr().out
    assert cli(["sweep", "lr", *budget, "--cell", "sweep_lr_lr0.3", "--data", str(DATA), "--keep", str(kept)]) == 0
    assert cli(["sweep", "batch_steps", *budget, "--cell", "sweep_batch_steps_bs4", "--data", str(DATA),
                "--keep", str(kept)]) == 0
    out = capsys.readouterr().out
    assert ": training" not in out and out.count("the same run as sweep_batch_bs4 (every config key alike") == 2
    assert not (tmp_path / "checkpoints/sweep_lr_lr0.3").exists()
    for name in ("sweep_lr_lr0.3", "sweep_batch_steps_bs4"):
        assert (kept / name / "same_as.txt").read_text() == "sweep_batch_bs4\n"
        assert (kept / name / "test.json").read_bytes() == (kept / "sweep_batch_bs4/test.json").read_bytes()
        config = json.loads((kept / name / "config.json").read_text())
        assert config == {**json.loads((kept / "sweep_batch_bs4/config.json").read_text()), "name": name}
    assert cli(["sweep", "lr", *budget, "--cell", "sweep_lr_lr0.3", "--resume", "--data", str(DATA),
                "--keep", str(kept)]) == 0
    assert "sweep_lr_lr0.3: done (1 epochs, kept in " in capsys.readouterr().out  # now a kept run itself
    doc_path = tmp_path / "results.json"
    assert cli(["report", "--logs", str(kept), "--data", str(DATA), "--json", str(doc_path),
                "--markdown", str(tmp_path / "r.md")]) == 0
    doc = json.loads(doc_path.read_text())
    runs = {r["name"]: r for r in doc["runs"]}
    assert runs["sweep_lr_lr0.3"]["same_as"] == "sweep_batch_bs4" and runs["sweep_batch_bs4"]["same_as"] is None
    assert runs["sweep_lr_lr0.3"]["common_nme"] == runs["sweep_batch_bs4"]["common_nme"]
    assert {c["cell"]: c["same_as"] for c in doc["cells"]}["sweep_batch_steps_bs4"] == "sweep_batch_bs4"
    assert "| sweep_lr_lr0.3 (the runs of sweep_batch_bs4) | 0 |" in (tmp_path / "r.md").read_text()
    assert cli(["sweep", "lr", *budget, "--cell", "sweep_lr_lr0.3", "--overwrite", "--data", str(DATA),
                "--keep", str(kept)]) == 0
    assert "sweep_lr_lr0.3: training" in capsys.readouterr().out  # --overwrite: trained after all
    assert not (kept / "sweep_lr_lr0.3/same_as.txt").exists()


def test_until_starts_only_the_runs_that_end_in_time(tmp_path, capsys):
    """--until HH:MM (a machine lent till then): batch 4, whose other seed's epoch took 2 h, waits; batch 32
    (1 s) behind it still trains; a stage 2 whose stage 1 waits waits too. Times are planted logs."""
    from datetime import datetime, timedelta

    from facealign.training.sweep import plan
    from facealign.training.sweep_run import parse_until

    budget = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=16", "workers=0", "epochs=1",
              f"out={tmp_path}"]
    seed1 = {r.name: r.cfg for g in ("batch", "cascade") for r in plan(g, budget, [1])}
    _plant_log(tmp_path, seed1["sweep_batch_bs4_s1"], [7200.0])
    _plant_log(tmp_path, seed1["sweep_batch_bs32_s1"], [1.0])
    _plant_log(tmp_path, seed1["Cas_Stage1_Aug_MSE_s1"], [7200.0])
    until = (datetime.now() + timedelta(hours=1)).strftime("%H:%M")
    cells = ["--cell", "sweep_batch_bs4", "--cell", "sweep_batch_bs32"]
    assert cli(["sweep", "batch", *budget, *cells, "--until", until, "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "sweep_batch_bs4: not started: ~2.0 h left (measured: 7200.0 s/epoch" in out and f"after {until}" in out
    assert "sweep_batch_bs32: training" in out and (tmp_path / "checkpoints/sweep_batch_bs32/best.pt").is_file()
    assert not (tmp_path / "checkpoints/sweep_batch_bs4").exists()
    assert f"1 run(s) would not finish by {until} (--until) and wait for the next call with --resume: sweep_batch_bs4" in out
    cascade = ["--cell", "Cas_Stage1_Aug_MSE", "--cell", "Cas_Stage2_Aug_Wing-S1_MSE"]
    assert cli(["sweep", "cascade", *budget, *cascade, "--until", until, "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "Cas_Stage1_Aug_MSE: not started: ~2.0 h left" in out
    assert "Cas_Stage2_Aug_Wing-S1_MSE: not started: its stage 1 is not trained yet" in out and ": training" not in out
    # the next time the clock reads HH:MM; a typo is refused before anything runs
    now = datetime(2026, 12, 3, 17, 0)
    assert parse_until("19:40", now) == datetime(2026, 12, 3, 19, 40)
    assert parse_until("07:00", now) == datetime(2026, 12, 4, 7, 0)
    assert cli(["sweep", "batch", *budget, *cells, "--until", "7pm", "--data", str(DATA)]) == 2
    assert "--until '7pm': expected a time of day as HH:MM" in capsys.readouterr().err


def test_the_depth_loss_plot_sets_our_nme_beside_the_studys_losses(tmp_path):
    """Two depth_loss cells (ResNet-18 with MSE and with MAE) at a one-epoch budget, then the report's plots:
    loss_by_depth.png (the study's losses beside ours, and our NME by depth) and the curves."""
    budget = ["width=0.25", "head=flatten", "input_size=64", "max_train=16", "workers=0", "epochs=1", f"out={tmp_path}"]
    cells = ["--cell", "sweep_depth_loss_resnet18_mse", "--cell", "sweep_depth_loss_resnet18_l1"]
    assert cli(["sweep", "depth_loss", *budget, *cells, "--data", str(DATA)]) == 0
    plots = tmp_path / "plots"
    assert cli(["report", "--out", str(tmp_path), "--data", str(DATA), "--plots", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["curves.png", "loss_by_depth.png"]
    for p in plots.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_a_kept_stage1_whose_checkpoint_is_gone_is_trained_again_for_its_stage2(tmp_path, capsys):
    """Resuming the cascade after a lost machine: stage 1 is kept (no best.pt left), stage 2 still needs its
    weights, so stage 1 trains again rather than stage 2 failing on a missing file."""
    budget = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=16", "workers=0", "epochs=1",
              "batch_size=8", f"out={tmp_path}"]
    kept, stage1 = tmp_path / "kept", ["--cell", "Cas_Stage1_Aug_MSE"]
    assert cli(["sweep", "cascade", *budget, *stage1, "--data", str(DATA), "--keep", str(kept)]) == 0
    shutil.rmtree(tmp_path / "checkpoints")
    both = [*stage1, "--cell", "Cas_Stage2_Aug_Wing-S1_MSE"]
    assert cli(["sweep", "cascade", *budget, *both, "--resume", "--data", str(DATA), "--keep", str(kept)]) == 0
    out = capsys.readouterr().out
    assert "Cas_Stage1_Aug_MSE: kept, but its checkpoint is gone and Cas_Stage2_Aug_Wing-S1_MSE needs it" in out
    assert "Cas_Stage1_Aug_MSE: training" in out and "Cas_Stage2_Aug_Wing-S1_MSE: training" in out
    assert (kept / "Cas_Stage2_Aug_Wing-S1_MSE/test.json").is_file()


def test_the_studys_kept_runs_are_not_git_ignored():
    """docs/study/runs/ is where `facealign sweep --keep` and the report put each run's small files: if git
    ignored it (a `runs/` pattern did), they would never be committed and a lost machine would lose them."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    probe = ["git", "-C", str(root), "check-ignore", "-q", "--no-index"]
    kept = subprocess.run([*probe, "docs/study/runs/sweep_batch_bs4/metrics.csv"])
    assert kept.returncode == 1, "docs/study/runs/ is git-ignored: the study's kept runs would never be committed"
    assert subprocess.run([*probe, "study20/checkpoints/sweep_batch_bs4/last.pt"]).returncode == 0  # checkpoints are


def test_report_never_replaces_results_with_fewer_runs(tmp_path, capsys):
    """As in a fresh checkout: no study/ folder, the committed results file must stay as it was."""
    committed = Path(__file__).resolve().parents[1] / "docs/study/results.json"
    results = tmp_path / "docs/study/results.json"
    results.parent.mkdir(parents=True)
    results.write_bytes(committed.read_bytes())
    held = len(json.loads(committed.read_text())["runs"])
    argv = ["report", "--out", str(tmp_path / "study"), "--json", str(results), "--data", str(DATA)]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert f"refusing to replace {results}: it holds {held} runs" in err and "--overwrite" in err
    assert results.read_bytes() == committed.read_bytes() and not (results.parent / "runs").exists()
    assert cli([*argv, "--overwrite"]) == 0  # told to
    assert json.loads(results.read_text())["runs"] == []


def test_mean_face_baseline_on_real_faces_is_a_sane_floor():
    from facealign.data import load_split
    from facealign.metrics import nme
    from facealign.training.baseline import mean_face_points, training_points

    train = training_points(DATA)
    assert len(train) == 1813
    gt = load_split("common", DATA).points()[::25]  # 23 test faces
    pred = mean_face_points(train, gt, 64)
    errors = nme(pred, gt)
    assert 0.10 < errors.mean() < 0.25  # a constant answer: far from a trained net's 4-6 %, far from random
    np.testing.assert_allclose(mean_face_points(train, gt, 128), pred, atol=1e-2)  # the crop's size cancels out
    np.testing.assert_allclose(pred.mean(1), gt.mean(1), atol=0.2 * (gt.max(1) - gt.min(1)).max())  # in the box


def test_depth_loss_table_puts_each_depth_in_a_row_beside_the_studys_losses():
    """The depth_loss grid by depth and loss, as the study gave it: our NME and best validation loss (mean ±
    sd over seeds where there are several), the study's loss in brackets, a cell not run said so."""
    from facealign.training.tables import depth_loss_table, markdown_tables

    def cell(model, loss, nme, val_loss, runs, sd=None):
        return {"cell": f"sweep_depth_loss_{model}_{loss}", "grid": "depth_loss", "model": model, "loss": loss,
                "common_nme_mean": nme, "common_nme_sd": sd, "best_val_loss_mean": val_loss,
                "best_val_loss_sd": None if sd is None else 0.0002, "runs": runs, "seeds": list(range(len(runs))),
                "diverged": 0, "same_as": None, "epochs": 20, "steps": 1140, "val_nme_mean": nme, "val_nme_sd": sd,
                "common_fr_mean": 50.0, "common_fr_sd": sd, "common_auc_mean": 0.1, "common_auc_sd": sd}
    doc = {"cells": [cell("resnet18", "mse", 11.6, 0.0021, ["a", "a_s1", "a_s2"], sd=0.35),
                     cell("resnet18", "l1", 6.92, 0.021, ["b"]), cell("resnet152", "smoothl1", 12.5, 0.0013, ["c"])],
           "runs": [{"name": "a", "minutes": 10.0}, {"name": "a_s1", "minutes": 12.0}, {"name": "a_s2", "minutes": 14.0},
                    {"name": "b", "minutes": 5.2}, {"name": "c", "minutes": None}],
           "comparisons": [], "questions": [], "normalisations": []}
    table = depth_loss_table(doc)
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in table.splitlines() if line.startswith("| ResNet")}
    assert list(rows) == ["ResNet-18", "ResNet-34", "ResNet-50", "ResNet-101", "ResNet-152"]
    assert rows["ResNet-18"][:3] == ["11.60 ± 0.35", "6.92", "not run"]
    assert rows["ResNet-18"][3:6] == ["0.0021 ± 0.0002 (0.0032)", "0.0210 (0.0377)", "– (0.0018)"]
    assert rows["ResNet-18"][6] == "12, 5, – |"  # the mean of the three seeds' minutes
    assert rows["ResNet-34"][:3] == ["not run"] * 3
    assert rows["ResNet-152"][2:3] == ["12.50"] and rows["ResNet-152"][5] == "0.0013 (0.0014)"
    assert rows["ResNet-152"][6] == "–, –, – |"  # a run without its minutes is not counted as zero
    assert table in markdown_tables(doc)


def test_a_plots_title_says_when_its_cells_ran_at_different_seeds():
    from facealign.training.plots import _budget

    run = {"grid": "depth_loss", "budget_epochs": 20, "input_size": 64, "optimizer": "sgd"}
    doc = {"runs": [run], "cells": [{"grid": "depth_loss", "seeds": [0, 1, 2]}, {"grid": "depth_loss", "seeds": [0]}]}
    assert _budget(doc, "depth_loss") == "20 epochs, 64 px, SGD, seed 0 in every cell, 0,1,2 in some"
    doc["cells"][1]["seeds"] = [0, 1, 2]
    assert _budget(doc, "depth_loss") == "20 epochs, 64 px, SGD, seeds 0,1,2"


def test_report_tables_the_logged_runs(tmp_path, capsys):
    assert _train(tmp_path, "epochs=1") == 0
    capsys.readouterr()
    assert cli(["report", "--out", str(tmp_path), "--evaluate", "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("| raw_CNN_noAug_MSE |")]
    assert row and len(row[0].split("|")) == 9
    cache = tmp_path / "logs/raw_CNN_noAug_MSE/test.json"
    assert json.loads(cache.read_text())["n"] == 554
    os.utime(cache, ns=(0, 0))  # older than best.pt, as when a run is resumed after its evaluation
    capsys.readouterr()
    assert cli(["report", "--out", str(tmp_path), "--data", str(DATA)]) == 0  # no --evaluate: no stale figure
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| raw_CNN_noAug_MSE |")]
    assert row[0].split(" | ")[3:6] == ["–", "–", "–"] and cache.stat().st_mtime_ns == 0
    assert cli(["report", "--out", str(tmp_path), "--evaluate", "--data", str(DATA)]) == 0
    assert cache.stat().st_mtime_ns > 0 and json.loads(cache.read_text())["n"] == 554  # evaluated again


def test_config_errors_name_the_whole_key_and_suggest():
    with pytest.raises(ConfigError, match=r"^lr: expected float, got 'abc'"):
        load_config("Cas_Stage1_Aug_Wing", ["lr=abc"])
    with pytest.raises(ConfigError, match=r"unknown config key 'augment.rotat'; did you mean 'augment.rotate'"):
        load_config("Cas_Stage1_Aug_Wing", ["augment.rotat=5"])
    with pytest.raises(ConfigError, match=r"did you mean 'device'"):
        load_config("Cas_Stage1_Aug_Wing", ["devce=cuda"])
    with pytest.raises(ConfigError, match=r"device='gpu' unknown \(choose from auto, cpu, cuda, cuda:N, mps\)"):
        load_config("Cas_Stage1_Aug_Wing", ["device=gpu"])
    with pytest.raises(ConfigError, match=r"amp='fp8' unknown"):
        load_config("Cas_Stage1_Aug_Wing", ["amp=fp8"])
    with pytest.raises(ConfigError, match=r"ema is a decay in \[0, 1\)"):
        load_config("Cas_Stage1_Aug_Wing", ["ema=1.5"])
    assert load_config("Cas_Stage1_Aug_Wing", ["device=cuda:1", "amp=bf16", "workers=2"]).device == "cuda:1"


def test_config_is_checked_before_torch_is_imported():
    code = ("import sys\nfrom facealign.training.config import load_config, ConfigError\n"
            "try:\n    load_config('Cas_Stage1_Aug_Wing', ['modle=resnet18'])\nexcept ConfigError as e:\n    print(e)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "did you mean 'model'" in done.stdout


def test_config_names_match_the_registries():
    from facealign.models import list_models
    from facealign.models.heads import list_heads
    from facealign.models.resnet import STEMS
    from facealign.training import config
    from facealign.training.losses import LOSSES

    assert config.MODELS == tuple(list_models()) or sorted(config.MODELS) == list_models()
    assert config.list_heads is list_heads and config.LOSSES == tuple(LOSSES)  # the heads: one list
    assert config.STEMS == STEMS


def test_heatmap_stage2_trains_exports_and_evaluates(tmp_path):
    """A stage 2 that sees stage 1's points as a 4th channel and corrects them: trains from stage 1's
    backbone, exports to ONNX (the exporter checks onnxruntime against torch), evaluates."""
    assert _train(tmp_path, "epochs=1") == 0
    s1 = tmp_path / "checkpoints/raw_CNN_noAug_MSE/last.pt"
    name = "Cas_Stage2_Aug_Wing-S1_MSE"
    assert cli(["train", name, *TINY, "prev_heatmap=1.5", "init_from_stage1=true", f"stage1={s1}", "epochs=2",
                f"out={tmp_path}", "--data", str(DATA)]) == 0
    ck = tmp_path / f"checkpoints/{name}/last.pt"
    stages = torch.load(ck, weights_only=False)["cascade"]["stages"]
    assert stages[1]["heatmap_sigma"] == 1.5 and stages[1]["residual"] is False
    assert "starts from stage 1's backbone" in (tmp_path / f"logs/{name}/train.log").read_text()
    onnx = tmp_path / "heat.onnx"
    assert cli(["export", str(ck), "--format", "onnx", "-o", str(onnx)]) == 0
    out = tmp_path / "eval.json"
    assert cli(["eval", str(onnx), "--data", str(DATA), "--json", str(out)]) == 0
    res = json.loads(out.read_text())["common"]
    assert res["n"] == 554 and 0 < res["nme"] < 100
    with pytest.raises(ConfigError, match="prev_heatmap needs stage: 2"):
        load_config("raw_CNN_noAug_MSE", ["prev_heatmap=2"])


def read_pty(cmd, cwd, columns: int = 132, timeout: float = 300) -> tuple[int, list[tuple[float, bytes]]]:
    """Run `cmd` with stdout and stderr on a pseudo-terminal `columns` wide -> (exit code,
    [(seconds since start, bytes read)]): what a user at a terminal sees, and when."""
    import fcntl
    import select
    import struct
    import termios
    import time

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    reads = []
    try:
        while time.monotonic() - t0 < timeout:
            if not select.select([master], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            reads.append((time.monotonic() - t0, chunk))
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
    return code, reads


def test_progress_bar_is_live_in_a_terminal(tmp_path):
    """Without --verbose the bar updates reach the terminal during the epoch (not in one burst at its
    end, as when stderr was read line by line), at the terminal's width."""
    cmd = [sys.executable, "-m", "facealign", "train", "raw_CNN_noAug_MSE", "model=resnet18", "width=0.5",
           "input_size=64", "max_train=64", "batch_size=2", "workers=0", "epochs=1", "grid_every=5",
           f"out={tmp_path}", "--data", str(DATA)]
    code, reads = read_pty(cmd, Path(__file__).resolve().parents[1])
    text = b"".join(c for _, c in reads).decode("utf-8", "replace")
    assert code == 0, text[-3000:]
    bar = "raw_CNN_noAug_MSE 1/1"
    updates = [t for t, c in reads if bar.encode() in c]
    summary = next(t for t, c in reads if b"epoch 1/1" in c)
    during = [t for t in updates if t < summary]
    assert len(during) >= 2 and during[-1] - during[0] >= 0.5, (updates, summary)  # arrived at distinct times
    widths = [len(part) for part in text.replace("\n", "\r").split("\r") if bar in part]
    assert max(widths) > 100  # tqdm sized the bar to the terminal (132 columns), not a fixed 80
    assert "facealign.train: epoch 1/1" in text and "best validation NME" in text
    assert "INFO" not in text and "training raw_CNN_noAug_MSE: {" not in text  # info lines need --verbose
