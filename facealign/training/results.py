"""The study's results document: a record per run, a summary per cell (mean +- sd over seeds), each
grid's best cell against the others (paired bootstrap over the test faces), the pairs of cells the
study's trends are judged on (questions.py), and each grid's best cell under three NME
normalisations. Built from a folder of run logs (`logs/<name>/`: metrics.csv, config.json, test.json);
docs/study/runs/ holds a copy of those small files, so the document rebuilds without retraining.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from facealign.metrics import NORMALISATIONS

from .budget import steps_per_epoch, train_val_counts
from .config import from_dict
from .questions import answers
from .stats import mean_sd, paired_bootstrap
from .sweep import TWIN_FILE, grid_of, split_seed

RUN_FILES = ("metrics.csv", "config.json", "test.json", "diverged.txt", TWIN_FILE)  # what is copied (never checkpoints)
SUMMED = ("val_nme", "common_nme", "common_fr", "common_auc", "best_val_loss")
CELL_KEYS = ("model", "width", "input_size", "batch_size", "lr", "loss", "optimizer")  # a cell's, all its seeds


def read_runs(logs: Path) -> dict[str, list[dict]]:
    """{run name: metrics.csv rows} of every run folder in `logs`."""
    found = {}
    for path in sorted(logs.glob("*/metrics.csv")):
        with open(path) as f:
            found[path.parent.name] = list(csv.DictReader(f))
    return found


def study_names(logs: Path, found: dict[str, list[dict]]) -> list[str]:
    """The runs of the study's grids among `found`: a grid's name, a metrics row and a config.json."""
    return [n for n, rows in found.items() if grid_of(n) and rows and (logs / n / "config.json").is_file()]


def _number(v: str):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and "." not in str(v) else f


def run_record(logs: Path, name: str, rows: list[dict], test: dict | None, split: int | None) -> dict:
    """One run: its resolved config (every key), seed, epochs, optimiser steps, minutes, validation and
    common-subset figures (NME and FR in %, AUC@8 a fraction), NME under each normalisation, the curve;
    same_as: the run whose training this one is (sweep_run.twin), its figures and curve that run's."""
    cfg = json.loads((logs / name / "config.json").read_text())
    epochs = int(rows[-1]["epoch"])
    steps = None
    if split is not None:
        n_train, _ = train_val_counts(from_dict(cfg), split)
        steps = epochs * steps_per_epoch(n_train, cfg["batch_size"])
    losses = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
    diverged, twin = logs / name / "diverged.txt", logs / name / TWIN_FILE
    norms = (test or {}).get("norms") or {}
    return {
        "name": name, "cell": split_seed(name)[0], "grid": grid_of(name), "seed": cfg.get("seed", 0),
        "epochs": epochs, "budget_epochs": cfg["epochs"], "steps": steps,
        "input_size": cfg["input_size"], "optimizer": cfg["optimizer"], "lr": cfg["lr"],
        "batch_size": cfg["batch_size"], "loss": cfg["loss"], "model": cfg["model"], "width": cfg["width"],
        "loss_units": cfg.get("loss_units", "pixels"),
        "minutes": round(sum(float(r["seconds"]) for r in rows) / 60, 2),
        "val_nme": min(float(r["val_nme"]) for r in rows),
        "best_val_loss": min(losses) if losses else None,
        "common_nme": test["nme"] if test else None, "common_fr": test["fr"] if test else None,
        "common_auc": test.get("auc") if test else None,
        "common_nme_by_norm": {n: norms[n]["nme"] for n in NORMALISATIONS if n in norms} or None,
        "diverged": diverged.read_text().strip() if diverged.is_file() else None,
        "same_as": twin.read_text().strip() if twin.is_file() else None,
        "config": cfg,
        "curve": [{k: _number(v) for k, v in r.items()} for r in rows],
    }


def cell_summaries(records: list[dict]) -> list[dict]:
    """One entry per cell: its seeds and runs, mean and sd over them (sd null for one seed)."""
    cells: dict[str, list[dict]] = {}
    for r in records:
        cells.setdefault(r["cell"], []).append(r)
    out = []
    for cell, runs in cells.items():
        ok = [r for r in runs if not r["diverged"]]
        entry = {"cell": cell, "grid": runs[0]["grid"], "seeds": sorted(r["seed"] for r in runs),
                 "runs": [r["name"] for r in runs], "diverged": len(runs) - len(ok),
                 "epochs": runs[0]["budget_epochs"], "steps": runs[0]["steps"],
                 "same_as": split_seed(runs[0]["same_as"])[0] if runs[0]["same_as"] else None,
                 **{k: runs[0][k] for k in CELL_KEYS}}
        for key in SUMMED:
            entry[f"{key}_mean"], entry[f"{key}_sd"] = mean_sd(r[key] for r in ok)
        for norm in NORMALISATIONS:
            m, s = mean_sd((r["common_nme_by_norm"] or {}).get(norm) for r in ok)
            entry.setdefault("common_nme_by_norm", {})[norm] = {"mean": m, "sd": s}
        out.append(entry)
    return out


def cell_errors(cells: list[dict], tests: dict[str, dict]) -> dict[str, np.ndarray]:
    """{cell: (faces,) NME % of each test face, averaged over the cell's runs} where every run has them."""
    found = {}
    for c in cells:
        errs = [(tests.get(n) or {}).get("errors") for n in c["runs"]]
        if errs and all(e is not None for e in errs) and len({len(e) for e in errs}) == 1:
            found[c["cell"]] = np.mean(np.asarray(errs, np.float64), axis=0)
    return found


def best_cells(cells: list[dict]) -> dict[str, dict]:
    """{grid: its cell of the lowest mean common NME}."""
    best = {}
    for c in cells:
        if c["common_nme_mean"] is None:
            continue
        if c["grid"] not in best or c["common_nme_mean"] < best[c["grid"]]["common_nme_mean"]:
            best[c["grid"]] = c
    return best


def comparisons(cells: list[dict], errors: dict[str, np.ndarray], baseline_errors=None) -> list[dict]:
    """Each grid's best cell against every other cell of its grid and against the baseline:
    mean NME difference (other - best, in NME %) and its 95 % paired-bootstrap interval over the faces."""
    found = []
    for grid, best in best_cells(cells).items():
        if best["cell"] not in errors:
            continue
        others = [(c["cell"], errors[c["cell"]]) for c in cells
                  if c["grid"] == grid and c["cell"] != best["cell"] and c["cell"] in errors]
        if baseline_errors is not None and len(baseline_errors) == len(errors[best["cell"]]):
            others.append(("baseline", np.asarray(baseline_errors, np.float64)))
        for cell, err in others:
            found.append({"grid": grid, "cell": cell, "best": best["cell"],
                          **paired_bootstrap(err, errors[best["cell"]]).to_json()})
    return found


def normalisation_table(cells: list[dict], baseline: dict | None) -> list[dict]:
    """Each grid's best cell (and the baseline) under every normalisation: NME % mean and sd."""
    rows = [{"grid": g, "cell": c["cell"], "seeds": c["seeds"], **c["common_nme_by_norm"]}
            for g, c in best_cells(cells).items()]
    if baseline and baseline.get("norms"):
        rows.append({"grid": "baseline", "cell": baseline["predictor"], "seeds": [],
                     **{n: {"mean": baseline["norms"][n]["nme"], "sd": None} for n in NORMALISATIONS}})
    return rows


def document(records: list[dict], tests: dict[str, dict], baseline: dict | None, commit: dict) -> dict:
    """The whole results.json: commit, baseline, runs, cells, comparisons, questions, normalisations."""
    cells = cell_summaries(records)
    errors = cell_errors(cells, tests)
    base = {k: v for k, v in (baseline or {}).items() if k != "errors"} or None
    if base:
        base["common_nme"], base["common_fr"], base["common_auc"] = base["nme"], base["fr"], base["auc"]
    return {"commit": commit, "baseline": base, "runs": records, "cells": cells,
            "comparisons": comparisons(cells, errors, (baseline or {}).get("errors")),
            "questions": answers(errors),
            "normalisations": normalisation_table(cells, baseline),
            "notes": {"nme": "percent of the outer-eye-corner distance unless named; fr: % of faces over 8 %; "
                              "auc: area under the CED to 8 %, a fraction",
                      "comparison": "diff = mean NME % of cell - of best over the same test faces (each face's "
                                    "error averaged over the cell's seeds); ci: 95 % paired bootstrap over the "
                                    "faces (2000 resamples); differs: the interval leaves out 0",
                      "questions": "the same test for the pairs of cells the study's trends are judged on: "
                                   "diff = mean NME % of a - of b"}}
