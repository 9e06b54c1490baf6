"""FaceAligner: frame -> detect or track -> crop -> cascade -> frame points -> smooth.

A picture:  detect -> cap -> cascade -> wrap.
A video frame (as MediaPipe's graph): gate (detect, or confirm the tracks, when due) ->
refine the tracks from their last points -> split alive / lost -> admit new faces ->
commit -> smooth -> wrap. The cascade reports its own crop and stage times to the
frame's Profiler (last_stats), which is never on the data path.

    aligner = FaceAligner()                       # picture mode, weights/accurate.pt
    faces = aligner(frame_bgr)                    # list[Landmarks], every face; [] when none
    aligner.last_stats                            # FrameStats: stages run, ms per stage, left_out
    video = FaceAligner(video=True)               # tracking + smoothing (One Euro, face-aligned)
    for frame in frames: faces = video(frame)

Picture mode runs the detector and the whole cascade on every call and returns
every face it finds, unless `max_faces` caps them (then the faces left out are
counted in `last_stats.left_out` and a warning says how to get them all).

Video mode (as MediaPipe does) runs the whole cascade on new detections only; a
tracked face goes through the last stage alone, its crop placed by the last
frame's points. With PIP weights the same network says whether the face is still
there (its landmark_score, facealign/presence.py), so the detector runs only to find
new faces (every `redetect_every` frames, and on a frame where a track was lost);
weights without point scores fall back to the detector's per-track checks. The
tracking steps (the gate that decides when the detector
runs, association of detections with tracks, presence, plausibility, ids) live
in facealign.tracking, each testable alone; this class only orchestrates them,
the detector, the cascade and the smoother. All faces of a frame go through each
cascade stage as one batch.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from . import tracking as T
from .detectors import Confirms, Detector, FaceBox, create_detector
from .image import to_bgr
from .profiler import FrameStats, Profiler
from .results import Landmarks
from .smoothing import TrackSmoother
from .transform import points_box
from .weights import resolve

if TYPE_CHECKING:  # the backends load their runtimes: only when an aligner is built
    from .backends import CascadeModel

log = logging.getLogger(__name__)

CAP_HINT = "pass max_faces=None (CLI: --max-faces 0) to get every face"


class FaceAligner:
    """68-point landmarks for every face of a BGR frame.

    weights/preset: a weights file, else weights/<preset>.pt; backend: "auto" (by
    suffix), "torch", "onnxruntime", "openvino" or "tensorrt"; detector: a name from
    facealign.detectors.list_detectors() or a Detector; max_faces: None (every
    face, the default) or the most faces returned/tracked (best detector scores
    first; the rest are counted in last_stats.left_out); video: track across calls;
    smoothing: None (on in video mode only), True/False, or a dict of
    smoothing.TrackSmoother settings (space "aligned" or "frame", min_cutoff, beta,
    d_cutoff); redetect_every: frames between detector runs in video mode;
    confirm_every: frames between the detector's cheap per-track presence checks in
    between (1: every frame), for weights without point scores; presence: with point
    scores (PIP weights), the least landmark_score of a tracked face (below it the face
    has left: tracking.PRESENCE_MIN), checked every frame by the landmark network
    itself, so no detector call confirms a track (None: the detector's checks instead);
    flip: test-time flip averaging;
    min_score: detector confidence threshold for a detector built by name (None:
    that detector's default); fps: the frame rate assumed for timestamps when a
    call passes none.
    """

    def __init__(self, weights=None, preset: str = "accurate", backend: str = "auto",
                 detector: str | Detector = "mediapipe", max_faces: int | None = None, video: bool = False,
                 smoothing: bool | dict | None = None, redetect_every: int = 10, confirm_every: int = 3,
                 min_score: float | None = None, fps: float = 30.0, flip: bool = False,
                 presence: float | None = T.PRESENCE_MIN, **backend_kwargs):
        if fps <= 0:
            raise ValueError(f"need fps > 0, got {fps}")
        if smoothing and not video:
            raise ValueError("smoothing follows faces across frames: it needs video=True")
        self.tracker = T.Tracker(max_faces, redetect_every, confirm_every)
        from .backends import load_backend

        self.weights = resolve(weights, preset, backend, backend_kwargs.get("device", "auto"))
        self.model: CascadeModel = load_backend(self.weights, backend, **backend_kwargs)
        self.scheme = self.model.scheme  # the points it predicts (read from the weights)
        self._prof = Profiler()
        if isinstance(detector, str):
            detector = create_detector(detector, **({} if min_score is None else {"min_score": min_score}))
        self.detector = detector
        self._confirms = isinstance(detector, Confirms)  # (a Protocol check: once, not every frame)
        if presence is not None and not 0 < presence < 1:
            raise ValueError(f"presence is a landmark_score in (0, 1), or None; got {presence}")
        self.presence = presence if self.model.has_scores else None  # the network's own check, or none
        self.video, self.fps, self.flip = video, fps, flip
        use = video if smoothing is None else bool(smoothing)
        self.smoother = TrackSmoother(**(smoothing if isinstance(smoothing, dict) else {})) if use else None
        self.last_stats = FrameStats()
        self._left_out = 0
        self._warned_cap = False
        self.reset()
        log.info("FaceAligner: %s (%s, %d stage%s), %s, video=%s", self.weights, self.model.backend,
                 len(self.model.stages), "s" * (len(self.model.stages) > 1), self.detector, video)

    @property
    def max_faces(self) -> int | None:
        return self.tracker.max_faces

    # -- public ------------------------------------------------------------------------------

    def __call__(self, frame: np.ndarray, timestamp: float | None = None, color: str = "bgr") -> list[Landmarks]:
        """Landmarks of the faces in `frame`, best score first; [] when there is none.

        frame: (H, W, 3) BGR (or RGB with color="rgb"), (H, W) grey or (H, W, 4) with
        alpha; uint8, uint16 or float in [0, 1] (see image.to_bgr). timestamp: seconds,
        for smoothing in video mode (default: frame count / fps).
        """
        self._prof.start()
        self._left_out = 0
        img = to_bgr(frame, assume=color)
        index = self.tracker.next_frame()
        t = index / self.fps if timestamp is None else float(timestamp)
        tracks = self._video_step(img) if self.video else self._picture_step(img)
        out = self._finish(img, tracks, t)
        self.last_stats = self._prof.finish(faces=len(out), left_out=self._left_out)
        if self._left_out:
            self._warn_cap()
        return out

    def reset(self) -> None:
        """Forget all tracks (start of a new video)."""
        self.tracker.reset()
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
                f"stages={len(self.model.stages)}, detector={self.detector!r}, video={self.video}, "
                f"max_faces={self.max_faces})")

    # -- steps -------------------------------------------------------------------------------

    def _picture_step(self, img: np.ndarray) -> list[T.Track]:
        cands = [T.Candidate(b, s, None) for b, s in self._detect(img)]
        room = self.tracker.room(0)
        if room is not None and len(cands) > room:
            self._left_out += len(cands) - room
            cands = cands[:room]
        pts, _, scores = self._cascade(img, cands)
        return [T.Track(-1, p, c.score, s) for c, p, s in zip(cands, pts, _per_face(scores, len(cands)))
                if np.isfinite(p).all()]

    def _video_step(self, img: np.ndarray) -> list[T.Track]:
        """gate -> refine -> split -> admit -> commit (see the module's docstring)."""
        cands, detections = self._gate(img)
        alive, lost = self._refine_tracks(img, cands)
        if lost and detections is None:  # lost one: look again on this very frame
            detections = self._detect(img)
        if detections is not None:
            alive += self._new_faces(img, detections, alive, lost)
        return self.tracker.commit(alive)

    def _gate(self, img: np.ndarray) -> tuple[list[T.Candidate], list | None]:
        """The tracks to refine -> (candidates, the detections or None when the detector did not run).
        With the network's presence check every track goes on (the detector, when due, only finds
        faces); without it the detector's boxes (when due) or its cheap confirm (when due) decide."""
        tr = self.tracker
        cands = tr.candidates()
        if tr.detection_due(len(cands), self._confirms or self.presence is not None):
            detections = self._detect(img)
            if self.presence is not None:  # the network confirms the tracks: the detector only finds faces
                return cands, detections
            with self._prof.stage("track"):
                return T.associate(cands, detections), detections
        if self.presence is None and tr.presence_due():
            cands = self._presence(img, cands)
        return cands, None

    def _refine_tracks(self, img: np.ndarray, cands: list[T.Candidate]) -> tuple[list[T.Track], list[T.Track]]:
        """The last stage on every candidate from its last points -> (alive, lost) tracks."""
        prev = self.tracker.previous_points()
        pts, scores = self._refine(img, [prev[c.track_id] for c in cands])
        with self._prof.stage("track"):
            alive, lost = T.split_alive_lost(cands, pts, prev, img.shape, scores, self.presence)
            lost += T.unconfirmed(self.tracker.tracks, cands)
        if lost:
            log.debug("frame %d: lost track(s) %s", self.tracker.frame_index, [t.track_id for t in lost])
        return alive, lost

    def _finish(self, img: np.ndarray, tracks: list[T.Track], t: float) -> list[Landmarks]:
        """Smooth (video), wrap as Landmarks."""
        with self._prof.stage("smooth"):
            pts_out = [tr.pts for tr in tracks]
            if self.smoother is not None:
                pts_out = [self.smoother(tr.track_id, tr.pts, t) for tr in tracks]
                self.smoother.keep([tr.track_id for tr in tracks])
            size = (img.shape[1], img.shape[0])  # the pose is solved when a caller reads it
            return [Landmarks(p, tr.score, points_box(p), tr.track_id if self.video else None, frame_size=size,
                              scheme=self.scheme, point_scores=tr.point_scores) for tr, p in zip(tracks, pts_out)]

    def _warn_cap(self) -> None:
        msg = "max_faces=%d left out %d face(s) of this frame; " + CAP_HINT
        if self.video and self._warned_cap:  # once per aligner in video mode, not every frame
            log.debug(msg, self.max_faces, self._left_out)
            return
        self._warned_cap = True
        log.warning(msg, self.max_faces, self._left_out)

    # -- pieces ------------------------------------------------------------------------------

    def _detect(self, img: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Detector boxes mapped to point boxes, best score first: [(box_xyxy (4,), score)]."""
        with self._prof.stage("detect"):
            faces: list[FaceBox] = self.detector.detect(img)
            self.tracker.detected()
            return [(self.detector.box_map(f.box_xyxy), f.score) for f in faces]

    def _presence(self, img: np.ndarray, cands: list[T.Candidate]) -> list[T.Candidate]:
        """Keep the tracks the detector's confirm() still sees (all of them if it has none)."""
        if not self._confirms:
            return cands
        with self._prof.stage("track"):
            scored = [(c, self.detector.confirm(img, c.box_xyxy)) for c in cands]
            return [T.Candidate(c.box_xyxy, s, c.track_id) for c, s in scored if s is not None]

    def _new_faces(self, img, detections, alive: list[T.Track], lost: list[T.Track]) -> list[T.Track]:
        """Tracks for detections no live track covers (a lost track's id comes back when a
        detection lands on it), kept when plausible and the stages agree."""
        room = self.tracker.room(len(alive))
        with self._prof.stage("track"):
            every = T.new_candidates(detections, alive, lost, None)
        cands = every if room is None else every[: max(room, 0)]
        self._left_out += len(every) - len(cands)
        pts, first, scores = self._cascade(img, cands)
        out = []
        for c, p, p1, s in zip(cands, pts, first, _per_face(scores, len(cands))):
            if T.plausible(p, img.shape) and T.stages_agree(p1, p):
                out.append(T.Track(self.tracker.new_id() if c.track_id is None else c.track_id, p, c.score, s))
        return out

    def _cascade(self, img: np.ndarray, cands: list[T.Candidate]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One batch through the cascade -> (final (N, K, 2), stage-1 (N, K, 2)) frame points and the
        last stage's (N, K) point scores (None when the weights have none)."""
        if not cands:
            empty = np.zeros((0, self.scheme.num_points, 2), np.float32)
            return empty, empty, None
        boxes = np.stack([c.box_xyxy for c in cands])
        stages = self.model([img] * len(cands), boxes, self.flip, observe=self._prof.add)
        return stages[-1], stages[0], stages.scores

    def _refine(self, img: np.ndarray, last_pts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Tracked faces: the last stage alone from their last points -> ((N, K, 2) frame points,
        (N, K) point scores or None)."""
        if not last_pts:
            return np.zeros((0, self.scheme.num_points, 2), np.float32), None
        out = self.model.refine([img] * len(last_pts), last_pts, self.flip, observe=self._prof.add)
        return out[-1], out.scores


def _per_face(scores: np.ndarray | None, n: int) -> list:
    """(N, K) point scores -> one (K,) array per face; None (weights without scores) -> N Nones."""
    return [None] * n if scores is None else list(scores)
