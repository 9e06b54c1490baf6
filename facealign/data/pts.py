"""The .pts landmark format of 300-W (with or without the version/n_points header)."""
from __future__ import annotations

from pathlib import Path

import numpy as np



class PtsError(ValueError):
    """A .pts file that cannot be read as the expected number of points."""


def read_pts(path, n_points: int = 68) -> np.ndarray:
    """Read a .pts file -> (n_points, 2) float32, 0-based pixel centres.

    Files store 1-based (MATLAB) coordinates; 1 is subtracted. Accepts the
    `version: 1 / n_points: 68 / { ... }` form and bare "x y" lines.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as e:
        raise PtsError(f"{path}: cannot read as text ({e})") from None
    rows, declared = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line in "{}" or line.startswith("version"):
            continue
        if line.startswith("n_points"):
            try:
                declared = int(line.split(":", 1)[1])
            except (IndexError, ValueError):
                raise PtsError(f"{path}:{lineno}: bad header line {line!r}") from None
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise PtsError(f"{path}:{lineno}: expected 'x y', got {line!r}") from None
    if declared is not None and declared != len(rows):
        raise PtsError(f"{path}: header says {declared} points, file has {len(rows)}")
    if len(rows) != n_points:
        raise PtsError(f"{path}: expected {n_points} points, found {len(rows)}")
    pts = np.asarray(rows, dtype=np.float32) - 1.0
    if not np.isfinite(pts).all():
        raise PtsError(f"{path}: non-finite coordinates")
    return pts


def write_pts(path, pts: np.ndarray) -> None:
    """Write (K, 2) 0-based points as a 300-W .pts file (1-based, with header)."""
    pts = np.asarray(pts, dtype=np.float64) + 1.0
    lines = ["version: 1", f"n_points:  {len(pts)}", "{"]
    lines += [f"{x:.6f} {y:.6f}" for x, y in pts]
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n")
