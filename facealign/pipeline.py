"""FaceAligner: frame -> detect or track -> crop -> cascade -> frame points -> smooth.

    aligner = FaceAligner()                       # picture mode, weights/accurate.pt
    faces = aligner(frame_bgr)                    # list[Landmarks], [] when no face
    video = FaceAligner(video=True)               # tracking + One Euro smoothing
    for frame in frames: faces = video(frame)

Picture mode runs the detector and the whole cascade on every call. Video mode
(as MediaPipe does) runs the whole cascade on new detections only; a tracked
face goes through the last stage alone, its crop placed by the last frame's
points (the refining stage is trained on stage 1's errors, which are larger than
a frame's motion). The detector runs when a track is lost, when there is none,
and every `redetect_every` frames to confirm the tracks (a track the detector no
longer sees is dropped) and to pick up new faces; not while `max_faces` faces
are tracked and the detector can confirm them (as MediaPipe's face mesh does).
A landmark regressor finds a "face" in any crop, so between detections each
track is confirmed every `confirm_every` frames by the detector's cheap
`confirm()` where it has one (MediaPipe: short-range BlazeFace on a small crop
around the track), and checked on every frame for plausibility (box not
degenerate, points inside the frame, not too far from the last points; on new
faces, later stages close to stage 1).
Track ids follow faces by box overlap. All faces of a frame go through each
cascade stage as one batch.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .detectors import Detector, FaceBox, create_detector, iou
from .image import to_bgr
from .results import Landmarks
from .smoothing import TrackSmoother, face_size
from .transform import points_box
from .weights import resolve

if TYPE_CHECKING:  # the backends load their runtimes: only when an aligner is built
    from .backends import CascadeModel

log = logging.getLogger(__name__)


@dataclass
class _Track:
    track_id: int
    pts: np.ndarray  # (68, 2) float32 frame pixels, the cascade's raw (unsmoothed) output
    score: float  # score of the detection that last confirmed it


@dataclass
class _Candidate:
    box_xyxy: np.ndarray  # (4,) point box to crop from, frame pixels
    score: float
    track_id: int | None  # None: a new face


class FaceAligner:
    """68-point landmarks for every face of a BGR frame.

    weights/preset: a weights file, else weights/<preset>.pt; backend: "auto" (by
    suffix), "torch", "onnxruntime" or "tensorrt"; detector: a name from
    facealign.detectors.list_detectors() or a Detector; max_faces: the most faces
    returned (best detector scores first); video: track across calls; smoothing:
    None (on in video mode only), True/False, or a dict of One Euro parameters
    (min_cutoff, beta, d_cutoff); redetect_every: frames between detector
    confirmations in video mode; confirm_every: frames between the cheap
    per-track presence checks in between (1: every frame); flip: test-time flip
    averaging (every stage also runs on its mirrored crops, in the same batch);
    min_score: detector confidence threshold for a detector built by name (None:
    that detector's default); fps: the frame rate assumed for timestamps when a
    call passes none.
    """

    LOST_DRIFT = 0.35  # points moved more than this many face sizes from the last ones
    LOST_STAGES = 0.15  # a later stage disagrees with stage 1 by more than this (face sizes)
    MIN_INSIDE = 0.5  # fewer of the points than this inside the frame
    MIN_FACE_PX = 8.0  # point box smaller than this
    MAX_ASPECT = 3.0  # point box longer than this many times its width, or the reverse
    MATCH_IOU = 0.3  # least overlap for a detection to confirm a track

    def __init__(self, weights=None, preset: str = "accurate", backend: str = "auto",
                 detector: str | Detector = "mediapipe", max_faces: int = 4, video: bool = False,
                 smoothing: bool | dict | None = None, redetect_every: int = 10, confirm_every: int = 3,
                 min_score: float | None = None, fps: float = 30.0, flip: bool = False, **backend_kwargs):
        if max_faces < 1 or redetect_every < 1 or confirm_every < 1 or fps <= 0:
            raise ValueError(f"need max_faces >= 1, redetect_every >= 1, confirm_every >= 1, fps > 0; got "
                             f"{max_faces}, {redetect_every}, {confirm_every}, {fps}")
        if smoothing and not video:
            raise ValueError("smoothing follows faces across frames: it needs video=True")
        from .backends import CascadeModel, load_backend

        self.weights = resolve(weights, preset, backend, backend_kwargs.get("device", "auto"))
        self.model: CascadeModel = load_backend(self.weights, backend, **backend_kwargs)
        self._timed = CascadeModel(self.model.stages, [self._timed_runner(r) for r in self.model.runners],
                                   self.model.backend, self.model.meta)
        if isinstance(detector, str):
            detector = create_detector(detector, **({} if min_score is None else {"min_score": min_score}))
        self.detector = detector
        self.max_faces, self.video, self.redetect_every, self.fps = max_faces, video, redetect_every, fps
        self.confirm_every, self.flip = confirm_every, flip
        use = video if smoothing is None else bool(smoothing)
        self.smoother = TrackSmoother(**(smoothing if isinstance(smoothing, dict) else {})) if use else None
        self.last_timings: dict[str, float] = {}
        self._marks: list[float] = []
        self.reset()
        log.info("FaceAligner: %s (%s, %d stage%s), %s, video=%s", self.weights, self.model.backend,
                 len(self.model.stages), "s" * (len(self.model.stages) > 1), self.detector, video)

    # -- public ------------------------------------------------------------------------------

    def __call__(self, frame: np.ndarray, timestamp: float | None = None, color: str = "bgr") -> list[Landmarks]:
        """Landmarks of the faces in `frame`, best score first; [] when there is none.

        frame: (H, W, 3) BGR (or RGB with color="rgb"), (H, W) grey or (H, W, 4) with
        alpha; uint8, uint16 or float in [0, 1] (see image.to_bgr). timestamp: seconds,
        for smoothing in video mode (default: frame count / fps).
        """
        start = time.perf_counter()
        self.last_timings = dict.fromkeys(("detect", "track", "crop", "stage1", "stage2", "smooth"), 0.0)
        img = to_bgr(frame, assume=color)
        self._frame_index += 1
        t = self._frame_index / self.fps if timestamp is None else float(timestamp)
        tracks = self._video_step(img) if self.video else self._picture_step(img)
        out = self._finish(img, tracks, t)
        self.last_timings["total"] = (time.perf_counter() - start) * 1e3
        return out

    def reset(self) -> None:
        """Forget all tracks (start of a new video)."""
        self._tracks: list[_Track] = []
        self._frame_index = 0
        self._last_detect = -(10 ** 9)
        self._next_id = 0
        if self.smoother is not None:
            self.smoother.reset()

    def close(self) -> None:
        """Release the detector."""
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "FaceAligner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"FaceAligner(weights={str(self.weights)!r}, backend={self.model.backend!r}, "
                f"stages={len(self.model.stages)}, detector={self.detector!r}, video={self.video})")

    # -- steps -------------------------------------------------------------------------------

    def _picture_step(self, img: np.ndarray) -> list[_Track]:
        cands = [_Candidate(b, s, None) for b, s in self._detect(img)]
        pts, _ = self._cascade(img, cands)
        return [_Track(-1, p, c.score) for c, p in zip(cands, pts) if np.isfinite(p).all()]

    def _video_step(self, img: np.ndarray) -> list[_Track]:
        """Track, confirm with the detector when due, re-detect when a track is lost."""
        detections = None
        cands = [_Candidate(points_box(tr.pts), tr.score, tr.track_id) for tr in self._tracks]
        if not cands or self._redetect_due(len(cands)):
            detections = self._detect(img)
            cands = self._confirm(cands, detections)
        elif (self._frame_index - self._last_detect) % self.confirm_every == 0:
            cands = self._presence(img, cands)
        prev = {tr.track_id: tr.pts for tr in self._tracks}
        pts = self._refine(img, [prev[c.track_id] for c in cands])
        alive, lost = self._check(img, cands, pts, prev)
        lost_ids = {tr.track_id for tr in lost} | {c.track_id for c in cands}
        lost += [tr for tr in self._tracks if tr.track_id not in lost_ids]  # unconfirmed ones
        if lost and detections is None:  # lost one: look again on this very frame
            detections = self._detect(img)
        if detections is not None and len(alive) < self.max_faces:
            alive += self._new_faces(img, detections, alive, lost)
        alive.sort(key=lambda tr: -tr.score)
        self._tracks = alive[: self.max_faces]
        return self._tracks

    def _redetect_due(self, n_tracks: int) -> bool:
        """Every `redetect_every` frames, to find new faces, unless `max_faces` are tracked and
        the detector can confirm them (then there is nothing new to look for, as in MediaPipe)."""
        if n_tracks >= self.max_faces and hasattr(self.detector, "confirm"):
            return False
        return self._frame_index - self._last_detect >= self.redetect_every

    def _finish(self, img: np.ndarray, tracks: list[_Track], t: float) -> list[Landmarks]:
        """Smooth (video), wrap as Landmarks."""
        t0 = time.perf_counter()
        pts_out = [tr.pts for tr in tracks]
        if self.smoother is not None:
            pts_out = [self.smoother(tr.track_id, tr.pts, t) for tr in tracks]
            self.smoother.keep([tr.track_id for tr in tracks])
        size = (img.shape[1], img.shape[0])  # the pose is solved when a caller reads it
        out = [Landmarks(p, tr.score, points_box(p), tr.track_id if self.video else None, frame_size=size)
               for tr, p in zip(tracks, pts_out)]
        self.last_timings["smooth"] += (time.perf_counter() - t0) * 1e3
        return out

    # -- pieces ------------------------------------------------------------------------------

    def _detect(self, img: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Detector boxes mapped to point boxes, best score first: [(box_xyxy (4,), score)]."""
        t0 = time.perf_counter()
        faces: list[FaceBox] = self.detector.detect(img)[: self.max_faces]
        self._last_detect = self._frame_index
        self.last_timings["detect"] += (time.perf_counter() - t0) * 1e3
        return [(self.detector.box_map(f.box_xyxy), f.score) for f in faces]

    def _confirm(self, cands: list[_Candidate], detections) -> list[_Candidate]:
        """Keep the tracks a detection overlaps (taking its score); drop the others."""
        t0 = time.perf_counter()
        kept = []
        if cands and detections:
            overlap = iou([c.box_xyxy for c in cands], [b for b, _ in detections])
            for i, c in enumerate(cands):
                j = int(np.argmax(overlap[i]))
                if overlap[i, j] >= self.MATCH_IOU:
                    kept.append(_Candidate(c.box_xyxy, detections[j][1], c.track_id))
                    overlap[:, j] = -1.0  # one detection confirms one track
        self.last_timings["track"] += (time.perf_counter() - t0) * 1e3
        return kept

    def _presence(self, img: np.ndarray, cands: list[_Candidate]) -> list[_Candidate]:
        """Keep the tracks the detector's confirm() still sees (all of them if it has none)."""
        confirm = getattr(self.detector, "confirm", None)
        if confirm is None:
            return cands
        t0 = time.perf_counter()
        kept = []
        for c in cands:
            score = confirm(img, c.box_xyxy)
            if score is not None:
                kept.append(_Candidate(c.box_xyxy, score, c.track_id))
        self.last_timings["track"] += (time.perf_counter() - t0) * 1e3
        return kept

    def _new_faces(self, img, detections, alive: list[_Track], lost: list[_Track]) -> list[_Track]:
        """Start tracks for detections that no live track covers; a lost track's id is reused
        when a detection lands on it."""
        t0 = time.perf_counter()
        taken = [points_box(tr.pts) for tr in alive]
        free = [(b, s) for b, s in detections if not taken or iou([b], taken).max() < self.MATCH_IOU]
        free = free[: self.max_faces - len(alive)]
        lost_boxes = [points_box(tr.pts) for tr in lost]
        cands = []
        for b, s in free:
            tid = None
            if lost_boxes:
                o = iou([b], lost_boxes)[0]
                if o.max() >= self.MATCH_IOU:
                    tid = lost[int(np.argmax(o))].track_id
                    lost_boxes[int(np.argmax(o))] = np.zeros(4, np.float32)
            cands.append(_Candidate(b, s, tid))
        self.last_timings["track"] += (time.perf_counter() - t0) * 1e3
        pts, first = self._cascade(img, cands)
        out = []
        for c, p, p1 in zip(cands, pts, first):
            if self._plausible(p, img.shape) and self._stages_agree(p1, p):
                out.append(_Track(self._new_id() if c.track_id is None else c.track_id, p, c.score))
        return out

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _check(self, img, cands, pts, prev: dict) -> tuple[list[_Track], list[_Track]]:
        """Split tracked faces into (alive, lost) by the tracking-quality checks; prev: the
        last frame's points by track id."""
        t0 = time.perf_counter()
        alive, lost = [], []
        for c, p in zip(cands, pts):
            last = prev.get(c.track_id)
            if self._plausible(p, img.shape) and self._near(last, p):
                alive.append(_Track(c.track_id, p, c.score))
            else:  # remember where it was, so a detection there gets its id back
                lost.append(_Track(c.track_id, p if last is None else last, c.score))
        self.last_timings["track"] += (time.perf_counter() - t0) * 1e3
        if lost:
            log.debug("frame %d: lost track(s) %s", self._frame_index, [tr.track_id for tr in lost])
        return alive, lost

    def _plausible(self, pts: np.ndarray, shape) -> bool:
        """Finite points with a non-degenerate box, mostly inside the frame."""
        if not np.isfinite(pts).all():
            return False
        w, h = np.ptp(pts, axis=0)
        if min(w, h) < self.MIN_FACE_PX or max(w / h, h / w) > self.MAX_ASPECT:
            return False
        inside = (pts[:, 0] >= 0) & (pts[:, 0] <= shape[1] - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= shape[0] - 1)
        return float(inside.mean()) >= self.MIN_INSIDE

    def _near(self, prev: np.ndarray | None, pts: np.ndarray) -> bool:
        """The tracked points stayed close to the last frame's."""
        if prev is None:
            return True
        return np.median(np.linalg.norm(pts - prev, axis=1)) <= self.LOST_DRIFT * face_size(pts)

    def _stages_agree(self, first: np.ndarray, final: np.ndarray) -> bool:
        """A new face: the later stages stayed close to stage 1."""
        return np.median(np.linalg.norm(final - first, axis=1)) <= self.LOST_STAGES * face_size(final)

    def _cascade(self, img: np.ndarray, cands: list[_Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """One batch through the cascade -> (final (N, 68, 2), stage-1 (N, 68, 2)) frame points."""
        if not cands:
            empty = np.zeros((0, 68, 2), np.float32)
            return empty, empty
        names = [self._stage_name(i) for i in range(len(self.model.stages))]
        stages = self._run_timed(names, self._timed, [img] * len(cands), np.stack([c.box_xyxy for c in cands]),
                                 self.flip)
        return stages[-1], stages[0]

    def _refine(self, img: np.ndarray, last_pts: list[np.ndarray]) -> np.ndarray:
        """Tracked faces: the last stage alone from their last points -> (N, 68, 2) frame points."""
        if not last_pts:
            return np.zeros((0, 68, 2), np.float32)
        names = [self._stage_name(len(self.model.stages) - 1)]
        frames = [img] * len(last_pts)
        return self._run_timed(names, self._timed.refine, frames, np.stack(last_pts), self.flip)[-1]

    @staticmethod
    def _stage_name(i: int) -> str:
        return "stage1" if i == 0 else "stage2"

    def _run_timed(self, names: list[str], fn, *args) -> list[np.ndarray]:
        """fn(*args) with its time split into "crop" (warping and input preparation, before
        each network) and the stages `names` (each network, plus putting its points back)."""
        self._marks = [time.perf_counter()]
        out = fn(*args)
        end = time.perf_counter()
        marks, prev = self._marks, self._marks[0]  # t0, then (start, stop) per network
        for k, name in enumerate(names):
            start, stop = marks[1 + 2 * k], marks[2 + 2 * k]
            self.last_timings["crop"] += (start - prev) * 1e3
            self.last_timings[name] += ((end if k == len(names) - 1 else stop) - start) * 1e3
            prev = stop
        return out

    def _timed_runner(self, run):
        """Wrap a stage runner so the times at which each network starts and returns are recorded."""
        def timed(x: np.ndarray) -> np.ndarray:
            self._marks.append(time.perf_counter())
            out = run(x)
            self._marks.append(time.perf_counter())
            return out
        return timed
