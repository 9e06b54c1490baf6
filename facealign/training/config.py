"""Experiment config: a dataclass schema, one YAML per experiment, `key=value` overrides.

Checked without importing torch, so a typo is reported at once: the names of the
models, heads and losses are listed here (tests check them against the registries).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from facealign.models.heads import list_heads  # the heads' one list (torch-free: the table, not the modules)

from .head_options import LEGACY
from .head_options import resolve as resolve_head_options


def _config_dir() -> Path:
    """The checkout's train/configs, else the copy a wheel installs as facealign/training/configs."""
    checkout = Path(__file__).resolve().parents[2] / "train" / "configs"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "configs"


CONFIG_DIR = _config_dir()
STEMS = ("pool", "stride4")  # = facealign.models.resnet.STEMS
MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")  # = facealign.models.list_models()
LOSSES = ("mse", "l1", "smoothl1", "wing")  # = facealign.training.losses.LOSSES
AMP = ("auto", "off", "bf16", "fp16")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass
class AugmentConfig:
    enabled: bool = True
    rotate: float = 20.0  # max degrees, uniform
    scale: float = 0.15  # crop side x uniform(1 - s, 1 + s)
    shift: float = 0.06  # centre shift, fraction of the crop side
    flip: float = 0.5  # probability
    color: float = 0.8  # probability of brightness/contrast/colour jitter
    blur: float = 0.2
    grey: float = 0.1
    occlusion: float = 0.3  # probability of one random grey rectangle


@dataclass
class Config:
    name: str = "experiment"
    # model
    model: str = "resnet18"
    width: float = 1.0
    stem: str = "pool"  # pool (torchvision's 7x7/2 conv + 3x3/2 max pool) | stride4 (the conv at stride 4, no pool:
    #                     a quarter of its work; weights of either load into the other): facealign/models/resnet.py
    antialias: bool = False  # a fixed blur before each stride-2 step (Zhang 2019): answers that follow a sub-pixel
    #                          move of the face in its crop (steadier video); no weights of its own: facealign/models/resnet.py
    head: str = "avg"  # avg (torchvision) | flatten | integral (soft-argmax) | pip (PIPNet): facealign/models/heads
    # the head's own settings, checked against its declaration and filled with its defaults
    # (facealign.models.heads.head_options; pip: stride, neighbours, score_weight, offset_weight)
    head_options: dict = field(default_factory=dict)
    input_size: int = 128
    crop_scale: float = 1.35  # crop side / longer side of the 68-point box
    box_jitter: float = 0.05  # detector-like noise of the training box (fraction of its side)
    # cascade
    stage: int = 1
    stage1: str = ""  # stage 2 only: stage-1 checkpoint or cascade file
    init_from_stage1: bool = False  # stage 2 only: start from stage 1's weights (same architecture)
    init_from: str = ""  # fine-tune: start from this training checkpoint's (or cascade file's last) weights
    consistency: float = 0.0  # stage 2: > 0 trains on two views of each face (the second crop moved a little,
    #                           both with pixel noise) and weights their disagreement (crop pixels) by this:
    #                           steadier points in video (training/consistency.py, docs/video.md)
    consistency_move: float = 1.0  # the second view's move, times consistency.MOVE (shift 1.5 % of the crop,
    #                                scale 2 %, rotation 2 degrees)
    consistency_rigid: float = 1.0  # the weight of the disagreement's similarity part (the answers moved as a
    #                                 whole) beside its shape's (1): < 1 leaves the network freer where the video
    #                                 filter and the shake measure do not look (0: only the shape must agree)
    prev_heatmap: float = 0.0  # stage 2: > 0 adds an input channel showing stage 1's points (Gaussians of
    #                            this sigma, crop pixels) and regresses corrections to them (DAN-style)
    # loss
    loss: str = "mse"  # mse | l1 | smoothl1 | wing
    loss_units: str = "pixels"  # pixels (of the input crop) | unit (points / input size: the study's [0, 1] scale)
    wing_omega: float = 10.0  # crop pixels
    wing_epsilon: float = 2.0  # crop pixels
    # optimisation
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adamw"  # adamw | sgd
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | step | constant
    warmup_epochs: float = 1.0
    seed: int = 0
    max_train: int = 0  # 0 = all training faces; N = only the first N (smoke runs)
    val_fraction: float = 0.1
    # hardware
    device: str = "auto"  # auto (CUDA when present, else cpu) | cpu | cuda | cuda:N | mps
    amp: str = "auto"  # auto (bf16 on a GPU that has it, else fp16; off on CPU) | off | bf16 | fp16
    workers: int = -1  # DataLoader worker processes per training process; 0 = in the loop; -1 = the cores
    #                    per process, at most 8 (measured with --bench: README, Training)
    threads: int = 0  # torch threads per process; 0 = the cores shared out among the processes
    channels_last: bool = False  # NHWC memory layout (faster convolutions on recent GPUs)
    compile: bool = False  # torch.compile the training forward (docs/training.md: measured)
    ema: float = 0.999  # decay of the exponential moving average of the weights; 0 = off
    sync_bn: bool = False  # BatchNorm statistics over all processes (CUDA, several processes)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # where things go
    dataset: str = "300w"  # a name in facealign.data.DATASETS: its point scheme and splits
    data: str = ""  # the dataset's root; "" = --data / $FACEALIGN_DATA / ../shared/data/300w
    out: str = "."  # checkpoints/, logs/, runs/ are made below this
    grid_every: int = 5  # epochs between TensorBoard face grids


class ConfigError(ValueError):
    pass


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _coerce(key: str, value: str, target):
    if isinstance(target, bool):
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    try:
        return type(target)(value)
    except ValueError:
        raise ConfigError(f"{key}: expected {type(target).__name__}, got {value!r}") from None


def _set(cfg, key: str, value, from_text: bool, prefix: str = ""):
    """Set `key` (dotted for sub-configs) of `cfg`; `prefix` names the enclosing keys in errors."""
    head, _, rest = key.partition(".")
    full = prefix + head
    names = {f.name for f in fields(cfg)}
    if head not in names:
        valid = ", ".join(sorted(prefix + n for n in names))
        suggest = _suggest(prefix + head, [prefix + n for n in names])
        raise ConfigError(f"unknown config key {prefix + key!r}{suggest} (valid keys: {valid})")
    current = getattr(cfg, head)
    if isinstance(current, dict):  # head_options: checked against the head's declaration once all is set
        if rest:
            current[rest] = value
        elif isinstance(value, dict):
            current.update(value)
        else:
            raise ConfigError(f"{full}: expected a mapping (or {full}.NAME=VALUE)")
        return
    if dataclasses.is_dataclass(current):
        if rest:
            _set(current, rest, value, from_text, full + ".")
        elif isinstance(value, dict):
            for k, v in value.items():
                _set(current, k, v, from_text, full + ".")
        elif isinstance(value, (bool, str)):  # `augment=false` switches every augmentation off
            current.enabled = _coerce(full, str(value), True) if from_text or isinstance(value, str) else value
        else:
            raise ConfigError(f"{full}: expected a mapping or true/false")
        return
    if rest:
        raise ConfigError(f"{full!r} has no sub-keys")
    if from_text:
        value = _coerce(full, value, current)
    elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif type(value) is not type(current):
        raise ConfigError(f"{full}: expected {type(current).__name__}, got {value!r}")
    setattr(cfg, head, value)


def _apply(cfg: Config, items, from_text: bool, legacy: dict) -> None:
    """_set every (key, value), in order; a flat head key of earlier configs sets its head_options
    entry and is noted in `legacy` (its head is checked once the config's head is known)."""
    for key, value in items:
        if key in LEGACY:
            legacy[key] = value
            cfg.head_options[LEGACY[key][1]] = value
        else:
            _set(cfg, key, value, from_text)


def load_config(path=None, overrides: list[str] | tuple = ()) -> Config:
    """Read a YAML config (a path, or a name in train/configs) and apply `key=value` overrides."""
    cfg, legacy = Config(), {}
    if path:
        p = Path(path)
        if not p.exists() and (CONFIG_DIR / f"{path}.yaml").exists():
            p = CONFIG_DIR / f"{path}.yaml"
        if not p.is_file():
            raise ConfigError(f"{path}: no such config{_suggest(str(path), list_configs())} "
                              f"(configs: {', '.join(list_configs())})")
        import yaml  # (the `train` extra)

        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of config keys")
        data.setdefault("name", p.stem)
        _apply(cfg, data.items(), False, legacy)
    pairs = []
    for item in overrides:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"override {item!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    _apply(cfg, pairs, True, legacy)
    _choice("head", cfg.head, list_heads())
    cfg.head_options = resolve_head_options(cfg.head, cfg.head_options, legacy, True, ConfigError)
    validate(cfg)
    return cfg


def _choice(key: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} unknown{_suggest(str(value), choices)} (choose from {', '.join(choices)})")


def validate(cfg: Config) -> None:
    _choice("model", cfg.model, MODELS)
    _choice("stem", cfg.stem, STEMS)
    _choice("head", cfg.head, list_heads())
    _choice("loss", cfg.loss, LOSSES)
    _choice("loss_units", cfg.loss_units, ("pixels", "unit"))
    _choice("optimizer", cfg.optimizer, ("adamw", "sgd"))
    _choice("schedule", cfg.schedule, ("cosine", "step", "constant"))
    _choice("amp", cfg.amp, AMP)
    from facealign.data import DATASETS  # (no torch: the datasets' declarations)

    _choice("dataset", cfg.dataset, sorted(DATASETS))
    if not DEVICE_PATTERN.fullmatch(cfg.device):
        raise ConfigError(f"device={cfg.device!r} unknown (choose from auto, cpu, cuda, cuda:N, mps)")
    if cfg.input_size % 32 or cfg.input_size < 32:
        raise ConfigError(f"input_size must be a multiple of 32, got {cfg.input_size}")
    if cfg.stage not in (1, 2):
        raise ConfigError("stage must be 1 or 2")
    if cfg.prev_heatmap and cfg.stage != 2:  # (and a head that is not absolute: training.models.stage_spec)
        raise ConfigError("prev_heatmap needs stage: 2 and a regression head (avg or flatten)")
    if cfg.consistency_rigid < 0:
        raise ConfigError(f"consistency_rigid is a factor >= 0, got {cfg.consistency_rigid}")
    if cfg.consistency_move < 0:
        raise ConfigError(f"consistency_move is a factor >= 0, got {cfg.consistency_move}")
    if cfg.consistency < 0 or (cfg.consistency and cfg.stage != 2):
        raise ConfigError(f"consistency is a weight >= 0 for stage: 2 (two views of its crop), got {cfg.consistency} "
                          f"at stage {cfg.stage}")
    _check_pip(cfg)
    if cfg.stage == 2 and not cfg.stage1:
        raise ConfigError("a stage-2 config needs stage1=<stage-1 checkpoint>")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ConfigError("epochs, batch_size and lr must be positive")
    if cfg.workers < -1 or cfg.threads < 0:
        raise ConfigError("workers must be -1 (auto) or more, threads 0 (auto) or more")
    if not 0 <= cfg.ema < 1:
        raise ConfigError(f"ema is a decay in [0, 1) (0 = off), got {cfg.ema}")


def _check_pip(cfg: Config) -> None:
    if cfg.head != "pip":
        return
    o = cfg.head_options
    if o["stride"] not in (16, 32):
        raise ConfigError(f"head_options.stride must be 16 or 32, got {o['stride']}")
    if cfg.input_size < 2 * o["stride"]:
        raise ConfigError(f"head=pip at head_options.stride={o['stride']} needs input_size >= {2 * o['stride']} "
                          f"(a grid of at least 2 x 2 cells), got {cfg.input_size}")
    if o["neighbours"] < 0:  # (and below the data's number of points: training.models.stage_spec)
        raise ConfigError(f"head_options.neighbours must be 0 or more, got {o['neighbours']}")
    if o["score_weight"] < 0 or o["offset_weight"] < 0 or o["score_weight"] + o["offset_weight"] == 0:
        raise ConfigError("head_options.score_weight and offset_weight must be >= 0, not both 0")


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> Config:
    """A saved config (config.json, a checkpoint's), earlier ones with flat head keys included."""
    cfg, legacy = Config(), {}
    _apply(cfg, d.items(), False, legacy)
    cfg.head_options = resolve_head_options(cfg.head, cfg.head_options, legacy, False, ConfigError)
    return cfg


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
