"""A run's work around its steps and epochs, as hooks (the loop in engine.py only trains).

Each hook may define any of:
    before_epoch(trainer)            every rank, before the epoch's first batch
    after_step(trainer, loss, n)     every rank, after each step (loss: the step's mean loss tensor)
    after_epoch(trainer, row)        rank 0, after the epoch: `row` holds the epoch's figures so far
                                     (epoch, loss, lr, images_per_s, seconds); a hook adds its own
    before_save(trainer, state)      rank 0, before a checkpoint is written (`state` may gain keys)
Rank 0's after_epoch hooks run in order: validate, face grid, files (TensorBoard, metrics.csv),
checkpoint, log line. `trainer.stop = True` from any hook ends the run after this epoch
(resumable), which is all early stopping needs. `Trainer(cfg, hooks=[...])` adds hooks after
the defaults.
"""
from __future__ import annotations

import logging
import time

from .validate import face_grid, validate

log = logging.getLogger("facealign.train")
CONSOLE = {"console": True}  # shown without --verbose (facealign.cli.console_filter); other info lines only with it


class Hook:
    """Does nothing; subclasses override what they need (see the module's docstring)."""

    def before_epoch(self, trainer) -> None:
        pass

    def after_step(self, trainer, loss, n: int) -> None:
        pass

    def after_epoch(self, trainer, row: dict) -> None:
        pass

    def before_save(self, trainer, state: dict) -> None:
        pass


class Validate(Hook):
    """The cascade so far on the validation faces: row gains val_nme, val_loss; trainer.best, is_best."""

    def after_epoch(self, trainer, row: dict) -> None:
        val, val_loss = validate(trainer.stages, trainer.eval_models, trainer.val_set, trainer.device,
                                 trainer.step.loss_fn)
        trainer.is_best = val < trainer.best
        trainer.best = min(trainer.best, val)
        row.update(val_nme=val, val_loss=val_loss)


class FaceGrid(Hook):
    """Every grid_every epochs (and the last), a grid of predicted validation faces for TensorBoard."""

    def after_epoch(self, trainer, row: dict) -> None:
        c = trainer.cfg
        trainer.grid = None
        if trainer.files and (trainer.epoch % c.grid_every == 0 or trainer.epoch == c.epochs):
            trainer.grid = face_grid(trainer.stages, trainer.eval_models, trainer.val_set, trainer.device)


class Files(Hook):
    """The epoch into the history, TensorBoard and metrics.csv (its time counts everything before)."""

    def after_epoch(self, trainer, row: dict) -> None:
        row["seconds"] = time.time() - row.pop("started")
        trainer.history.append(row)
        if trainer.files:
            trainer.files.epoch(trainer.history, trainer.grid)


class Checkpoint(Hook):
    """last.pt every epoch, best.pt when the validation NME is the best so far."""

    def after_epoch(self, trainer, row: dict) -> None:
        if trainer.files:
            trainer.save_checkpoint()


class EpochLog(Hook):
    """One console line per epoch."""

    def after_epoch(self, trainer, row: dict) -> None:
        log.info("epoch %d/%d  loss %.4f  val NME %.3f %% (best %.3f)  %.0f img/s  %.0fs", trainer.epoch,
                 trainer.cfg.epochs, row["loss"], row["val_nme"], trainer.best, row["images_per_s"], row["seconds"],
                 extra=CONSOLE)


def default_hooks() -> list[Hook]:
    return [Validate(), FaceGrid(), Files(), Checkpoint(), EpochLog()]
