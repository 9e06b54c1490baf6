"""`facealign report`: the study's tables from logs/ (and common-subset NME from checkpoints),
as markdown, as JSON (`--json`, the study's grids only) and as plots (`--plots`)."""
from __future__ import annotations

import csv
import json
from pathlib import Path


def runs(out: Path) -> dict[str, list[dict]]:
    found = {}
    for path in sorted((out / "logs").glob("*/metrics.csv")):
        with open(path) as f:
            found[path.parent.name] = list(csv.DictReader(f))
    return found


def test_result(out: Path, name: str, evaluate: bool, data=None):
    """Common-subset result of checkpoints/<name>/best.pt, cached in logs/<name>/test.json.
    A cache older than best.pt (a run resumed after it was evaluated) is not shown: evaluated again
    with `evaluate`, else None, like a run never evaluated."""
    cache = out / "logs" / name / "test.json"
    ckpt = out / "checkpoints" / name / "best.pt"
    stale = cache.is_file() and ckpt.is_file() and cache.stat().st_mtime_ns < ckpt.stat().st_mtime_ns
    if cache.is_file() and not stale:
        return json.loads(cache.read_text())
    if not evaluate or not ckpt.is_file():
        return None
    from facealign.backends import load_backend
    from facealign.data import load_split
    from facealign.evaluate import evaluate as run_eval

    res = run_eval(load_backend(ckpt, "torch"), load_split("common", data)).to_json()
    cache.write_text(json.dumps(res, indent=2))
    return res


def table(out: Path, found: dict[str, list[dict]], evaluate: bool = False, data=None) -> str:
    """One markdown row per run in `found` (runs(out))."""
    lines = ["| experiment | epochs | best val NME % | common NME % | FR@8 % | AUC@8 | train min |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in found.items():
        if not rows:
            continue
        best = min(float(r["val_nme"]) for r in rows)
        minutes = sum(float(r["seconds"]) for r in rows) / 60
        t = test_result(out, name, evaluate, data)
        test = f"{t['nme']:.2f} | {t['fr']:.2f} | {t['auc']:.3f}" if t else "– | – | –"
        lines.append(f"| {name} | {rows[-1]['epoch']} | {best:.2f} | {test} | {minutes:.0f} |")
    return "\n".join(lines)


def study_runs(out: Path, found: dict[str, list[dict]], data=None) -> list[dict]:
    """One record per run of the study's grids in `found` (runs(out)); common NME evaluated where missing."""
    from .sweep import grid_of

    records = []
    for name, rows in found.items():
        grid = grid_of(name)
        config = out / "logs" / name / "config.json"
        if grid is None or not rows or not config.is_file():
            continue
        cfg = json.loads(config.read_text())
        losses = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
        test = test_result(out, name, True, data)
        diverged = out / "logs" / name / "diverged.txt"
        records.append({
            "name": name, "grid": grid, "epochs": int(rows[-1]["epoch"]), "budget_epochs": cfg["epochs"],
            "input_size": cfg["input_size"], "optimizer": cfg["optimizer"], "lr": cfg["lr"],
            "batch_size": cfg["batch_size"], "loss": cfg["loss"], "model": cfg["model"], "width": cfg["width"],
            "loss_units": cfg.get("loss_units", "pixels"),
            "val_nme": min(float(r["val_nme"]) for r in rows),
            "common_nme": test["nme"] if test else None, "common_fr": test["fr"] if test else None,
            "best_val_loss": min(losses) if losses else None,
            "minutes": round(sum(float(r["seconds"]) for r in rows) / 60, 2),
            "diverged": diverged.read_text().strip() if diverged.is_file() else None,
            "curve": [{"epoch": int(r["epoch"]), "loss": float(r["loss"]), "val_nme": float(r["val_nme"])}
                      for r in rows],
        })
    return records


def add_arguments(p) -> None:
    p.add_argument("--out", default=".", help="folder holding logs/ and checkpoints/")
    p.add_argument("--evaluate", action="store_true", help="evaluate best.pt on the common subset where missing")
    p.add_argument("--data", help="300-W root")
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--json", help="write the study's grid runs to this file ({'runs': [...]}); evaluates where missing")
    p.add_argument("--plots", help="write the study's plots (PNG) into this folder (needs matplotlib)")


def run(args) -> int:
    out = Path(args.out)
    found = runs(out)
    records = study_runs(out, found, args.data) if args.json or args.plots else []  # evaluates first
    text = table(out, found, args.evaluate, args.data)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json or args.plots:
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"runs": records}, indent=1) + "\n")
            print(f"{len(records)} runs of the study's grids -> {args.json}")
        if args.plots:
            from .plots import write_plots
            for path in write_plots(records, Path(args.plots)):
                print(f"plot -> {path}")
    return 0
