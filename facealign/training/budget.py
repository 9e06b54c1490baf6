"""What a run costs before it runs: optimiser steps, and time from the measured throughput table.

The time is an estimate: images per epoch (training faces, plus the validation faces at a third
of a training image's cost) over the images/s that `python -m facealign.training.throughput`
measured for the nearest workload, scaled by the ratio of the two networks' multiply-adds
(depth, width squared, input side squared). Torch-free, so `facealign sweep --dry-run` is quick.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .config import Config, ConfigError, load_config

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
        """The nearest measured row (same speed settings first, then the nearest network, input side,
        batch, width) scaled to this config's multiply-adds."""
        def distance(row):
            m = row[0]
            return (_settings(m) != _settings(cfg), abs(math.log(GMACS[m.model] / GMACS[cfg.model])),
                    abs(math.log(m.input_size / cfg.input_size)), abs(math.log(m.batch_size / cfg.batch_size)),
                    abs(math.log(m.width / cfg.width)), m.stage != cfg.stage)

        measured, ips = min(self.rows, key=distance)
        return ips * cost(measured) / cost(cfg)

    def seconds(self, cfg: Config, n_train: int, n_val: int) -> float:
        return cfg.epochs * (n_train + VAL_COST * n_val) / self.images_per_s(cfg)


def duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 90 else f"{minutes / 60:.1f} h"
