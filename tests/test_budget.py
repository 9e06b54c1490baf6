"""A run's time before it runs (facealign.training.budget): from the epochs of runs logged under
OUT/logs (the same cell, else the same network fitted over batch sizes), else the throughput table.
Real files in tmp_path: config.json and metrics.csv as a training writes them."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from facealign.training.budget import (VAL_COST, Throughput, epoch_seconds, estimate, fit_epoch_time, read_logs,
                                       steps_per_epoch)
from facealign.training.config import load_config, to_dict

STUDY = ["optimizer=sgd", "loss_units=unit", "amp=off", "lr=0.3", "input_size=64", "threads=1"]
TOTAL = 1000  # faces in the train split: 900 to train on, 100 to validate (val_fraction 0.1)
IMAGES = 900 + VAL_COST * 100  # an epoch's images, a validation face at a third of a training one


def config(out, name, *overrides, seed=0, epochs=20):
    return load_config("raw_CNN_noAug_MSE", [*STUDY, *overrides, f"name={name}", f"seed={seed}",
                                             f"epochs={epochs}", f"out={out}"])


def log_run(out, name, seconds, *overrides, seed=0, epochs=20):
    """OUT/logs/NAME/config.json and metrics.csv, one row per epoch taking `seconds[i]`."""
    folder = Path(out) / "logs" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(to_dict(config(out, name, *overrides, seed=seed, epochs=epochs))))
    with open(folder / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "loss", "val_nme", "val_loss", "lr", "images_per_s", "seconds"])
        for epoch, s in enumerate(seconds, 1):
            w.writerow([epoch, 0.01, 15.0, 0.01, 0.3, 900 / s, s])


def test_a_run_of_the_same_cell_gives_its_median_epoch(tmp_path):
    # seed 1 of batch 4: four epochs near 60 s and one paused for minutes (SIGSTOP), which the median ignores
    log_run(tmp_path, "cell_bs4_s1", [62, 58, 400, 60, 61], "batch_size=4", seed=1)
    logged = read_logs(tmp_path)
    est = estimate(config(tmp_path, "cell_bs4", "batch_size=4"), logged, None, TOTAL)
    assert (est.source, est.seconds, est.left, est.done) == ("measured", 20 * 61, 20 * 61, 0)
    assert "61.0 s/epoch, the median of 5 epoch(s) of cell_bs4_s1" in est.note
    # the same cell at other epochs (batch_steps's) and another seed: its epochs cost the same
    assert estimate(config(tmp_path, "steps_bs4", "batch_size=4", seed=2, epochs=40), logged, None, TOTAL).seconds == 40 * 61
    # another loss is another cell; one batch size alone fits nothing; no table: no estimate
    assert estimate(config(tmp_path, "wing_bs4", "batch_size=4", "loss=wing"), logged, None, TOTAL) is None


def test_a_run_partly_done_or_finished_counts_what_is_left(tmp_path):
    log_run(tmp_path, "cell_bs4", [50, 70, 60], "batch_size=4")  # 3 of 20 epochs so far
    log_run(tmp_path, "cell_bs8", [40] * 20, "batch_size=8")  # finished
    log_run(tmp_path, "cell_bs16", [30] * 5, "batch_size=16", epochs=10)  # finished at another budget
    logged = read_logs(tmp_path)
    partly = estimate(config(tmp_path, "cell_bs4", "batch_size=4"), logged, None, TOTAL)
    assert (partly.source, partly.seconds, partly.left, partly.done) == ("measured", 20 * 60, 17 * 60, 3)
    finished = estimate(config(tmp_path, "cell_bs8", "batch_size=8"), logged, None, TOTAL)
    assert (finished.seconds, finished.left, finished.done) == (20 * 40, 0, 20)
    # a run of this name at 10 epochs is no progress on a 20-epoch plan (--resume refuses it), only a measurement
    other = estimate(config(tmp_path, "cell_bs16", "batch_size=16"), logged, None, TOTAL)
    assert (other.source, other.seconds, other.left, other.done) == ("measured", 20 * 30, 20 * 30, 0)


def test_the_same_network_at_two_batch_sizes_is_fitted_over_steps_and_images(tmp_path):
    a, b = 0.09, 0.015  # seconds a step and an image: what the logged epochs are made of
    for batch in (4, 32):
        per_epoch = a * steps_per_epoch(900, batch) + b * IMAGES
        log_run(tmp_path, f"mse_bs{batch}", [per_epoch, per_epoch + 1, 900.0], f"batch_size={batch}")
        log_run(tmp_path, f"mse_bs{batch}_s1", [per_epoch - 1, per_epoch], f"batch_size={batch}", seed=1)
    log_run(tmp_path, "deep_bs8", [500.0] * 3, "batch_size=8", "model=resnet50")  # another network: not fitted on
    logged = read_logs(tmp_path)
    # a wing-loss cell at batch 8 (lr and loss cost nothing): 113 steps of 900 faces
    est = estimate(config(tmp_path, "wing_bs8", "batch_size=8", "loss=wing", "lr=0.1"), logged, None, TOTAL)
    assert est.source == "fitted" and "fitted on batch 4, 32" in est.note
    assert est.seconds == pytest.approx(20 * (a * 113 + b * IMAGES)) and est.left == est.seconds
    # the fit needs the split's size (its steps); without the data there is none
    assert estimate(config(tmp_path, "wing_bs8", "batch_size=8", "loss=wing"), logged, None, None) is None
    # another width: no runs of its network, so the table (here none)
    assert estimate(config(tmp_path, "narrow_bs8", "batch_size=8", "width=0.5"), logged, None, TOTAL) is None


def test_the_fit_is_least_squares_and_never_negative():
    points = [(906, 1880, 0.09 * 906 + 0.013 * 1880), (453, 1880, 0.09 * 453 + 0.013 * 1880),
              (57, 1880, 0.09 * 57 + 0.013 * 1880)]
    assert fit_epoch_time(points) == pytest.approx((0.09, 0.013))
    # epochs that get shorter with more steps would need a < 0: the better fit with a held at 0 instead
    assert fit_epoch_time([(100, 1000, 50.0), (200, 1000, 30.0)]) == pytest.approx((0, 80 / 2000))
    # and shorter with more images b < 0: then b is held at 0 (a: 1,500 / 20,000 s a step)
    assert fit_epoch_time([(100, 1000, 10.0), (100, 2000, 5.0)]) == pytest.approx((0.075, 0))


def test_without_logs_the_throughput_table_estimates(tmp_path):
    table_file = tmp_path / "throughput.json"
    table_file.write_text(json.dumps({"rows": [{"images_per_s": 100.0, "overrides": [
        "raw_CNN_noAug_MSE", "input_size=64", "batch_size=32", "optimizer=sgd", "lr=0.3", "threads=1"]}]}))
    table = Throughput.load(table_file)
    est = estimate(config(tmp_path, "cell_bs32", "batch_size=32"), read_logs(tmp_path), table, TOTAL)
    assert (est.source, est.seconds, est.left) == ("table", pytest.approx(20 * IMAGES / 100), est.seconds)
    assert "throughput table: 100 images/s" in est.note
    assert estimate(config(tmp_path, "cell_bs32", "batch_size=32"), [], table, None) is None  # no data: no images


def test_a_metrics_file_caught_mid_write_keeps_its_whole_rows(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,loss,val_nme,val_loss,lr,images_per_s,seconds\n1,0.1,20,0.1,0.3,30,61.5\n2,0.1,19,0.1,0.3,3")
    assert epoch_seconds(path) == {1: 61.5}
    assert epoch_seconds(tmp_path / "none.csv") == {}


def test_the_dry_run_reads_the_logs_without_torch(tmp_path):
    log_run(tmp_path, "sweep_lr_lr0.1", [45.0, 47.0], "batch_size=4", "lr=0.1")
    code = ("import sys\nfrom facealign.cli import main\n"
            f"assert main(['sweep', 'lr', 'epochs=20', 'input_size=64', 'threads=1', 'out={tmp_path}', '--dry-run', "
            "'--cell', 'sweep_lr_lr0.1']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "~15.3 min (measured: 46.0 s/epoch, the median of 2 epoch(s) of sweep_lr_lr0.1)" in done.stdout


def test_runs_at_another_input_size_are_fitted_with_an_images_cost_scaled_by_area(tmp_path):
    a, b = 0.07, 0.009  # measured at 64 px; at 96 px an image costs (96/64)^2 = 2.25x, a step's own cost the same
    for batch in (4, 32):
        log_run(tmp_path, f"mse_bs{batch}", [a * steps_per_epoch(900, batch) + b * IMAGES] * 3, f"batch_size={batch}")
    logged = read_logs(tmp_path)
    est = estimate(config(tmp_path, "big_bs8", "batch_size=8", "input_size=96"), logged, None, TOTAL)
    assert est.source == "fitted" and "x 2.25 (its 64 px runs, scaled by input area)" in est.note
    assert est.seconds == pytest.approx(20 * (a * 113 + b * 2.25 * IMAGES))
    # at the logged size itself nothing is scaled
    same = estimate(config(tmp_path, "mse_bs8", "batch_size=8"), logged, None, TOTAL)
    assert same.seconds == pytest.approx(20 * (a * 113 + b * IMAGES)) and "scaled" not in same.note


def test_a_table_with_one_workload_at_two_batches_keeps_a_steps_own_cost_apart(tmp_path):
    a, b = 0.09, 0.0045  # a step's own seconds, an image's, at 64 px
    rows = [{"images_per_s": batch / (a + b * batch), "overrides": [
        "raw_CNN_noAug_MSE", "input_size=64", f"batch_size={batch}", "optimizer=sgd", "lr=0.3", "threads=1"]}
        for batch in (4, 32)]
    table_file = tmp_path / "throughput.json"
    table_file.write_text(json.dumps({"rows": rows}))
    table = Throughput.load(table_file)
    at = {size: table.images_per_s(config(tmp_path, "c", "batch_size=4", f"input_size={size}")) for size in (64, 96, 128)}
    assert at[64] == pytest.approx(4 / (a + b * 4))
    assert at[96] == pytest.approx(4 / (a + b * 2.25 * 4)) and at[128] == pytest.approx(4 / (a + b * 4 * 4))
    assert at[64] > at[96] > at[128] > at[64] / 4  # a larger input costs more, but less than its area alone
