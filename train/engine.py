"""The training loop: one stage of the cascade, checkpointed every epoch, resumable exactly.

Writes checkpoints/<name>/{last,best}.pt, logs/<name>/{train.log,metrics.csv}
and TensorBoard runs/<name>/<timestamp>/ below `cfg.out`.
"""
from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from facealign.data import load_split, train_val_split
from facealign.metrics import nme
from facealign.models import StageSpec, load_cascade, mean_template, to_input
from facealign.models.cascade import atomic_save, run_cascade
from facealign.transform import CropTransform, points_box

from .augment import photometric, sample_crop
from .config import Config, from_dict, to_dict
from .losses import get_loss, heatmap_kl

log = logging.getLogger("facealign.train")


def stage_spec(cfg: Config, template=None) -> StageSpec:
    common = dict(model=cfg.model, width=cfg.width, head=cfg.head, input_size=cfg.input_size,
                  crop_scale=cfg.crop_scale)
    if cfg.stage == 1:
        return StageSpec(crop="box", **common)
    # a fully connected head regresses offsets from the template; an integral head
    # (soft-argmax) points where each landmark is, so its outputs are absolute
    return StageSpec(crop="points", template=np.asarray(template).tolist(), residual=cfg.head != "integral",
                     **common)


class Run:
    """Everything one training run holds; `fit()` trains, `--resume` rebuilds it from last.pt."""

    def __init__(self, cfg: Config, data_root=None, resume: bool = False):
        self.cfg = cfg
        out = Path(cfg.out)
        self.ckpt_dir = out / "checkpoints" / cfg.name
        self.log_dir = out / "logs" / cfg.name
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log_to_file()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)

        faces = load_split("train", cfg.data or data_root)
        tr, va = train_val_split(len(faces), cfg.val_fraction, seed=0)
        if cfg.max_train:
            tr = tr[: cfg.max_train]
            va = va[: max(16, min(len(va), cfg.max_train // 4))]
        self.train_set, self.val_set = faces.subset(tr), faces.subset(va)
        log.info("%s: %d training faces, %d validation faces (%s)", cfg.name, len(self.train_set),
                 len(self.val_set), faces.counts)

        self.prev_stages, self.prev_models = [], []
        template = None
        if cfg.stage == 2:
            casc = load_cascade(cfg.stage1)
            self.prev_stages, self.prev_models = casc.stages[:1], casc.models()[:1]
            for m in self.prev_models:
                m.requires_grad_(False)
            template = mean_template(self.train_set.points(), cfg.input_size, cfg.crop_scale)
        self.spec = stage_spec(cfg, template)
        self.model = self.spec.build()
        if cfg.init_from and not resume:  # (a resumed run takes its weights from last.pt below)
            self._init_from_checkpoint(cfg.init_from)
        elif cfg.stage == 2 and cfg.init_from_stage1 and not resume:
            self._init_from(self.prev_models[0], self.prev_stages[0])
        self.loss_fn = get_loss(cfg.loss)
        self.opt = self._optimizer()
        self.steps_per_epoch = math.ceil(len(self.train_set) / cfg.batch_size)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._lr_factor)
        self.epoch, self.best, self.history = 0, float("inf"), []
        self.run_dir = out / "runs" / cfg.name / time.strftime("%Y%m%d-%H%M%S")
        if resume:
            self._resume()
        from torch.utils.tensorboard import SummaryWriter  # imported late: tensorboard is slow to import

        self.tb = SummaryWriter(str(self.run_dir))

    # ----- set-up -------------------------------------------------------------------------
    def _init_from(self, stage1, spec1):
        """Start stage 2 as stage 1 run on the aligned crop: same weights, and the output
        bias moved so that stage 1's absolute outputs become offsets from the template.
        A stage 2 with another head (integral) or input size takes stage 1's backbone only."""
        if (spec1.model, spec1.width) != (self.spec.model, self.spec.width):
            raise ValueError("init_from_stage1 needs stage 1 and stage 2 of the same network and width")
        if (spec1.head, spec1.input_size) != (self.spec.head, self.spec.input_size):
            backbone = {k: v for k, v in stage1.state_dict().items() if k.startswith(("stem.", "layers."))}
            self.model.load_state_dict(backbone, strict=False)
            log.info("stage 2 starts from stage 1's backbone (%d tensors)", len(backbone))
            return
        self.model.load_state_dict(stage1.state_dict())
        half = self.spec.codec.half
        shift = 1.0 - (torch.tensor(self.spec.template) + 0.5) / half  # abs_norm -> offset_norm
        with torch.no_grad():
            self.model.fc.bias += shift.reshape(-1)
        log.info("stage 2 starts from stage 1's weights")

    def _init_from_checkpoint(self, path: str):
        """Fine-tune: start from the weights of an earlier run of the same network (a training
        checkpoint, or the last stage of a cascade file)."""
        state = {k: v.float() for k, v in load_cascade(path).state_dicts[-1].items()}
        try:
            self.model.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"init_from={path} holds another network than this config's "
                             f"({self.spec.model}, width {self.spec.width}, head {self.spec.head})") from e
        log.info("starts from the weights in %s", path)

    def _log_to_file(self):
        handler = logging.FileHandler(self.log_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger("facealign")
        root.handlers = [h for h in root.handlers if not isinstance(h, logging.FileHandler)] + [handler]
        root.setLevel(logging.INFO)

    def _optimizer(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.cfg.lr, momentum=self.cfg.momentum,
                                   weight_decay=self.cfg.weight_decay, nesterov=True)
        return torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)

    def _lr_factor(self, step: int) -> float:
        total = self.cfg.epochs * self.steps_per_epoch
        warm = self.cfg.warmup_epochs * self.steps_per_epoch
        if step < warm:
            return (step + 1) / warm
        if self.cfg.schedule == "cosine":
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        if self.cfg.schedule == "step":
            return 0.1 ** int(3 * step / max(1, total))
        return 1.0

    def _resume(self):
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            raise FileNotFoundError(f"--resume: {path} does not exist; start without --resume")
        ck = torch.load(path, map_location="cpu", weights_only=False)
        saved = from_dict(ck["config"])
        if replace(saved, epochs=self.cfg.epochs) != replace(self.cfg, epochs=self.cfg.epochs):
            log.warning("--resume: the config differs from the checkpoint's (only `epochs` should change)")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.epoch, self.best, self.history = ck["epoch"], ck["best"], ck["history"]
        self.run_dir = Path(ck["run_dir"])
        log.info("resumed %s after epoch %d (best val NME %.3f %%)", self.cfg.name, self.epoch, self.best)

    # ----- data -----------------------------------------------------------------------------
    def _batch(self, idx, rng):
        """Augmented stage-1 samples for the faces `idx`."""
        c, size = self.cfg, self.cfg.input_size
        s1_size = self.prev_stages[0].input_size if self.prev_stages else size
        s1_scale = self.prev_stages[0].crop_scale if self.prev_stages else c.crop_scale
        out = [sample_crop(self.train_set.image(i, cache=True), self.train_set[i].pts, s1_size, s1_scale,
                           c.box_jitter, c.augment, rng) for i in idx]
        crops, pts_crop, frames, pts_frame, tfs = zip(*out)
        return np.stack(crops), np.stack(pts_crop), frames, np.stack(pts_frame), tfs

    def _stage2_inputs(self, crops1, tfs1, frames, pts_frame, rng):
        """Stage 1's real predictions on the augmented faces -> stage-2 crops and their targets."""
        with torch.no_grad():
            raw = self.prev_models[0](torch.from_numpy(to_input(crops1))).numpy()
        s1_crop = self.prev_stages[0].decode(raw)
        s1_frame = [t.to_frame(p) for t, p in zip(tfs1, s1_crop)]
        tfs2 = [self.spec.transform(pts_frame=p) for p in s1_frame]
        crops2 = [t.warp(np.ascontiguousarray(f)) for t, f in zip(tfs2, frames)]
        if self.cfg.augment.enabled:
            crops2 = [photometric(x, self.cfg.augment, rng) for x in crops2]
        gt = np.stack([t.to_crop(p) for t, p in zip(tfs2, pts_frame)])
        return np.stack(crops2), gt

    # ----- training -------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None) -> dict:
        """Train to cfg.epochs, or stop (resumably) after `stop_after` more epochs."""
        c = self.cfg
        log.info("training %s: %s", c.name, to_dict(c))
        last = c.epochs if stop_after is None else min(c.epochs, self.epoch + stop_after)
        while self.epoch < last:
            t0 = time.time()
            loss = self._train_epoch()
            val = self.validate()
            self.epoch += 1
            row = {"epoch": self.epoch, "loss": loss, "val_nme": val, "lr": self.opt.param_groups[0]["lr"],
                   "seconds": time.time() - t0}
            self.history.append(row)
            self.tb.add_scalar("loss/train", loss, self.epoch)
            self.tb.add_scalar("nme/val", val, self.epoch)
            self.tb.add_scalar("lr", row["lr"], self.epoch)
            if self.epoch % c.grid_every == 0 or self.epoch == c.epochs:
                self._grid()
            is_best = val < self.best
            self.best = min(self.best, val)
            self._checkpoint(is_best)
            self._write_metrics()
            log.info("epoch %d/%d loss %.4f val NME %.3f %% (best %.3f) %.0fs", self.epoch, c.epochs, loss, val,
                     self.best, row["seconds"])
        self.tb.close()
        return {"best_val_nme": self.best, "epochs": self.epoch, "history": self.history}

    def _train_epoch(self) -> float:
        c = self.cfg
        rng = np.random.default_rng([c.seed, self.epoch])  # one stream per epoch: resume replays it
        torch.manual_seed(c.seed * 100003 + self.epoch)
        order = rng.permutation(len(self.train_set))
        self.model.train()
        total, n = 0.0, 0
        codec = self.spec.codec
        bar = tqdm(range(0, len(order), c.batch_size), desc=f"{c.name} {self.epoch + 1}/{c.epochs}",
                   leave=False, dynamic_ncols=True)
        for start in bar:
            idx = order[start:start + c.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs two samples
            crops, pts_crop, frames, pts_frame, tfs = self._batch(idx, rng)
            gt = pts_crop
            if self.prev_models:
                crops, gt = self._stage2_inputs(crops, tfs, frames, pts_frame, rng)
            pred = self.spec.decode(self.model(torch.from_numpy(to_input(crops))))
            loss = self.loss_fn(pred, torch.from_numpy(gt), omega=c.wing_omega, epsilon=c.wing_epsilon)
            if c.heatmap_weight and c.head == "integral":
                target = self.spec.codec.encode(torch.from_numpy(gt))
                loss = loss + c.heatmap_weight * heatmap_kl(self.model.integral.last_prob, target, c.heatmap_sigma)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {self.epoch + 1}; lower lr={c.lr}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
            bar.set_postfix(loss=f"{total / n:.4f}")
        return total / max(n, 1)

    def runners(self):
        models = self.prev_models + [self.model]

        def wrap(m):
            def run(x):
                with torch.no_grad():
                    return m(torch.from_numpy(x)).numpy()
            return run
        return [wrap(m) for m in models]

    def validate(self) -> float:
        """Mean NME (%) of the cascade so far on the validation faces, ground-truth boxes."""
        self.model.eval()
        gt = self.val_set.points()
        preds = []
        for s in range(0, len(self.val_set), 64):
            idx = range(s, min(s + 64, len(self.val_set)))
            frames = [self.val_set.image(i, cache=True) for i in idx]
            boxes = [points_box(gt[i]) for i in idx]
            preds.append(run_cascade(self.prev_stages + [self.spec], self.runners(), frames, boxes)[-1])
        return float(nme(np.concatenate(preds), gt).mean() * 100)

    # ----- outputs --------------------------------------------------------------------------
    def _grid(self):
        import cv2

        from facealign.draw import draw_points

        self.model.eval()
        tiles = []
        for i in range(min(16, len(self.val_set))):
            img = self.val_set.image(i, cache=True)
            box = points_box(self.val_set[i].pts)
            pts = run_cascade(self.prev_stages + [self.spec], self.runners(), [img], [box])[-1][0]
            tf = CropTransform.from_box(box, 128, 1.4)
            tile = draw_points(tf.warp(img), tf.to_crop(pts), radius=1)
            tiles.append(cv2.cvtColor(tile, cv2.COLOR_BGR2RGB))
        grid = np.stack(tiles).transpose(0, 3, 1, 2)
        self.tb.add_images("val/predictions", grid, self.epoch, dataformats="NCHW")

    def cascade_entry(self) -> dict:
        from dataclasses import asdict

        models = self.prev_models + [self.model]
        return {"stages": [asdict(s) for s in self.prev_stages + [self.spec]],
                "state_dicts": [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in models],
                "meta": {"config": to_dict(self.cfg), "val_nme": self.best}}

    def _checkpoint(self, is_best: bool):
        ck = {"config": to_dict(self.cfg), "epoch": self.epoch, "best": self.best, "history": self.history,
              "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
              "scheduler": self.sched.state_dict(), "run_dir": str(self.run_dir),
              "metrics": self.history[-1], "cascade": self.cascade_entry()}
        atomic_save(ck, self.ckpt_dir / "last.pt")
        if is_best:
            atomic_save(ck, self.ckpt_dir / "best.pt")

    def _write_metrics(self):
        path = self.log_dir / "metrics.csv"
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(self.history[0]))
            w.writeheader()
            w.writerows(self.history)
