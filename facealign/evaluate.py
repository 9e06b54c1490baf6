"""NME / failure rate / AUC / CED of a cascade on 300-W subsets or any folder (`facealign eval`).

Boxes: `--boxes gt` crops from the tight box of the ground-truth points (the
protocol of the study); `--boxes detector` runs MediaPipe on each picture and
crops from its calibrated box, counting faces it misses as failures (reported).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import FaceSet
from .metrics import FAILURE_THRESHOLD, ced, nme, summarize
from .transform import points_box

log = logging.getLogger(__name__)
TEST_SUBSETS = ("common", "challenging", "full")


def predict_faceset(model, faces: FaceSet, boxes=None, batch: int = 32, flip: bool = False) -> list[np.ndarray]:
    """Frame points of every face after each stage: list (per stage) of (N, K, 2).

    boxes: (N, 4) point-box-like boxes, default the ground-truth point boxes.
    """
    gt = faces.points()
    boxes = np.stack([points_box(p) for p in gt]) if boxes is None else np.asarray(boxes, np.float32)
    per_stage = None
    for s in range(0, len(faces), batch):
        idx = list(range(s, min(s + batch, len(faces))))
        frames = [faces.image(i) for i in idx]
        outs = model(frames, boxes[idx], flip=flip)
        per_stage = outs if per_stage is None else [np.concatenate([a, b]) for a, b in zip(per_stage, outs)]
    return per_stage


def detector_boxes(faces: FaceSet, detector) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated detector boxes (N, 4) and a found-mask (N,). A picture with several
    detections takes the one whose box centre is nearest the ground-truth face."""
    boxes, found = np.zeros((len(faces), 4), np.float32), np.zeros(len(faces), bool)
    for i in range(len(faces)):
        cands = [detector.box_map(d.box_xyxy) for d in detector.detect(faces.image(i))]
        if not cands:
            continue
        gt = points_box(faces[i].pts)
        boxes[i] = min(cands, key=lambda b: np.abs((b[:2] + b[2:]) - (gt[:2] + gt[2:])).sum())
        found[i] = True
    return boxes, found


def _num(v: float) -> float | None:
    """JSON-ready: NaN (no faces) as null."""
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


@dataclass(frozen=True)
class StageScore:
    """One cascade stage over the faces evaluated: nme and fr in percent, auc a fraction of 1.
    fr_with_missed: detector boxes only, the failure rate counting missed faces as failures."""

    stage: int
    n: int
    nme: float
    fr: float
    auc: float
    fr_with_missed: float | None = None

    def to_json(self) -> dict:
        return {"stage": self.stage, "n": self.n, "nme": _num(self.nme), "fr": _num(self.fr),
                "auc": _num(self.auc), "fr_with_missed": _num(self.fr_with_missed)}


@dataclass(frozen=True, eq=False)
class EvalResult:
    """The evaluation of one face set; its shape does not depend on the arguments.

    stages: one StageScore per cascade stage (the last is the whole cascade; empty when no
    face could be evaluated); faces: faces in the set; missed: faces the detector did not find
    (0 with ground-truth boxes); errors: (n,) per-face NME (fractions) of the last stage over
    the faces evaluated; skipped: (path, reason) of malformed pairs left out of the set.
    """

    stages: tuple[StageScore, ...]
    faces: int
    missed: int = 0
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def final(self) -> StageScore:
        nan = float("nan")
        return self.stages[-1] if self.stages else StageScore(0, 0, nan, nan, nan)

    def to_json(self) -> dict:
        """{"n", "nme", "fr", "auc" (the whole cascade), "faces", "missed", "fr_with_missed",
        "stages": [StageScore...], "skipped": [{"path", "reason"}]}: NaN as null."""
        f = self.final.to_json()
        return {"n": f["n"], "nme": f["nme"], "fr": f["fr"], "auc": f["auc"], "faces": self.faces,
                "missed": self.missed, "fr_with_missed": f["fr_with_missed"],
                "stages": [st.to_json() for st in self.stages],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def evaluate(model, faces: FaceSet, boxes: str = "gt", flip: bool = False, detector=None,
             skipped=()) -> EvalResult:
    """Score every cascade stage on `faces`; boxes: "gt" (ground-truth point boxes) or "detector"
    (the detector's calibrated boxes; faces it misses count as failures in fr_with_missed)."""
    if model.scheme != faces.scheme:
        raise ValueError(f"the weights predict the {model.scheme.name!r} points, the faces have {faces.scheme.name!r}")
    gt = faces.points()
    found = np.ones(len(faces), bool)
    box_arr = None
    if boxes == "detector":
        box_arr, found = detector_boxes(faces, detector)
    errors = []
    if found.any():
        sub = faces.subset(np.flatnonzero(found))
        preds = predict_faceset(model, sub, None if box_arr is None else box_arr[found], flip=flip)
        errors = [nme(p, gt[found], scheme=faces.scheme) for p in preds]
    stages = []
    for k, err in enumerate(errors):
        s = summarize(err)
        with_missed = None
        if boxes == "detector":
            full = np.full(len(faces), np.inf)
            full[found] = err
            with_missed = float((full > FAILURE_THRESHOLD).mean() * 100)
        stages.append(StageScore(k + 1, s["n"], s["nme"], s["fr"], s["auc"], with_missed))
    return EvalResult(tuple(stages), len(faces), int((~found).sum()),
                      errors[-1] if errors else np.zeros(0), tuple(skipped))


def plot_ced(curves: dict[str, np.ndarray], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for label, err in curves.items():
        x, y = ced(err)
        ax.plot(x * 100, y * 100, label=f"{label} (NME {err.mean() * 100:.2f} %)")
    ax.set_xlabel("NME (% of outer-eye-corner distance)")
    ax.set_ylabel("faces (%)")
    ax.set_xlim(0, FAILURE_THRESHOLD * 100)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Cumulative error distribution, 300-W")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
