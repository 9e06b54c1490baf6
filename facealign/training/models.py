"""The network a run trains: its stage, its first weights, and a stage-2 run's frozen stage 1."""
from __future__ import annotations

import logging

import numpy as np
import torch

from facealign.formats.cascade_pt import load_cascade
from facealign.models import StageSpec, mean_template
from facealign.models.heads import get_head
from facealign.schemes import PointScheme

from .config import Config, ConfigError

log = logging.getLogger("facealign.train")


def head_args(cfg: Config) -> dict:
    """The head's architecture options from the config (kept with the stage, so the file rebuilds it)."""
    return {kw: cfg.head_options[key] for kw, key in get_head(cfg.head).arch_keys.items()}


def stage_spec(cfg: Config, template=None, num_points: int = 68) -> StageSpec:
    """The stage a config describes; num_points: the training data's scheme's."""
    if cfg.head == "pip" and cfg.head_options["neighbours"] >= num_points:
        raise ConfigError(f"head_options.neighbours must be below the number of points ({num_points}), "
                          f"got {cfg.head_options['neighbours']}")
    common = dict(model=cfg.model, width=cfg.width, head=cfg.head, input_size=cfg.input_size,
                  crop_scale=cfg.crop_scale, head_args=head_args(cfg), num_points=num_points, stem=cfg.stem,
                  antialias=cfg.antialias)
    if cfg.stage == 1:
        return StageSpec(crop="box", **common)
    # a regression head predicts offsets from the template; a head that locates the points on a
    # map (absolute: integral, pip) cannot, nor correct stage 1's points as a heatmap stage does
    absolute = get_head(cfg.head).absolute
    if cfg.prev_heatmap and absolute:
        raise ConfigError(f"prev_heatmap needs a head whose outputs can be corrections (avg or flatten), "
                          f"not {cfg.head!r}, whose outputs are absolute points")
    return StageSpec(crop="points", template=np.asarray(template).tolist(),
                     residual=not absolute and not cfg.prev_heatmap, heatmap_sigma=cfg.prev_heatmap, **common)


def frozen_stage1(cfg: Config, scheme: PointScheme) -> tuple[StageSpec, torch.nn.Module]:
    """A stage-2 run's stage 1 (cfg.stage1: a checkpoint or cascade file), weights frozen; its
    points must be the training data's scheme."""
    casc = load_cascade(cfg.stage1)
    if casc.scheme != scheme:
        raise ConfigError(f"stage1={cfg.stage1} predicts the {casc.scheme.name!r} points, the training data has "
                          f"{scheme.name!r}")
    model = casc.models()[0].requires_grad_(False)
    return casc.stages[0], model


def build_model(cfg: Config, train_pts: np.ndarray, stage1=None, resume: bool = False):
    """-> (StageSpec, model with its first weights). A resumed run takes its weights from last.pt later."""
    mean = mean_template(train_pts, cfg.input_size, cfg.crop_scale)  # the mean face in a crop of this stage
    spec = stage_spec(cfg, mean if cfg.stage == 2 else None, num_points=train_pts.shape[1])
    torch.manual_seed(cfg.seed)
    model = spec.build()
    if resume:
        return spec, model
    model.head.prepare(torch.as_tensor(spec.codec.encode(mean)))
    if not model.head.point_loss:
        log.info("head %s trains with its own losses; loss=%s is not used", cfg.head, cfg.loss)
    if cfg.init_from:
        init_from_checkpoint(model, spec, cfg.init_from)
    elif cfg.stage == 2 and cfg.init_from_stage1:
        init_from_stage1(model, spec, *stage1)
    return spec, model


def init_from_stage1(model: torch.nn.Module, spec: StageSpec, spec1: StageSpec, stage1: torch.nn.Module) -> None:
    """Start stage 2 as stage 1 run on the aligned crop: same weights, and (a residual stage) the
    head's outputs shifted (Head.shift_outputs) so that stage 1's absolute points become offsets
    from the template. A stage 2 with another head (or head_args), input size or input channels (a heatmap) takes stage 1's
    backbone only, a heatmap channel's first filters at zero (and a new head that starts by
    repeating stage 1's points)."""
    if (spec1.model, spec1.width) != (spec.model, spec.width):
        raise ValueError("init_from_stage1 needs stage 1 and stage 2 of the same network and width")
    if ((spec1.head, spec1.head_args, spec1.input_size, spec1.in_channels)
            != (spec.head, spec.head_args, spec.input_size, spec.in_channels)):
        backbone = {k: v for k, v in stage1.state_dict().items() if k.startswith(("stem.", "layers."))}
        stem = model.state_dict()["stem.0.weight"]
        if stem.shape[1] > backbone["stem.0.weight"].shape[1]:  # extra input channels start unused
            backbone["stem.0.weight"] = torch.cat([backbone["stem.0.weight"],
                                                   torch.zeros_like(stem[:, backbone["stem.0.weight"].shape[1]:])], 1)
        model.load_state_dict(backbone, strict=False)
        log.info("stage 2 starts from stage 1's backbone (%d tensors)", len(backbone))
        return
    model.load_state_dict(stage1.state_dict())
    if spec.residual:  # abs_norm -> offset_norm
        model.head.shift_outputs(-torch.as_tensor(spec.codec.encode(np.asarray(spec.template, np.float32))))
    log.info("stage 2 starts from stage 1's weights")


def init_from_checkpoint(model: torch.nn.Module, spec: StageSpec, path: str) -> None:
    """Fine-tune: start from the weights of an earlier run of the same network (a training
    checkpoint, or the last stage of a cascade file)."""
    state = {k: v.float() for k, v in load_cascade(path).state_dicts[-1].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"init_from={path} holds another network than this config's "
                         f"({spec.model}, width {spec.width}, head {spec.head})") from e
    log.info("starts from the weights in %s", path)
