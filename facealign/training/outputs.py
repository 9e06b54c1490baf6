"""What a run leaves on disk (rank 0 alone writes), and the guard that never loses one.

    checkpoints/<name>/last.pt   everything a resume needs
    checkpoints/<name>/best.pt   the cascade with the best validation NME (EMA weights when on)
    logs/<name>/train.log, metrics.csv, config.json
    runs/<name>/<timestamp>/     TensorBoard: loss, validation NME, learning rate, a face grid

A checkpoint stores each tensor once: the cascade entry that eval and export read
shares its tensors with the weights a resume reloads (torch.save keeps one copy of
a shared storage), and best.pt carries no optimiser state.

What the sizes are (raw_CNN_noAug_MSE, ResNet-18 at 128 px: 11.26 M numbers, 45.0 MB in float32;
`facealign train raw_CNN_noAug_MSE epochs=1 max_train=64`, measured): last.pt 180.1 MB = the raw
weights 45.1 + the EMA weights 45.1 (also the cascade entry, stored once) + AdamW's two moments
(exp_avg, exp_avg_sq) 90.0; best.pt 45.1 MB (the EMA cascade); TensorBoard 0.5 MB. All four copies
in last.pt are what an exact --resume needs (training goes on from the raw weights, the average
from the EMA, AdamW from its moments), so none is dropped; a run without EMA (ema=0) or with SGD
(one momentum buffer) writes a quarter less.
"""
from __future__ import annotations

import csv
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from facealign.formats.atomic import write_json
from facealign.formats.cascade_pt import atomic_save

from .config import Config, to_dict

log = logging.getLogger("facealign.train")


class RunExistsError(FileExistsError):
    """A run of this name has checkpoints, and neither --resume nor --overwrite was given."""


class RunFiles:
    def __init__(self, cfg: Config):
        out = Path(cfg.out)
        self.cfg = cfg
        self.ckpt_dir = out / "checkpoints" / cfg.name
        self.log_dir = out / "logs" / cfg.name
        self.runs_dir = out / "runs" / cfg.name
        self.tb = None

    @property
    def last(self) -> Path:
        return self.ckpt_dir / "last.pt"

    def check(self, resume: bool, overwrite: bool) -> None:
        """Refuse to start over an earlier run unless told how; --overwrite deletes its files."""
        held = sorted(p.name for p in self.ckpt_dir.glob("*.pt")) if self.ckpt_dir.is_dir() else []
        if resume:
            if not self.last.is_file():
                raise FileNotFoundError(f"--resume: {self.last} does not exist; start without --resume")
            return
        if held and not overwrite:
            raise RunExistsError(
                f"{self.ckpt_dir} already holds a run ({', '.join(held)}). Continue it with --resume, "
                f"start it afresh with --overwrite (deletes its checkpoints, logs and TensorBoard runs), "
                f"or give this run another name=...")
        if overwrite:
            for d in (self.ckpt_dir, self.log_dir, self.runs_dir):
                if d.is_dir():
                    shutil.rmtree(d)
                    log.info("--overwrite: removed %s", d)

    def start_log(self) -> None:
        """Make the run's folders and send the library's log to train.log too."""
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger("facealign")
        root.handlers = [h for h in root.handlers if not isinstance(h, logging.FileHandler)] + [handler]
        root.setLevel(logging.INFO)
        write_json(self.log_dir / "config.json", to_dict(self.cfg), indent=2)

    def open_tensorboard(self, run_dir: str | None = None) -> str:
        """A new TensorBoard run, or the run's own folder again on resume -> its path."""
        run_dir = run_dir or str(self.runs_dir / time.strftime("%Y%m%d-%H%M%S"))
        from torch.utils.tensorboard import SummaryWriter  # imported late: tensorboard is slow to import

        self.tb = SummaryWriter(run_dir)
        return run_dir

    def epoch(self, history: list[dict], grid=None) -> None:
        """TensorBoard scalars (and a face grid) of the last epoch; metrics.csv rewritten whole."""
        row = history[-1]
        if self.tb is not None:
            try:
                self._tensorboard(row, grid)
            except OSError as e:  # its folder deleted or its disk full: the training and its files go on
                log.warning("TensorBoard logging stopped for %s (%s); metrics.csv and the checkpoints go on",
                            self.cfg.name, e)
                self.tb = None
        with open(self.log_dir / "metrics.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            w.writeheader()
            w.writerows(history)

    def _tensorboard(self, row: dict, grid=None) -> None:
        self.tb.add_scalar("loss/train", row["loss"], row["epoch"])
        self.tb.add_scalar("nme/val", row["val_nme"], row["epoch"])
        self.tb.add_scalar("loss/val", row["val_loss"], row["epoch"])
        self.tb.add_scalar("lr", row["lr"], row["epoch"])
        self.tb.add_scalar("throughput/images_per_s", row["images_per_s"], row["epoch"])
        if grid is not None:
            self.tb.add_images("val/predictions", grid, row["epoch"], dataformats="NCHW")
        self.tb.flush()  # (the writer's thread writes; an error there shows here, not epochs later)

    def save(self, state: dict, cascade: dict, is_best: bool) -> None:
        """last.pt: `state` (weights, optimiser, progress) + `cascade`; best.pt: the cascade alone."""
        atomic_save({**state, "cascade": cascade}, self.last)
        if is_best:
            keep = ("config", "epoch", "best", "metrics")
            atomic_save({**{k: state[k] for k in keep}, "cascade": cascade}, self.ckpt_dir / "best.pt")

    def close(self) -> None:
        if self.tb:
            try:
                self.tb.close()
            except OSError as e:
                log.warning("TensorBoard's last events for %s were not written (%s)", self.cfg.name, e)


def cpu_weights(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def cascade_entry(stages, weights: list[dict], cfg: Config, best: float, scheme) -> dict:
    """The cascade as facealign.formats.cascade_pt.load_cascade reads it from a checkpoint (with its point scheme)."""
    return {"stages": [asdict(s) for s in stages], "state_dicts": weights,
            "meta": {"config": to_dict(cfg), "val_nme": best, "scheme": scheme.to_dict()}}


def read_last(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)
