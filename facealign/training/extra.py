"""The `train` extra: the packages training needs beyond the inference install, and the check that
they are there (before any of them is imported)."""
from __future__ import annotations

import importlib.util
import sys

PACKAGES = ("torch", "yaml", "tqdm", "tensorboard")


def missing_training_stack(prog: str) -> bool:
    """Say so on stderr, as `prog: ...` (and return True), when the `train` extra is not installed."""
    from facealign.install import pip_hint

    missing = [m for m in PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{prog}: training needs {', '.join(missing)}; install the training extra: "
              f"{pip_hint('train')}", file=sys.stderr)
    return bool(missing)
