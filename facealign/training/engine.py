"""The training loop of one cascade stage: data -> step -> end-of-epoch work, resumable exactly.

One process, or several started by torchrun (DistributedDataParallel): each takes
its share of every batch; rank 0 alone validates and writes (train/outputs.py).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import torch
from tqdm import tqdm

from . import distributed
from .config import Config, from_dict, to_dict
from .data import FaceSamples, ShardedBatches, context_size, make_loader, split_faces
from .devices import check_sync_bn, cores_per_process, resolve_device, resolve_precision
from .hooks import CONSOLE, Hook, default_hooks
from .inputs import Stage1Inputs, Stage2Inputs
from .models import build_model, frozen_stage1
from .outputs import RunFiles, cascade_entry, cpu_weights, read_last
from .step import CHECK_EVERY, Step, check_finite

log = logging.getLogger("facealign.train")


@dataclass(frozen=True)
class FitResult:
    """What fit() did: the best validation NME (%), the epochs trained to, every epoch's row
    (metrics.csv), and whether a hook stopped the run early."""

    best_val_nme: float
    epochs: int
    history: tuple[dict, ...]
    stopped_early: bool = False


class Trainer:
    """Everything one run holds. `fit()` trains; `write=False` (the benchmark) leaves no files;
    `hooks`: more facealign.training.hooks.Hook objects, after the default ones."""

    def __init__(self, cfg: Config, data_root=None, resume: bool = False, overwrite: bool = False,
                 write: bool = True, hooks: list[Hook] = ()):
        self.cfg, self.ranks = cfg, distributed.from_env()
        self.hooks = default_hooks() + list(hooks)
        self.device = resolve_device(cfg.device, self.ranks.local_rank, self.ranks.world, self.ranks.local_world)
        check_sync_bn(cfg.sync_bn, self.device, self.ranks.world)
        self.precision = resolve_precision(cfg.amp, self.device, cfg.batch_size)
        cores = cores_per_process(self.ranks.local_world)
        torch.set_num_threads(cfg.threads or cores)
        self.workers = cfg.workers if cfg.workers >= 0 else min(8, cores)
        distributed.init(self.ranks, self.device)
        if not self.ranks.main:
            logging.getLogger("facealign").setLevel(logging.WARNING)
        self.files = RunFiles(cfg) if write else None
        error = None
        if self.files and self.ranks.main:
            try:
                self.files.check(resume, overwrite)
                self.files.start_log()
            except (FileExistsError, FileNotFoundError) as e:
                error = e
        error = distributed.share(error, self.ranks)
        if error:
            raise error

        self.train_set, self.val_set = split_faces(cfg, data_root)
        self.prev_stages, self.prev_models, stage1 = [], [], None
        if cfg.stage == 2:
            stage1 = frozen_stage1(cfg, self.train_set.scheme)
            self.prev_stages, self.prev_models = [stage1[0]], [stage1[1].to(self.device)]
        self.spec, model = build_model(cfg, self.train_set.points(), stage1, resume)
        self._build(model)
        self.epoch, self.best, self.history, run_dir = 0, float("inf"), [], None
        if resume:
            run_dir = self._resume()
        if self.files and self.ranks.main:
            self.run_dir = self.files.open_tensorboard(run_dir)

    def _build(self, model: torch.nn.Module) -> None:
        cfg, dev = self.cfg, self.device
        model = model.to(dev, memory_format=torch.channels_last if cfg.channels_last else torch.preserve_format)
        if cfg.sync_bn and self.ranks.distributed:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if cfg.stage == 1:
            self.dataset = FaceSamples(self.train_set, cfg, cfg.input_size, cfg.crop_scale)
            self.inputs = Stage1Inputs(dev, cfg.channels_last)
        else:
            s1 = self.prev_stages[0]
            ctx = context_size([(s1.input_size, s1.crop_scale), (cfg.input_size, cfg.crop_scale)])
            self.dataset = FaceSamples(self.train_set, cfg, s1.input_size, s1.crop_scale, context=ctx)
            self.inputs = Stage2Inputs(self.prev_models[0], s1, self.spec, dev, cfg.channels_last,
                                       self.precision.dtype, views=2 if cfg.consistency else 1,
                                       move=cfg.consistency_move)
        r = self.ranks
        self.sampler = ShardedBatches(len(self.train_set), cfg.batch_size, cfg.seed, r.rank, r.world)
        self.loader = make_loader(self.dataset, self.sampler, self.workers, pin=dev.type == "cuda")
        self.step = Step(model, self.spec, cfg, dev, self.precision, len(self.sampler), r.distributed)
        log.info("%s on %s (%s), precision %s, %d process(es), DDP over %s, %d loader worker(s) each, "
                 "%d torch thread(s)", cfg.name, dev, torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU",
                 self.precision.name, r.world, distributed.backend(), self.workers, torch.get_num_threads())

    def _resume(self) -> str:
        """Rank 0 reads last.pt and hands it to the others (no shared disk needed)."""
        ck = distributed.share(read_last(self.files.last) if self.ranks.main else None, self.ranks)
        saved = from_dict(ck["config"])
        if replace(saved, epochs=self.cfg.epochs) != replace(self.cfg, epochs=self.cfg.epochs):
            log.warning("--resume: the config differs from the checkpoint's (only `epochs` should change)")
        state = ck.get("state") or {k: ck[k] for k in ("optimizer", "scheduler")}  # (a checkpoint from before EMA)
        self.step.load_state_dict(state, ck["model"], ck.get("ema"))
        self.epoch, self.best, self.history = ck["epoch"], ck["best"], ck["history"]
        log.info("resumed %s after epoch %d (best val NME %.3f %%)", self.cfg.name, self.epoch, self.best,
                 extra=CONSOLE)
        return ck["run_dir"]

    # ----- training -------------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None) -> FitResult:
        """Train to cfg.epochs, or stop (resumably) after `stop_after` more epochs, or when a hook
        sets `stop` (rank 0 decides; every rank stops after the same epoch)."""
        c = self.cfg
        log.info("training %s: %s", c.name, to_dict(c))
        last = c.epochs if stop_after is None else min(c.epochs, self.epoch + stop_after)
        self.stop = False
        try:
            while self.epoch < last and not self.stop:
                started = time.time()
                for hook in self.hooks:
                    hook.before_epoch(self)
                loss, images_per_s = self.train_epoch()
                self.epoch += 1
                if self.ranks.main:
                    self._end_of_epoch(loss, images_per_s, started)
                self.stop = distributed.share(self.stop, self.ranks)
        finally:
            if self.files and self.ranks.main:
                self.files.close()
        distributed.shutdown()
        return FitResult(self.best, self.epoch, tuple(self.history), self.stop)

    def batches(self):
        """This process's loader batches of the current epoch."""
        self.sampler.set_epoch(self.epoch)
        return iter(self.loader)

    def train_step(self, batch: dict) -> tuple[torch.Tensor, int]:
        """Inputs and targets on the device (stage 2: through stage 1), one step -> (mean loss, crops:
        the faces, twice with two views of each)."""
        inputs = self.inputs(batch)
        return self.step(*inputs), len(inputs.x)

    def train_epoch(self) -> tuple[float, float]:
        """One epoch -> (mean loss over all processes' faces, images per second over all processes).

        The loss is summed on the device and read (summed over the ranks, so that all of them stop
        together) every CHECK_EVERY steps and at the end: FloatingPointError when it is not finite.
        Nothing else in a step waits for the device or copies from the host."""
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)  # sum of loss * faces
        faces = 0
        bar = tqdm(self.batches(), total=len(self.sampler), desc=f"{self.cfg.name} {self.epoch + 1}/{self.cfg.epochs}",
                   leave=False, dynamic_ncols=True, disable=not self.ranks.main)
        t0 = time.perf_counter()
        for i, batch in enumerate(bar, 1):
            loss, n = self.train_step(batch)
            for hook in self.hooks:
                hook.after_step(self, loss, n)
            loss_sum += loss.double() * n
            faces += n
            if i % CHECK_EVERY == 0:
                mean, seen = self._mean_loss(loss_sum, faces, f" within the first {i} steps of epoch {self.epoch + 1}")
                bar.set_postfix(loss=f"{mean:.4f}", img_s=f"{seen / (time.perf_counter() - t0):.0f}")
        mean, seen = self._mean_loss(loss_sum, faces, f" in epoch {self.epoch + 1}")
        return mean, seen / (time.perf_counter() - t0)

    def _mean_loss(self, loss_sum: torch.Tensor, faces: int, where: str) -> tuple[float, float]:
        """(mean loss per face, faces) over all ranks so far (one host sync); FloatingPointError if not finite."""
        total = distributed.sum_over_ranks(torch.stack([loss_sum, loss_sum.new_full((), faces)]), self.ranks)
        total_loss, total_faces = total.tolist()
        check_finite(total_loss, self.cfg.lr, where)
        return total_loss / max(total_faces, 1), total_faces

    # ----- end of epoch (rank 0: the hooks) -------------------------------------------------------------
    @property
    def stages(self) -> list:
        """The cascade so far: the frozen earlier stages and this one."""
        return self.prev_stages + [self.spec]

    @property
    def eval_models(self) -> list[torch.nn.Module]:
        """Their networks, this stage's the weights that are validated, kept and exported (EMA when on)."""
        return self.prev_models + [self.step.eval_model]

    def _end_of_epoch(self, loss: float, images_per_s: float, started: float) -> None:
        """The epoch's row (metrics.csv's columns, in order), filled in by the after_epoch hooks."""
        row = {"epoch": self.epoch, "loss": loss, "val_nme": None, "val_loss": None, "lr": self.step.lr,
               "images_per_s": images_per_s, "seconds": None, "started": started}
        self.is_best, self.grid = False, None
        for hook in self.hooks:
            hook.after_epoch(self, row)

    def save_checkpoint(self) -> None:
        """last.pt (and best.pt when is_best); the before_save hooks see the state first. Each tensor
        once: the cascade's last stage *is* the EMA (or raw) weights dict."""
        raw = cpu_weights(self.step.model)
        ema = cpu_weights(self.step.ema.module) if self.step.ema else None
        weights = [cpu_weights(m) for m in self.prev_models] + [ema if ema is not None else raw]
        state = {"config": to_dict(self.cfg), "epoch": self.epoch, "best": self.best, "history": self.history,
                 "metrics": self.history[-1], "run_dir": self.run_dir, "model": raw, "ema": ema,
                 "state": self.step.state_dict()}
        for hook in self.hooks:
            hook.before_save(self, state)
        self.files.save(state, cascade_entry(self.stages, weights, self.cfg, self.best, self.train_set.scheme),
                        self.is_best)
