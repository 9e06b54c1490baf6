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

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..schemes import MULTIPIE_68, PointScheme
from ..transform import CropTransform, SimilarityTarget, points_box
from . import heatmap
from .codec import CorrectionCodec, OffsetCodec, PointCodec
from .registry import create_model


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
    # > 0: a 4th input channel shows the previous stage's points in this crop (Gaussians of this
    # sigma, crop pixels; see heatmap.render) and the outputs are corrections to those points
    heatmap_sigma: float = 0.0
    head_args: dict = field(default_factory=dict)  # the head's own architecture keys (heads/*.py arch_keys)
    num_points: int = 68  # K: the points it predicts (the cascade's scheme's num_points)
    stem: str = "pool"  # the network's layers before layer 1 (models/resnet.py STEMS)
    antialias: bool = False  # a blur before each stride-2 step (models/resnet.py): steadier under sub-pixel moves

    @cached_property
    def codec(self) -> PointCodec:
        """What this stage's outputs mean (models/codec.py): absolute points, offsets from the
        template (residual) or corrections to the previous stage's points (heatmap input)."""
        if self.heatmap_sigma:
            return CorrectionCodec(self.input_size)
        if self.residual:
            return OffsetCodec(self.input_size, self.template_crop)
        return PointCodec(self.input_size)

    @cached_property
    def template_crop(self) -> np.ndarray | None:
        """`template` as a (K, 2) float32 array (crop pixels), made once; None for a box stage."""
        return None if self.template is None else np.asarray(self.template, np.float32)

    @cached_property
    def template_target(self) -> SimilarityTarget | None:
        """`template` as the fixed end of the crop's similarity fit (centred once); None for a box stage."""
        return None if self.template is None else SimilarityTarget(self.template_crop)

    @property
    def in_channels(self) -> int:
        return 4 if self.heatmap_sigma else 3

    def build(self):
        """This stage's network, a torch.nn.Module (needs PyTorch)."""
        return create_model(self.model, width=self.width, head=self.head, input_size=self.input_size,
                            in_chans=self.in_channels, head_args=self.head_args, num_points=self.num_points,
                            stem=self.stem, antialias=self.antialias)

    def transform(self, box_xyxy=None, pts_frame=None) -> CropTransform:
        """Crop for this stage from a point box (stage 1) or previous points (stage 2)."""
        if self.crop == "box":
            if box_xyxy is None:
                box_xyxy = points_box(pts_frame)
            return CropTransform.from_box(box_xyxy, self.input_size, self.crop_scale)
        return CropTransform.from_points(pts_frame, self.template_target, self.input_size)

    def decode(self, out, previous=None):
        """(N, K, 2) network outputs (numpy or torch) -> crop pixels, by this stage's codec. previous:
        the previous stage's points in this crop's pixels (a heatmap stage corrects them)."""
        return self.codec.decode(out, previous)


def mean_template(pts_frames: np.ndarray, size: int, crop_scale: float) -> np.ndarray:
    """Mean face in a `size` crop: the mean of each face's points in its point-box crop."""
    crops = [CropTransform.from_box(points_box(p), size, crop_scale).to_crop(p) for p in pts_frames]
    return np.mean(crops, axis=0).astype(np.float32)


def to_input(crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """BGR uint8 crops (N, S, S, 3) -> float32 (N, 3, S, S) RGB in [0, 1]: the input of every backend."""
    arr = np.asarray(crops)
    out = np.empty((arr.shape[0], arr.shape[3], arr.shape[1], arr.shape[2]), np.float32)
    # one pass: each byte as float32 times float32(1 / 255), as `float32 array * (1 / 255)` computes
    return np.multiply(arr[..., ::-1].transpose(0, 3, 1, 2), 1.0 / 255.0, out=out, dtype=np.float32)


class CascadeOutput(list):
    """run_cascade's answer: one (N, K, 2) float32 frame-point array per stage (it is that list), and
    `scores`: the last stage's (N, K) float32 point confidences in [0, 1], None when its head has none."""

    scores: np.ndarray | None = None

    def __init__(self, per_stage=(), scores: np.ndarray | None = None):
        super().__init__(per_stage)
        self.scores = scores


def split_output(out) -> tuple[np.ndarray, np.ndarray | None]:
    """A runner's answer -> (outputs, scores or None). The backends' runners return (outputs, scores
    or None); a runner that returns the outputs alone (an array) has no scores."""
    if isinstance(out, tuple):
        raw, scores = out
        return raw, scores
    return out, None


def run_cascade(stages: list[StageSpec], runners, frames, boxes_xyxy=None, pts=None, flip: bool = False,
                names: list[str] | None = None, observe=None, scheme: PointScheme = MULTIPIE_68) -> CascadeOutput:
    """Run the cascade on N faces.

    frames: N BGR uint8 pictures (the same array may repeat for several faces);
    boxes_xyxy: (N, 4) point-box-like boxes in frame pixels; runners[i]: a
    callable (N, C, S, S) float32 -> ((N, K, 2) normalised outputs, (N, K) point scores in
    [0, 1] or None) (C = spec.in_channels: RGB, and for a heatmap stage the previous points
    rendered by heatmap.render); a runner may return the outputs alone (no scores).
    pts instead of boxes: (N, 68, 2) frame points from which a box stage crops
    around their box and a points stage aligns them (tracking: last frame's points).
    flip: test-time flip averaging: each stage also sees its crops mirrored (in the
    same batch) and averages the two answers (points and scores, the mirrored ones put back
    in the scheme's order) before the next stage crops from them.
    names: each stage's name in the events (default stage1, stage2, ...); observe: an
    optional callable(event, ms) told the time of each "crop" (warping and input
    preparation) and of each stage by name (its network and putting its points back
    into the frame), as they happen. scheme: the points' scheme (its mirror partners, for flip).
    Returns a CascadeOutput: one (N, K, 2) float32 array of frame points per stage, and the
    last stage's point scores (N, K) or None.
    """
    names = names or [f"stage{i + 1}" for i in range(len(stages))]
    out = CascadeOutput()
    for spec, run, name in zip(stages, runners, names):
        t0 = time.perf_counter()
        tfs, x, previous = stage_input(spec, frames, boxes_xyxy, pts, flip, scheme)
        t1 = _observed(observe, "crop", t0)
        raw, scores = split_output(run(x))
        raw = np.asarray(raw, dtype=np.float32).reshape(len(x), -1, 2)
        pts = _stage_points(spec, raw, tfs, previous, flip, scheme)
        out.scores = None if scores is None else _stage_scores(scores, len(tfs), flip, scheme)
        _observed(observe, name, t1)
        out.append(pts)
    return out


def stage_input(spec: StageSpec, frames, boxes_xyxy=None, pts=None, flip: bool = False,
                scheme: PointScheme = MULTIPIE_68):
    """One stage's crops -> (CropTransforms, network input (M, C, S, S), previous points in
    the crops or None); M = 2N with flip (the mirrored crops follow the plain ones)."""
    if pts is None:
        tfs = [spec.transform(box_xyxy=b) for b in boxes_xyxy]
    else:  # a box stage crops around the points' box, a points stage aligns them
        tfs = [spec.transform(pts_frame=p) for p in pts]
    crops = stack_faces([t.warp(f) for t, f in zip(tfs, frames)])
    previous = None
    if spec.heatmap_sigma:
        if pts is None:
            raise ValueError("a heatmap stage needs the previous stage's points (or tracked points)")
        previous = np.stack([t.to_crop(p) for t, p in zip(tfs, pts)])
    if flip:
        crops = np.concatenate([crops, crops[:, :, ::-1]])
        if previous is not None:
            previous = np.concatenate([previous, scheme.flip(previous, spec.input_size)])
    x = to_input(crops)
    if previous is not None:
        x = np.concatenate([x, heatmap.render(previous, spec.input_size, spec.heatmap_sigma)], axis=1)
    return tfs, x, previous


def _stage_points(spec: StageSpec, raw: np.ndarray, tfs, previous, flip: bool, scheme: PointScheme) -> np.ndarray:
    """Network outputs (M, K, 2) -> (N, K, 2) frame points (flip: the two answers averaged)."""
    pts_crop = spec.decode(raw, previous)
    if flip:
        n = len(tfs)
        pts_crop = (pts_crop[:n] + scheme.flip(pts_crop[n:], spec.input_size)) / 2
    return stack_faces([t.to_frame(p) for t, p in zip(tfs, pts_crop)])


def _stage_scores(scores, n: int, flip: bool, scheme: PointScheme) -> np.ndarray:
    """Point scores (M, K) -> (N, K) float32 (flip: the mirrored crops' scores put back in the
    scheme's order, point i's from its mirror partner, and averaged with the plain ones)."""
    scores = np.asarray(scores, dtype=np.float32).reshape(-1, scheme.num_points)
    if flip:
        scores = (scores[:n] + scores[n:][:, scheme.flip_permutation]) / 2
    return scores


def stack_faces(arrays: list[np.ndarray]) -> np.ndarray:
    """np.stack of a list of same-shape arrays; one array (one face: the usual video frame) becomes
    a view with a new first axis, without np.stack's checks and copy."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def _observed(observe, event: str, since: float) -> float:
    """Tell observe(event, ms) the time since `since` (a perf_counter reading; nothing when observe
    is None) -> the time now, where the next event's timing starts."""
    now = time.perf_counter()
    if observe is not None:
        observe(event, (now - since) * 1e3)
    return now
