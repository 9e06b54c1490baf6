"""How to install what is missing, worded as the README installs: from the facealign checkout.

facealign is installed from its repository (`pip install .`, `pip install ".[train]"`), not from a
package index, so a hint never names `facealign[...]` as if it could be fetched by name.
"""
from __future__ import annotations


def pip_hint(extra: str | None = None) -> str:
    """`pip install ".[EXTRA]"` (or `pip install .`) as one phrase for an error message."""
    target = f'".[{extra}]"' if extra else "."
    return f"pip install {target} in the facealign checkout"
