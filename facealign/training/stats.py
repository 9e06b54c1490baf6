"""The study's statistics (pure numpy): mean +- sd over seeds, and a paired bootstrap over test faces.

How two cells are told apart: the per-face errors of each cell (each face's NME averaged over
the cell's seeds) are compared on the same faces. The faces are resampled with replacement
`n_boot` times; the difference of the two means on each resample gives a percentile interval.
The cells differ when that interval leaves out zero. This measures the uncertainty that comes
from the choice of test faces; the spread over seeds (mean +- sd) is reported beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


def mean_sd(values) -> tuple[float | None, float | None]:
    """(mean, sample sd with ddof=1) of the finite values; sd None for fewer than two, both None for none."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return None, None
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None


@dataclass(frozen=True)
class Paired:
    """mean(a) - mean(b) over the same faces, its `level` bootstrap interval [low, high], and whether
    the interval leaves out zero. Units: those of the errors given (the report passes NME in %)."""

    diff: float
    low: float
    high: float
    level: float
    n: int

    @property
    def differs(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_json(self) -> dict:
        return {"diff": round(self.diff, 4), "ci": [round(self.low, 4), round(self.high, 4)],
                "level": self.level, "faces": self.n, "differs": self.differs}


def paired_bootstrap(a, b, n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0) -> Paired:
    """Paired bootstrap of mean(a) - mean(b); a, b: (N,) errors of two predictors on the same N faces."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not a.size:
        raise ValueError(f"expected two (N,) arrays of one shape over the same faces, got {a.shape} and {b.shape}")
    d = a - b
    idx = np.random.default_rng(seed).integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Paired(float(d.mean()), float(low), float(high), level, int(d.size))
