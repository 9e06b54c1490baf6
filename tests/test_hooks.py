"""Trainer hooks: the end of an epoch is a list of hooks, a custom one sees every event and can stop a run."""
from pathlib import Path

import pytest

from facealign.training.config import load_config
from facealign.training.engine import FitResult, Trainer
from facealign.training.hooks import Hook, default_hooks

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
TINY = ["model=resnet18", "width=0.25", "head=flatten", "input_size=64", "max_train=32", "batch_size=16", "workers=0",
        "epochs=3", "warmup_epochs=0.5"]

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no 300-W data at {DATA}")


class Recorder(Hook):
    """Writes down what it is told; stops the run after `stop_at` epochs (early stopping's whole job)."""

    def __init__(self, stop_at: int):
        self.stop_at, self.events = stop_at, []

    def before_epoch(self, trainer):
        self.events.append(("before_epoch", trainer.epoch))

    def after_step(self, trainer, loss, n):
        self.events.append(("after_step", n))

    def after_epoch(self, trainer, row):
        self.events.append(("after_epoch", row["epoch"], row["val_nme"] is not None, len(trainer.history)))
        trainer.stop = trainer.epoch >= self.stop_at

    def before_save(self, trainer, state):
        state["recorded"] = True
        self.events.append(("before_save", state["epoch"]))


def test_default_hooks_run_in_order():
    assert [type(h).__name__ for h in default_hooks()] == ["Validate", "FaceGrid", "Files", "Checkpoint", "EpochLog"]


def test_a_hook_sees_every_event_and_stops_the_run_resumably(tmp_path):
    import torch

    recorder = Recorder(stop_at=1)
    cfg = load_config("raw_CNN_noAug_MSE", [*TINY, f"data={DATA}", f"out={tmp_path}"])
    result = Trainer(cfg, hooks=[recorder]).fit()
    assert isinstance(result, FitResult) and result.epochs == 1 and result.stopped_early
    assert len(result.history) == 1 and result.best_val_nme == result.history[0]["val_nme"]
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["before_epoch", "after_step", "after_step", "before_save", "after_epoch"]
    # after the defaults: validated (val_nme set), the row in the history, the checkpoint written first
    assert recorder.events[-1] == ("after_epoch", 1, True, 1)
    last = torch.load(tmp_path / "checkpoints" / cfg.name / "last.pt", map_location="cpu", weights_only=False)
    assert last["recorded"] and last["epoch"] == 1
    resumed = Trainer(cfg, resume=True).fit()  # a stopped run goes on where it stopped
    assert resumed.epochs == 3 and not resumed.stopped_early and len(resumed.history) == 3
