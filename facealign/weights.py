"""Where the shipped weights live and how a preset name becomes a file."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
PRESETS = ("accurate", "fast")


def resolve(weights=None, preset: str = "accurate") -> Path:
    """An explicit weights path, else weights/<preset>.pt."""
    if weights:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such weights file")
        return path
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    path = WEIGHTS_DIR / f"{preset}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the {preset!r} weights are not shipped in this checkout; pass weights=PATH")
    return path
