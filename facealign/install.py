"""How to install what is missing, worded as the README installs: from the facealign checkout.

facealign is installed from its repository (`pip install .`, `pip install ".[train]"`), not from a
package index, so a hint never names `facealign[...]` as if it could be fetched by name.
"""
from __future__ import annotations


TENSORRT_INDEX = "https://pypi.nvidia.com"  # TensorRT's wheels; PyPI's tensorrt-*-libs are placeholders


def pip_hint(extra: str | None = None, index: str = "") -> str:
    """`pip install ".[EXTRA]"` (or `pip install .`) as one phrase for an error message; index: an
    extra package index the extra's packages live on (TensorRT's)."""
    target = f'".[{extra}]"' if extra else "."
    where = f"--extra-index-url {index} " if index else ""
    note = f" (its wheels are on {index}; PyPI holds only placeholders)" if index else ""
    return f"pip install {where}{target} in the facealign checkout{note}"
