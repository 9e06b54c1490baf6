"""The two-stage cascade: geometry shared by training and every backend, and its weights file.

Stage 1 crops a square around a face box (the tight box of the 68 points, or a
detector box calibrated to match it) and regresses the points. Stage 2 builds a
new crop from stage 1's points: the similarity that maps them onto a mean-face
template, so the face arrives upright, centred and at one scale. Stage 2
regresses the points in that crop as offsets from the template. (Offsets from
stage 1's own points were tried first and learnt nothing: only the rigid part of
stage 1's shape is visible in the aligned crop, its non-rigid errors are not, so
the network cannot know what to add to them.)
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..topology import flip_points
from ..transform import CropTransform, points_box
from .codec import PointCodec
from .registry import create_model

FORMAT = "facealign-cascade"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StageSpec:
    """One stage: its network and how its crop is made."""

    model: str = "resnet18"
    width: float = 1.0
    head: str = "avg"
    input_size: int = 128
    crop: str = "box"  # "box": square around a face box; "points": similarity to `template`
    crop_scale: float = 1.35  # crop side / longer side of the point box
    template: list | None = None  # (68, 2) crop pixels, for crop="points"
    residual: bool = False  # outputs are offsets from `template` (crop pixels / half the crop side)

    @property
    def codec(self) -> PointCodec:
        return PointCodec(self.input_size)

    def build(self) -> torch.nn.Module:
        return create_model(self.model, width=self.width, head=self.head, input_size=self.input_size)

    def transform(self, box_xyxy=None, pts_frame=None) -> CropTransform:
        """Crop for this stage from a point box (stage 1) or previous points (stage 2)."""
        if self.crop == "box":
            if box_xyxy is None:
                box_xyxy = points_box(pts_frame)
            return CropTransform.from_box(box_xyxy, self.input_size, self.crop_scale)
        return CropTransform.from_points(pts_frame, np.asarray(self.template, np.float32), self.input_size)

    def decode(self, out):
        """(N, 68, 2) network outputs (numpy or torch) -> crop pixels."""
        if not self.residual:
            return self.codec.decode(out)
        base = np.asarray(self.template, np.float32)
        if not isinstance(out, np.ndarray):  # a torch tensor, in training (on any device)
            base = torch.as_tensor(base, device=out.device)
        return base + out * self.codec.half


def mean_template(pts_frames: np.ndarray, size: int, crop_scale: float) -> np.ndarray:
    """Mean face in a `size` crop: the mean of each face's points in its point-box crop."""
    crops = [CropTransform.from_box(points_box(p), size, crop_scale).to_crop(p) for p in pts_frames]
    return np.mean(crops, axis=0).astype(np.float32)


def to_input(crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """BGR uint8 crops (N, S, S, 3) -> float32 (N, 3, S, S) RGB in [0, 1]: the input of every backend."""
    arr = np.asarray(crops)
    return np.ascontiguousarray(arr[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) * (1.0 / 255.0)


@dataclass
class CascadeFile:
    """What a cascade weights file holds."""

    stages: list[StageSpec]
    state_dicts: list[dict]
    meta: dict = field(default_factory=dict)  # preset, metrics, training configs

    def models(self, dtype=torch.float32) -> list[torch.nn.Module]:
        mods = []
        for spec, sd in zip(self.stages, self.state_dicts):
            m = spec.build()
            m.load_state_dict({k: v.float() for k, v in sd.items()})
            mods.append(m.to(dtype).eval())
        return mods


def atomic_save(obj, path) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes files private; weights and checkpoints are ordinary files
    os.replace(tmp, path)


def save_cascade(path, stages: list[StageSpec], models: list[torch.nn.Module], meta: dict | None = None,
                 half: bool = True) -> None:
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
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"{path}: not a readable torch weights file ({e})") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return CascadeFile([StageSpec(**s) for s in obj["stages"]], obj["state_dicts"], obj.get("meta", {}))
    if isinstance(obj, dict) and "cascade" in obj:  # a training checkpoint
        c = obj["cascade"]
        return CascadeFile([StageSpec(**s) for s in c["stages"]], c["state_dicts"], c.get("meta", {}))
    raise ValueError(f"{path}: not a facealign cascade or checkpoint")


def run_cascade(stages: list[StageSpec], runners, frames, boxes_xyxy=None, pts=None,
                flip: bool = False) -> list[np.ndarray]:
    """Run the cascade on N faces.

    frames: N BGR uint8 pictures (the same array may repeat for several faces);
    boxes_xyxy: (N, 4) point-box-like boxes in frame pixels; runners[i]: a
    callable (N, 3, S, S) float32 -> (N, 68, 2) normalised outputs.
    pts instead of boxes: (N, 68, 2) frame points from which a box stage crops
    around their box and a points stage aligns them (tracking: last frame's points).
    flip: test-time flip averaging: each stage also sees its crops mirrored (in the
    same batch) and averages the two answers before the next stage crops from them.
    Returns one (N, 68, 2) float32 array of frame points per stage.
    """
    out = []
    for spec, run in zip(stages, runners):
        if pts is None:
            tfs = [spec.transform(box_xyxy=b) for b in boxes_xyxy]
        else:  # a box stage crops around the points' box, a points stage aligns them
            tfs = [spec.transform(pts_frame=p) for p in pts]
        crops = np.stack([t.warp(f) for t, f in zip(tfs, frames)])
        if flip:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        raw = np.asarray(run(to_input(crops)), dtype=np.float32).reshape(len(crops), -1, 2)
        pts_crop = spec.decode(raw)
        if flip:
            n = len(tfs)
            pts_crop = (pts_crop[:n] + flip_points(pts_crop[n:], spec.input_size)) / 2
        pts = np.stack([t.to_frame(p) for t, p in zip(tfs, pts_crop)])
        out.append(pts)
    return out
