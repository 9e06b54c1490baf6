"""`facealign report [--evaluate]`: the study's tables from logs/ (and test NME from checkpoints)."""
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
    """Common-subset result of checkpoints/<name>/best.pt, cached in logs/<name>/test.json."""
    cache = out / "logs" / name / "test.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    ckpt = out / "checkpoints" / name / "best.pt"
    if not evaluate or not ckpt.is_file():
        return None
    from facealign.backends import load_backend
    from facealign.data import load_split
    from facealign.evaluate import evaluate as run_eval

    res = run_eval(load_backend(ckpt, "torch"), load_split("common", data)).to_json()
    cache.write_text(json.dumps(res, indent=2))
    return res


def table(out: Path, evaluate: bool = False, data=None) -> str:
    lines = ["| experiment | epochs | best val NME % | common NME % | FR@8 % | AUC@8 | train min |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, rows in runs(out).items():
        if not rows:
            continue
        best = min(float(r["val_nme"]) for r in rows)
        minutes = sum(float(r["seconds"]) for r in rows) / 60
        t = test_result(out, name, evaluate, data)
        test = f"{t['nme']:.2f} | {t['fr']:.2f} | {t['auc']:.3f}" if t else "– | – | –"
        lines.append(f"| {name} | {rows[-1]['epoch']} | {best:.2f} | {test} | {minutes:.0f} |")
    return "\n".join(lines)


def add_arguments(p) -> None:
    p.add_argument("--out", default=".", help="folder holding logs/ and checkpoints/")
    p.add_argument("--evaluate", action="store_true", help="evaluate best.pt on the common subset where missing")
    p.add_argument("--data", help="300-W root")
    p.add_argument("--markdown", help="also write the table to this file")


def run(args) -> int:
    text = table(Path(args.out), args.evaluate, args.data)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0
