"""Per-frame statistics: which pipeline stages ran and how many milliseconds each took.

    prof = Profiler()
    prof.start()
    with prof.stage("detect"):
        ...
    stats = prof.finish(faces=2, left_out=0)   # FrameStats, frozen
    stats.ran("detect"), stats.ms["detect"], stats.total_ms
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

STAGES = ("detect", "track", "crop", "stage1", "stage2", "smooth")


@dataclass(frozen=True)
class FrameStats:
    """What one call of the pipeline did.

    ms: milliseconds per stage (every name of STAGES, 0.0 for a stage that did not run);
    stages_run: the stages that ran, in STAGES order; total_ms: the whole call;
    faces: faces returned; left_out: faces found but not returned because of max_faces.
    """

    ms: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict.fromkeys(STAGES, 0.0)))
    stages_run: tuple[str, ...] = ()
    total_ms: float = 0.0
    faces: int = 0
    left_out: int = 0

    def ran(self, stage: str) -> bool:
        """Did `stage` (one of STAGES) run on this frame?"""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        return stage in self.stages_run

    def timings(self) -> dict[str, float]:
        """{stage: ms, ..., "total": ms}: a plain dict (what bench and the webcam overlay show)."""
        return {**self.ms, "total": self.total_ms}


class Profiler:
    """Collects one frame's stage times; `finish()` freezes them into a FrameStats."""

    def __init__(self):
        self._ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._ran: set[str] = set()
        self._t0 = time.perf_counter()

    def start(self) -> None:
        self._ms = dict.fromkeys(STAGES, 0.0)
        self._ran = set()
        self._t0 = time.perf_counter()

    def add(self, stage: str, ms: float) -> None:
        if stage not in self._ms:
            raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        self._ms[stage] += ms
        self._ran.add(stage)

    def stage(self, name: str) -> "_StageTimer":
        """with prof.stage("detect"): ... -- the block's time is added to that stage (also when it raises)."""
        return _StageTimer(self, name)

    def finish(self, faces: int = 0, left_out: int = 0) -> FrameStats:
        total = (time.perf_counter() - self._t0) * 1e3
        run = tuple(s for s in STAGES if s in self._ran)
        return FrameStats(MappingProxyType(dict(self._ms)), run, total, faces, left_out)


class _StageTimer:
    """Profiler.stage's context manager: a plain class, as it runs several times a frame (a
    contextlib generator costs a few microseconds a use)."""

    __slots__ = ("_prof", "_name", "_t0")

    def __init__(self, prof: Profiler, name: str):
        self._prof, self._name = prof, name

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self._prof.add(self._name, (time.perf_counter() - self._t0) * 1e3)
