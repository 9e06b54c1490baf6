"""What a run costs before it runs: optimiser steps, and its time, from the best evidence at hand.

A run's time comes, in this order, from:
1. measured: runs of the same cell logged under OUT/logs (another seed, or this very run partly
   done): the median seconds of their epochs (`metrics.csv`'s `seconds`; the median, because a
   paused training leaves a few very long epochs) times the planned epochs;
2. fitted: runs of the same network at two batch sizes or more: their median epoch seconds fitted
   as a * optimiser steps + b * images of an epoch (least squares, a, b >= 0), so that a step's
   own cost (optimiser, EMA, Python, a batch's loading) counts, which a throughput figure spreads
   over the images and so undercounts for small batches; runs at another input size when none
   are at this one, with b scaled by the ratio of the input areas;
3. the throughput table: images per epoch (training faces, plus the validation faces at a third
   of a training image's cost) over the images/s that `python -m facealign.training.throughput`
   measured for the nearest workload, scaled by the ratio of the two networks' multiply-adds
   (depth, width squared, input side squared); where the table holds that workload at two batch
   sizes or more, only an image's share of a step is scaled, a step's own cost kept apart as in 2.
Torch-free, so `facealign sweep --dry-run` is quick.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from .config import Config, ConfigError, from_dict, load_config, to_dict
from .sweep import TWIN_FILE

THROUGHPUT = Path("logs/throughput.json")  # a table measured here, else the one measured for the docs:
MEASURED = Path(__file__).resolve().parents[2] / "docs" / "training" / "throughput.json"  # (in a checkout)
NO_ESTIMATE = "no estimate: run python -m facealign.training.throughput --json logs/throughput.json"
# multiply-adds of a full-width ResNet at 224 px (torchvision's figures, G): the ratio is what counts
GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 4.1, "resnet101": 7.8, "resnet152": 11.5}
STAGE2_FACTOR = 4 / 3  # a stage-2 step also runs stage 1 forward (about a third of a training step)
VAL_COST = 1 / 3  # a validation image (forward only) against a training image


def steps_per_epoch(n: int, batch_size: int, world: int = 1) -> int:
    """Optimiser steps of one epoch over n faces: training.data.epoch_batches's global batches
    (a last batch too small to give each process two faces is merged into the one before)."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 * world or full == 0 else 0)


def train_val_counts(cfg: Config, total: int) -> tuple[int, int]:
    """(training faces, validation faces) of a run over a train split of `total` faces (data.split_faces)."""
    n_val = int(round(total * cfg.val_fraction))
    n_train = total - n_val
    if cfg.max_train:
        return min(n_train, cfg.max_train), min(n_val, max(16, cfg.max_train // 4))
    return n_train, n_val


def split_size(data=None) -> int | None:
    """Faces in the train split under `data`, or None without the data."""
    from facealign.data import load_split
    from facealign.data.dataset import MissingDataError

    try:
        return len(load_split("train", data))
    except MissingDataError:
        return None


def cost(cfg: Config) -> float:
    """Relative cost of one training image: multiply-adds, from depth, width and input side."""
    return GMACS[cfg.model] * cfg.width ** 2 * (cfg.input_size / 224) ** 2 * (STAGE2_FACTOR if cfg.stage == 2 else 1)


def _settings(cfg: Config) -> tuple:
    """The speed settings a throughput row's variant changes (amp auto is float32 on a CPU)."""
    return ("off" if cfg.amp == "auto" else cfg.amp, cfg.channels_last, cfg.compile, cfg.threads, cfg.workers)


def config_less(cfg: Config, keys) -> dict:
    """The resolved config as a dict, without `keys`: what two configs must share to count as one."""
    d = to_dict(cfg)
    for k in keys:
        d.pop(k, None)
    return d


def _workload(cfg: Config) -> dict:
    """A throughput row's config less its batch size and name: rows equal in this differ in batch only."""
    return config_less(cfg, ("batch_size", "name"))


def _named_overrides(workload, variant) -> list[str] | None:
    """A row's config from its workload and variant names (throughput.WORKLOADS, VARIANTS), for rows
    written without their overrides."""
    from .throughput import VARIANTS, WORKLOADS

    if workload not in WORKLOADS or variant not in VARIANTS:
        return None
    return WORKLOADS[workload] + VARIANTS[variant]


class Throughput:
    """The measured rows of logs/throughput.json, each with its resolved config."""

    def __init__(self, rows: list[tuple[Config, float]], source: Path):
        self.rows, self.source = rows, source

    @classmethod
    def load(cls, path=None) -> "Throughput | None":
        """The table at `path`, else logs/throughput.json, else the checkout's docs/training/throughput.json."""
        path = Path(path) if path else next((p for p in (THROUGHPUT, MEASURED) if p.is_file()), THROUGHPUT)
        if not path.is_file():
            return None
        rows = []
        for r in json.loads(path.read_text()).get("rows", []):
            overrides = r.get("overrides") or _named_overrides(r.get("workload"), r.get("variant"))
            if "images_per_s" not in r or not overrides:
                continue
            try:
                rows.append((load_config(overrides[0], overrides[1:]), float(r["images_per_s"])))
            except ConfigError:
                continue
        return cls(rows, path) if rows else None

    def images_per_s(self, cfg: Config) -> float:
        """The nearest measured row (same speed settings first, then the nearest network, width, stage,
        input side, batch) scaled to this config's multiply-adds. Where the table holds that row's
        workload at other batch sizes too, a step is fitted as a + b * batch over them (a: the step's
        own cost, optimiser and EMA; b: an image's) and only b is scaled, so that a small batch's
        step cost is not spread over the images of another batch."""
        def distance(row):
            m = row[0]
            return (_settings(m) != _settings(cfg), abs(math.log(GMACS[m.model] / GMACS[cfg.model])),
                    abs(math.log(m.width / cfg.width)), m.stage != cfg.stage,
                    abs(math.log(m.input_size / cfg.input_size)), abs(math.log(m.batch_size / cfg.batch_size)))

        measured, ips = min(self.rows, key=distance)
        scale = cost(cfg) / cost(measured)
        workload = _workload(measured)
        siblings = [(m.batch_size, s) for m, s in self.rows if _workload(m) == workload]
        if len({batch for batch, _ in siblings}) < 2:
            return ips / scale
        a, b = fit_epoch_time([(1, batch, batch / s) for batch, s in siblings])
        step = a + b * scale * cfg.batch_size
        return cfg.batch_size / step if step > 0 else ips / scale

    def seconds(self, cfg: Config, n_train: int, n_val: int) -> float:
        return cfg.epochs * (n_train + VAL_COST * n_val) / self.images_per_s(cfg)


def duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


# ---- estimates from the runs already logged under OUT/logs ----

SOURCES = ("measured", "fitted", "table")  # in the order they are preferred
NOT_THE_CELL = ("name", "seed", "epochs", "out", "data", "stage1")  # what a cell's runs may differ in (stage1: the
# seed's own stage-1 path); `epochs` too, as an epoch's time does not depend on how many follow


@dataclass(frozen=True)
class LoggedRun:
    """A run logged under OUT/logs/<name>/: its resolved config (config.json) and {epoch: wall seconds}
    (metrics.csv)."""

    name: str
    cfg: Config
    epochs: dict[int, float]


@dataclass(frozen=True)
class Estimate:
    """A run's time: `seconds` for all its epochs, `left` of them still to run (0 when finished), the
    `source` (one of SOURCES), a `note` saying what it was worked out from, and the epochs this very
    run has already logged (`done`)."""

    seconds: float
    left: float
    source: str
    note: str
    done: int = 0


def epoch_seconds(path: Path) -> dict[int, float]:
    """{epoch: wall seconds} of a metrics.csv; rows without a number there (a file caught while it is
    rewritten) are left out."""
    found = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    found[int(row["epoch"])] = float(row["seconds"])
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        return {}
    return found


def read_logs(out, keep=None) -> list[LoggedRun]:
    """Every run under OUT/logs with a readable config.json and at least one timed epoch, and those kept
    in `keep` (`facealign sweep --keep`) that OUT/logs does not hold (a machine lost OUT)."""
    folders = [Path(out, "logs"), *([Path(keep)] if keep else [])]
    runs, seen = [], set()
    for metrics in (m for folder in folders for m in sorted(folder.glob("*/metrics.csv"))):
        if metrics.parent.name in seen or (metrics.parent / TWIN_FILE).is_file():  # (a twin: its run's time)
            continue
        try:
            cfg = from_dict(json.loads((metrics.parent / "config.json").read_text()))
        except (OSError, ValueError, TypeError, ConfigError):
            continue
        epochs = epoch_seconds(metrics)
        if epochs:
            runs.append(LoggedRun(metrics.parent.name, cfg, epochs))
            seen.add(metrics.parent.name)
    return runs


def cell_key(cfg: Config) -> dict:
    """The resolved config without what runs of one cell may differ in (NOT_THE_CELL)."""
    return config_less(cfg, NOT_THE_CELL)


def network_key(cfg: Config) -> tuple:
    """What an epoch's time depends on besides the batch and the input size: the network, the
    per-step work (optimiser, EMA), augmentation and the speed settings; the loss and learning rate
    cost about nothing."""
    return (cfg.model, cfg.width, cfg.stage, cfg.head, cfg.head_options, cfg.optimizer, cfg.ema,
            cfg.augment.enabled, *_settings(cfg))


def epoch_work(cfg: Config, total: int) -> tuple[int, float]:
    """(optimiser steps, images) of one epoch over a train split of `total` faces; the images count a
    validation face as VAL_COST of a training one."""
    n_train, n_val = train_val_counts(cfg, total)
    return steps_per_epoch(n_train, cfg.batch_size), n_train + VAL_COST * n_val


def _median_epoch(runs: list[LoggedRun]) -> float:
    """The median epoch over all the runs' epochs: robust to the few an outside pause made long."""
    return statistics.median(s for r in runs for s in r.epochs.values())


def _names(runs: list[LoggedRun]) -> str:
    return ", ".join(r.name for r in runs) if len(runs) <= 3 else f"{len(runs)} runs"


def measured(cfg: Config, logged: list[LoggedRun]) -> Estimate | None:
    """From runs of the same cell: their median epoch x the planned epochs. This very run (same name
    and epochs, so that --resume continues it) counts its logged epochs as done."""
    key = cell_key(cfg)
    same = [r for r in logged if cell_key(r.cfg) == key]
    if not same:
        return None
    per_epoch = _median_epoch(same)
    own = next((r for r in same if r.name == cfg.name and r.cfg.epochs == cfg.epochs), None)
    done = min(max(own.epochs), cfg.epochs) if own else 0
    n = sum(len(r.epochs) for r in same)
    note = f"measured: {per_epoch:.1f} s/epoch, the median of {n} epoch(s) of {_names(same)}"
    return Estimate(per_epoch * cfg.epochs, per_epoch * (cfg.epochs - done), "measured", note, done)


def fit_epoch_time(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(a, b) >= 0 that minimise the squared error of a * steps + b * images against seconds over
    `points` (steps, images, seconds): the plain least squares when both come out >= 0, else the
    better of the two fits with one of them held at 0 (the non-negative least squares of two unknowns)."""
    ss = sum(s * s for s, _, _ in points)
    si = sum(s * i for s, i, _ in points)
    ii = sum(i * i for _, i, _ in points)
    st = sum(s * t for s, _, t in points)
    it = sum(i * t for _, i, t in points)
    det = ss * ii - si * si
    if det > 1e-9 * ss * ii:
        a, b = (ii * st - si * it) / det, (ss * it - si * st) / det
        if a >= 0 and b >= 0:
            return a, b
    candidates = [(max(st / ss, 0.0), 0.0), (0.0, max(it / ii, 0.0))]
    return min(candidates, key=lambda ab: sum((ab[0] * s + ab[1] * i - t) ** 2 for s, i, t in points))


def fitted(cfg: Config, logged: list[LoggedRun], total: int | None) -> Estimate | None:
    """From runs of the same network at >= 2 batch sizes: each batch's median epoch, fitted as
    a * steps + b * images of an epoch (fit_epoch_time), at this run's steps and images. Runs at this
    run's input size first; else at the nearest input size so logged, with an image's cost b scaled
    by the ratio of the two input areas (a step's own cost does not depend on the input)."""
    if total is None:
        return None
    key, by_size = network_key(cfg), {}
    for r in logged:
        if network_key(r.cfg) == key:
            groups = by_size.setdefault(r.cfg.input_size, {})
            groups.setdefault((r.cfg.batch_size, *epoch_work(r.cfg, total)), []).append(r)
    sizes = [size for size, groups in by_size.items() if len({batch for batch, _, _ in groups}) >= 2]
    if not sizes:
        return None
    size = min(sizes, key=lambda x: abs(math.log(x / cfg.input_size)))
    groups = by_size[size]
    a, b = fit_epoch_time([(steps, images, _median_epoch(runs)) for (_, steps, images), runs in groups.items()])
    area = (cfg.input_size / size) ** 2
    steps, images = epoch_work(cfg, total)
    per_epoch = a * steps + b * area * images
    if per_epoch <= 0:
        return None
    batches = ", ".join(map(str, sorted({batch for batch, _, _ in groups})))
    scaled = "" if size == cfg.input_size else f" x {area:.2f} (its {size} px runs, scaled by input area)"
    note = (f"fitted on batch {batches}: {1000 * a:.0f} ms/step x {steps} steps + {1000 * b:.1f} ms/image{scaled} "
            f"x {images:.0f} images = {per_epoch:.1f} s/epoch")
    return Estimate(per_epoch * cfg.epochs, per_epoch * cfg.epochs, "fitted", note)


def from_table(cfg: Config, table: Throughput | None, total: int | None) -> Estimate | None:
    """From the throughput table (Throughput.seconds)."""
    if table is None or total is None:
        return None
    seconds = table.seconds(cfg, *train_val_counts(cfg, total))
    return Estimate(seconds, seconds, "table", f"throughput table: {table.images_per_s(cfg):.0f} images/s")


def estimate(cfg: Config, logged: list[LoggedRun], table: Throughput | None, total: int | None) -> Estimate | None:
    """The run's time from the best source at hand (SOURCES, in order), or None without any."""
    return measured(cfg, logged) or fitted(cfg, logged, total) or from_table(cfg, table, total)
