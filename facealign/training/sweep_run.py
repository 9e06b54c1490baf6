"""`facealign sweep`'s two halves: the plan it prints (each run's budget and estimated time) and the
trainings, one at a time, checked before the first one starts."""
from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from .budget import (NO_ESTIMATE, SOURCES, Estimate, Throughput, duration, estimate, read_logs, split_size,
                     steps_per_epoch, train_val_counts)
from .sweep import TWIN_FILE

# keys that may change between a stop and its resume without changing what is trained
HARDWARE_KEYS = {"device", "amp", "workers", "threads", "channels_last", "compile", "data", "grid_every"}


def _time(est, epochs: int) -> str:
    """A run's estimate as printed: its time, where it comes from, and what is left of a run begun."""
    if est is None:
        return "no estimate"
    text = f"~{duration(est.seconds)} ({est.note})"
    if est.left <= 0:
        return f"{text}; finished ({est.done} of {epochs} epochs), counted 0"
    if est.done:
        return f"{text}; {est.done} of {epochs} epochs done, ~{duration(est.left)} left"
    return text


def _describe(cfg, steps: int | None, time: str) -> str:
    width = f" x{cfg.width:g}" if cfg.width != 1 else ""
    return (f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}, {cfg.input_size} px, batch {cfg.batch_size}, lr {cfg.lr:g}, {cfg.model}{width}, "
            f"{cfg.optimizer}, loss {cfg.loss}, seed {cfg.seed}, "
            f"{steps if steps is not None else '?'} steps, {time}")


def warn_own_budget(runs, overrides: list[str]) -> None:
    """Say loudly when the budget is the configs' own (no epochs= or input_size= on the command line)."""
    from .config import load_config

    given = {o.partition("=")[0].strip() for o in overrides}
    missing = [k for k in ("epochs", "input_size") if k not in given]
    if not missing or not runs:
        return
    own = load_config(runs[0].cell.base)
    print(f"facealign sweep: WARNING: no {' and no '.join(k + '=' for k in missing)} given: every cell runs its "
          f"config's own budget ({runs[0].cell.base}: {own.epochs} epochs at {own.input_size} px), many hours on a "
          f"CPU. State the budget, e.g. epochs=20 input_size=64.", file=sys.stderr, flush=True)


def print_plan(grid: str, runs, overrides: list[str], data=None, throughput: str | None = None, keep=None) -> None:
    """Each run's resolved budget, its optimiser steps and estimated time (budget.estimate: from the runs
    logged under OUT/logs or kept in `keep`, else the throughput table), and the totals."""
    warn_own_budget(runs, overrides)
    table = Throughput.load(throughput)
    total = split_size(data)
    cells = {r.cell.name for r in runs}
    seeds = sorted({r.seed for r in runs})
    out = runs[0].cfg.out if runs else "."
    budget = " ".join(overrides) or "the configs' own"
    print(f"{grid}: {len(cells)} cell(s) x {len(seeds)} seed(s) ({','.join(map(str, seeds))}) = {len(runs)} run(s), "
          f"out={out}; budget: {budget}")
    logged = read_logs(out, keep)
    keep = Path(keep) if keep else None
    all_steps, estimates, twins = 0, [], 0
    for r in runs:
        steps = None
        if total is not None:
            steps = r.cfg.epochs * steps_per_epoch(train_val_counts(r.cfg, total)[0], r.cfg.batch_size)
            all_steps += steps
        done = kept(r, keep)
        same = None if done else twin(r, keep)
        if same:
            twins += 1
            print(f"  {r.name}: {_describe(r.cfg, steps, f'the same run as {same}, kept: not trained, counted 0')}")
            continue
        est = estimate(r.cfg, logged, table, total)
        if done:  # kept at this budget: finished, even where its epochs ran with other settings (threads)
            est = replace(est or Estimate(0.0, 0.0, "measured", f"kept in {keep / r.name}"), left=0.0, done=r.cfg.epochs)
        estimates.append(est)
        print(f"  {r.name}: {_describe(r.cfg, steps, _time(est, r.cfg.epochs))}")
    steps_text = f"{all_steps} optimiser steps" if total is not None else "steps unknown (no 300-W data found)"
    print(f"total: {len(runs)} run(s), {steps_text}; {_total_time(estimates, table, twins)}", flush=True)


def _total_time(estimates, table, twins: int = 0) -> str:
    """The time still to run (finished runs count 0), and how many runs each source estimated."""
    known = [e for e in estimates if e is not None]
    same = f"; {twins} the same as a kept run (counted 0)" if twins else ""
    if not known:
        return (NO_ESTIMATE + same) if estimates else f"nothing still to run{same}"
    counts = {s: sum(e.source == s for e in known) for s in SOURCES}
    table_text = f" ({table.source}: the nearest measured workload scaled by multiply-adds)" if counts["table"] else ""
    parts = [f"{counts['measured']} measured (runs of the same cell)",
             f"{counts['fitted']} fitted (the same network's runs at other batches or in other cells)",
             f"{counts['table']} from the throughput table{table_text}"]
    finished = sum(e.left <= 0 for e in known)
    begun = sum(0 < e.done and e.left > 0 for e in known)
    text = (f"~{duration(sum(e.left for e in known))} still to run, one run at a time, estimated from: "
            f"{', '.join(parts)}; {finished} finished (counted 0), {begun} partly done (their time left)")
    missing = len(estimates) - len(known)
    text += same
    return f"{text}; {missing} without an estimate ({NO_ESTIMATE})" if missing else text


def _saved(last: Path) -> dict:
    import torch

    ck = torch.load(last, map_location="cpu", weights_only=False, mmap=True)
    return {"epoch": ck["epoch"], "config": ck["config"]}


def _budget_changes(saved_config: dict, cfg, ignore=frozenset()) -> list[str]:
    from .config import from_dict, to_dict

    before, now = to_dict(from_dict(saved_config)), to_dict(cfg)
    skip = HARDWARE_KEYS | set(ignore)
    return [f"{k} {before[k]} there, {now[k]} here" for k in now if k not in skip and before.get(k) != now[k]]


def kept(r, keep: Path | None) -> bool:
    """r finished at this budget and kept in keep/<name>/ (its test.json, a metrics.csv row for every epoch
    and the same config.json): a run whose checkpoints were lost with a machine is not trained again."""
    import csv
    import json

    if keep is None:
        return False
    folder = keep / r.name
    if not all((folder / f).is_file() for f in ("test.json", "metrics.csv", "config.json")):
        return False
    with open(folder / "metrics.csv", newline="") as f:
        epochs = sum(1 for _ in csv.DictReader(f))
    saved = json.loads((folder / "config.json").read_text())
    return epochs >= r.cfg.epochs and not _budget_changes(saved, r.cfg, ignore={"out"})  # (kept: OUT may differ)


def twin(r, keep: Path | None) -> str | None:
    """The run kept in `keep` that is the same training as r: every config key alike but the name and
    OUT, finished at its budget (lr 0.3 at batch 4 is the batch grid's batch 4 cell: the study reports one
    figure, 5.58, for both). -> its name (the one trained, never a twin's own copy), or None."""
    import csv
    import json

    if keep is None or not keep.is_dir():
        return None
    for folder in sorted(keep.iterdir()):
        files = [folder / f for f in ("test.json", "metrics.csv", "config.json")]
        if folder.name == r.name or (folder / TWIN_FILE).is_file() or not all(f.is_file() for f in files):
            continue
        saved = json.loads(files[2].read_text())
        if _budget_changes(saved, r.cfg, ignore={"out", "name"}):
            continue
        with open(files[1], newline="") as f:
            if sum(1 for _ in csv.DictReader(f)) >= r.cfg.epochs:
                return folder.name
    return None


def keep_twin(r, name: str, keep: Path) -> None:
    """r's kept folder made from its twin's: the same metrics.csv, test.json (and diverged.txt), its
    config.json under r's name, and same_as.txt naming the run that was trained."""
    import json
    import shutil

    folder = keep / r.name
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("metrics.csv", "test.json", "diverged.txt"):
        if (keep / name / f).is_file():
            shutil.copy2(keep / name / f, folder / f)
    config = json.loads((keep / name / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "name": r.name}, indent=1) + "\n")
    (folder / TWIN_FILE).write_text(f"{name}\n")


def check_runs(runs, resume: bool, overwrite: bool, keep: Path | None = None) -> dict[str, int]:
    """Before any training: refuse over earlier runs (no --resume/--overwrite), refuse to resume a run
    of another budget, and refuse a stage 2 whose stage 1 neither exists nor is trained here. With
    --resume, a run found only in keep (kept(): its checkpoints gone) counts as done unless a stage 2 still
    to train needs its best.pt; then it is trained again.
    -> {run name: epochs an earlier run already trained} (with --resume)."""
    from .outputs import RunFiles

    done, mismatched, only_kept = {}, [], set()
    for r in runs:
        last = Path(r.cfg.out) / "checkpoints" / r.name / "last.pt"
        if not (resume or overwrite):
            RunFiles(r.cfg).check(resume=False, overwrite=False)
        elif resume and not overwrite and last.is_file():
            saved = _saved(last)
            changes = _budget_changes(saved["config"], r.cfg)
            if changes:
                mismatched.append(f"{r.name} ({'; '.join(changes[:3])})")
            done[r.name] = saved["epoch"]
        elif resume and not overwrite and kept(r, keep):
            done[r.name] = r.cfg.epochs
            only_kept.add(r.name)
    if mismatched:
        raise FileExistsError(
            f"--resume would continue {len(mismatched)} run(s) trained at another budget: {', '.join(mismatched[:4])}"
            f"{' ...' if len(mismatched) > 4 else ''}. Start them afresh with --overwrite (and --cell NAME for one "
            f"cell), or write this sweep to another folder (out=...).")
    best = {Path(r.cfg.out) / "checkpoints" / r.name / "best.pt": r.name for r in runs}
    for r in runs:
        needs = Path(r.cfg.stage1) if r.cfg.stage == 2 else None
        if needs is None or needs.is_file() or done.get(r.name, 0) >= r.cfg.epochs:
            continue
        if best.get(needs) in only_kept:
            print(f"{best[needs]}: kept, but its checkpoint is gone and {r.name} needs it: trained again", flush=True)
            only_kept.discard(best[needs])
            del done[best[needs]]
        elif needs not in best:
            raise FileNotFoundError(f"{r.name}: its stage 1 {r.cfg.stage1} does not exist and this sweep does not "
                                    f"train it; run --cell Cas_Stage1_Aug_MSE --seeds {r.seed} first")
    return done


def keep_run(r, keep: Path, data=None) -> None:
    """A finished run's common-subset result (OUT/logs/<name>/test.json, from best.pt) and its small files
    copied to keep/<name>/ (report.RUN_FILES; never checkpoints): a run outlives its checkpoints."""
    from .report import copy_runs, test_result

    logs, ckpts = Path(r.cfg.out) / "logs", Path(r.cfg.out) / "checkpoints"
    test_result(logs, ckpts, r.name, evaluate=True, data=data)
    copy_runs(logs, [r.name], keep)
    print(f"{r.name}: kept in {keep / r.name}", flush=True)


def parse_until(text: str, now: datetime | None = None) -> datetime:
    """--until HH:MM -> the next time the clock reads it (today, else tomorrow)."""
    try:
        t = datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        raise ValueError(f"--until {text!r}: expected a time of day as HH:MM, e.g. --until 19:40") from None
    now = now or datetime.now()
    at = datetime.combine(now.date(), t)
    return at if at > now else at + timedelta(days=1)


def wont_fit(r, until: datetime, logged, table, total: int | None, now: datetime | None = None) -> str | None:
    """Why r is not started under --until (its estimated time left ends after `until`, or it has no
    estimate, or its stage 1 is not there because it waits too), or None when it fits."""
    if r.cfg.stage == 2 and r.cfg.stage1 and not Path(r.cfg.stage1).is_file():
        return "its stage 1 is not trained yet"
    est = estimate(r.cfg, logged, table, total)
    if est is None:
        return f"no estimate of its time ({NO_ESTIMATE})"
    end = (now or datetime.now()) + timedelta(seconds=est.left)
    if end > until:
        return f"~{duration(est.left)} left ({est.note}) would end at {end:%H:%M}, after {until:%H:%M}"
    return None


def train_all(runs, data=None, resume: bool = False, overwrite: bool = False, keep=None,
              until: datetime | None = None, throughput: str | None = None) -> int:
    """Every run in turn (data: the 300-W root) -> exit code; a diverged run is noted for the report
    (logs/<name>/diverged.txt), not a crash. keep: a folder that receives each finished run's result and
    small files as soon as it finishes (keep_run), e.g. docs/study/runs. until: start only the runs whose
    estimated time (budget.estimate; throughput: its table) ends by then, e.g. before a machine is taken
    back; the others wait for the next call (--resume), and a shorter one later in the list still runs."""
    from .extra import missing_training_stack

    if missing_training_stack("facealign sweep"):
        return 2
    keep = Path(keep) if keep else None
    twins = {} if overwrite else {r.name: t for r in runs if not kept(r, keep) and (t := twin(r, keep))}
    try:
        done = check_runs([r for r in runs if r.name not in twins], resume, overwrite, keep)
    except (FileExistsError, FileNotFoundError) as e:
        print(f"facealign sweep: {e}", file=sys.stderr)
        return 2
    from .engine import Trainer

    table, total, waiting = (Throughput.load(throughput), split_size(data), []) if until else (None, None, [])
    for r in runs:
        if r.name in twins:
            keep_twin(r, twins[r.name], keep)
            print(f"{r.name}: the same run as {twins[r.name]} (every config key alike but the name): not trained "
                  f"again; its result kept in {keep / r.name} ({TWIN_FILE} names the run)", flush=True)
            continue
        if done.get(r.name, 0) >= r.cfg.epochs:
            lost = not (Path(r.cfg.out) / "checkpoints" / r.name / "last.pt").is_file()
            print(f"{r.name}: done ({done[r.name]} epochs{f', kept in {keep / r.name}' if lost else ''})", flush=True)
            if keep and not (keep / r.name / "test.json").is_file():
                keep_run(r, keep, data)
            continue
        why = until and wont_fit(r, until, read_logs(r.cfg.out, keep), table, total)
        if why:
            print(f"{r.name}: not started: {why}", flush=True)
            waiting.append(r.name)
            continue
        print(f"{r.name}: training", flush=True)
        note = Path(r.cfg.out) / "logs" / r.name / "diverged.txt"
        note.unlink(missing_ok=True)
        try:
            Trainer(r.cfg, data_root=data, resume=r.name in done, overwrite=overwrite).fit()
        except FloatingPointError as e:
            print(f"{r.name}: diverged ({e})", file=sys.stderr)
            note.write_text(f"{e}\n")
        except (FileExistsError, FileNotFoundError) as e:  # (checked above; a folder changed meanwhile)
            print(f"facealign sweep: {r.name}: {e}", file=sys.stderr)
            return 2
        if keep:
            keep_run(r, keep, data)
    if waiting:
        print(f"facealign sweep: {len(waiting)} run(s) would not finish by {until:%H:%M} (--until) and wait for the "
              f"next call with --resume: {', '.join(waiting)}", flush=True)
    return 0
