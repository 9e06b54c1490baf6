"""The study's tables (`facealign report`) from logs/ (and common-subset NME from checkpoints), as markdown,
as JSON (`--json`, the study's grids only) and as plots (`--plots`).

`--json FILE` never replaces a results file with one that holds fewer runs (a fresh checkout with no
study/ folder would otherwise write `{"runs": []}` over the committed results): it says which runs
would be lost and exits 2, unless `--overwrite`. Beside FILE it keeps a copy of each run's small
files (FILE's folder/runs/<name>/: metrics.csv, config.json, test.json), from which
`facealign report --logs docs/study/runs --json docs/study/results.json` rebuilds it without retraining.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from facealign.formats.atomic import write_json

from .results import RUN_FILES, document, read_runs, run_record, study_names
from .tables import markdown_tables, runs_table


@lru_cache(maxsize=2)
def _common(data):
    from facealign.data import load_split

    return load_split("common", data)


def test_result(logs: Path, ckpts: Path | None, name: str, evaluate: bool, data=None):
    """Common-subset result of checkpoints/<name>/best.pt, cached in logs/<name>/test.json (baseline.score's
    fields, with each face's error). A cache older than best.pt (a run resumed after it was evaluated) is not
    shown: evaluated again with `evaluate`, else None, like a run never evaluated; a cache without per-face
    errors (an older report's) is evaluated again with `evaluate`."""
    cache = logs / name / "test.json"
    ckpt = ckpts / name / "best.pt" if ckpts else None
    have = ckpt is not None and ckpt.is_file()
    stale = cache.is_file() and have and cache.stat().st_mtime_ns < ckpt.stat().st_mtime_ns
    cached = json.loads(cache.read_text()) if cache.is_file() and not stale else None
    if cached is not None and ("errors" in cached or not (evaluate and have)):
        return cached
    if not evaluate or not have:
        return None
    from facealign.backends import load_backend
    from facealign.evaluate import predict_faceset

    from .baseline import score

    faces = _common(data)
    res = score(predict_faceset(load_backend(ckpt, "torch"), faces)[-1], faces.points())
    write_json(cache, res, indent=None)
    return res


def baseline(data=None, previous: dict | None = None) -> dict | None:
    """The mean-face baseline on the common subset; without the data, the previous file's (or None)."""
    from facealign.data.dataset import MissingDataError

    from .baseline import mean_face_baseline

    try:
        return mean_face_baseline(data)
    except MissingDataError:
        print("facealign report: no 300-W data: the baseline is the previous results file's", file=sys.stderr)
        return previous


def _previous_baseline(path) -> dict | None:
    try:
        return json.loads(Path(path).read_text()).get("baseline") if path else None
    except (OSError, ValueError, AttributeError):
        return None


def commit() -> dict:
    """The code's git commit (and whether its checkout had uncommitted changes), or nulls outside git."""
    here = Path(__file__).resolve().parent

    def git(*args):
        done = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head, "dirty": bool(status) if head else None}


def refusal(path: Path, names: list[str], source: Path) -> str | None:
    """Why writing `names`' runs to `path` would lose results (runs it holds that are not among `names`), or None."""
    if not path.is_file():
        return None
    try:
        held = [r["name"] for r in json.loads(path.read_text()).get("runs", [])]
    except (ValueError, AttributeError, KeyError, TypeError) as e:
        return f"{path} is not a results file this command wrote ({e}); not replaced"
    lost = sorted(set(held) - set(names))
    if not lost:
        return None
    return (f"refusing to replace {path}: it holds {len(held)} runs, {source} has {len(names)} of the study's "
            f"({len(lost)} would be lost: {', '.join(lost[:5])}{' ...' if len(lost) > 5 else ''}). Nothing was "
            f"written. Point --out at the folder holding the runs, rebuild from the copies with --logs "
            f"{path.parent / 'runs'}, or pass --overwrite to replace it anyway.")


def copy_runs(logs: Path, names: list[str], dest: Path) -> None:
    """Each run's small files (RUN_FILES) into dest/<name>/, and those the run no longer has removed there
    (a diverged.txt or same_as.txt of an earlier run of that name); never checkpoints."""
    for name in names:
        if (logs / name).resolve() == (dest / name).resolve():
            continue
        (dest / name).mkdir(parents=True, exist_ok=True)
        for f in RUN_FILES:
            if (logs / name / f).is_file():
                shutil.copy2(logs / name / f, dest / name / f)
            else:
                (dest / name / f).unlink(missing_ok=True)


def write_report(out=".", logs=None, evaluate: bool = False, data=None, markdown=None, json_path=None,
                 overwrite: bool = False, plots=None) -> None:
    """Print the tables of the runs in `logs` (default OUT/logs; checkpoints from OUT/checkpoints,
    none when `logs` is given); also write them to `markdown`, the study's document to `json_path`
    (with copies of the runs' small files beside it) and its plots into `plots`. evaluate: score
    best.pt on the common subset where no result is cached. Raises FileExistsError (nothing written)
    when json_path holds runs this report does not find, unless overwrite."""
    logs, ckpts = (Path(logs), None) if logs else (Path(out) / "logs", Path(out) / "checkpoints")
    found = read_runs(logs)
    names = study_names(logs, found)
    why = refusal(Path(json_path), names, logs) if json_path and not overwrite else None
    if why:
        raise FileExistsError(why)
    base = baseline(data, _previous_baseline(json_path))
    study = bool(json_path or plots)
    tests = {n: test_result(logs, ckpts, n, study or evaluate, data) for n in names} if study else {}
    text = runs_table(found, lambda n: tests[n] if n in tests else test_result(logs, ckpts, n, evaluate, data), base)
    doc = None
    if study:
        from .budget import split_size

        split = split_size(data)
        records = [run_record(logs, n, found[n], tests[n], split) for n in names]
        doc = document(records, tests, base, commit())
        text += "\n\n" + markdown_tables(doc)
    print(text)
    if markdown:
        Path(markdown).write_text(text + "\n")
    if json_path:
        path = Path(json_path)
        copy_runs(logs, names, path.parent / "runs")
        write_json(path, doc, indent=1)
        print(f"{len(doc['runs'])} runs of the study's grids ({len(doc['cells'])} cells) -> {path}; "
              f"their logs -> {path.parent / 'runs'}")
    if plots:
        from .plots import write_plots

        for p in write_plots(doc, Path(plots)):
            print(f"plot -> {p}")
