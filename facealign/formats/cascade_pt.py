"""The cascade `.pt` file: read and written here only (needs PyTorch, imported when called).

A cascade file is `torch.save` of a dict:

    {"format": "facealign-cascade", "version": 1,
     "stages": [StageSpec dicts], "state_dicts": [one per stage, float16 by default],
     "meta": {..., "scheme": PointScheme.to_dict()}}

A training checkpoint holds the same under its "cascade" key; `load_cascade` reads both.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..models.cascade import StageSpec
from ..schemes import PointScheme
from .atomic import atomic_write_bytes

FORMAT = "facealign-cascade"
FORMAT_VERSION = 1
SUFFIX = ".pt"


@dataclass
class CascadeFile:
    """What a cascade weights file holds."""

    stages: list[StageSpec]
    state_dicts: list[dict]
    meta: dict = field(default_factory=dict)  # preset, metrics, training configs, the point scheme

    @property
    def scheme(self) -> PointScheme:
        """The points it predicts: meta["scheme"], the 68-point scheme in files from before it was stored."""
        return PointScheme.from_dict(self.meta.get("scheme"))

    def models(self, dtype=None) -> list:
        """One torch.nn.Module per stage, in eval mode (float32 unless `dtype` says otherwise)."""
        import torch

        mods = []
        for spec, sd in zip(self.stages, self.state_dicts):
            m = spec.build()
            m.load_state_dict({k: v.float() for k, v in sd.items()})
            mods.append(m.to(dtype or torch.float32).eval())
        return mods


def atomic_save(obj, path) -> None:
    """torch.save `obj` to `path` through a unique temporary file and a rename."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def save_cascade(path, stages: list[StageSpec], models: list, meta: dict | None = None,
                 half: bool = True) -> None:
    """Write a cascade file from the stages' specs and torch modules (float16 weights when `half`)."""
    sds = []
    for m in models:
        sd = {k: v.detach().cpu() for k, v in m.state_dict().items()}
        if half:
            sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
        sds.append(sd)
    atomic_save({"format": FORMAT, "version": FORMAT_VERSION, "stages": [asdict(s) for s in stages],
                 "state_dicts": sds, "meta": meta or {}}, path)


def load_cascade(path) -> CascadeFile:
    """Read a cascade file (or a training checkpoint of one stage) -> CascadeFile."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        import torch
    except ImportError:
        from ..install import pip_hint

        raise ImportError(f"{path}: reading a .pt cascade needs PyTorch: {pip_hint('torch')} "
                          "(or load the .onnx export with backend='onnxruntime')") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"{path}: not a readable torch weights file ({e})") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return CascadeFile([StageSpec(**s) for s in obj["stages"]], obj["state_dicts"], obj.get("meta", {}))
    if isinstance(obj, dict) and "cascade" in obj:  # a training checkpoint
        c = obj["cascade"]
        return CascadeFile([StageSpec(**s) for s in c["stages"]], c["state_dicts"], c.get("meta", {}))
    raise ValueError(f"{path}: not a facealign cascade or checkpoint")
