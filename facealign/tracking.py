"""Tracking across video frames, in plain numpy: the gate, association, presence, plausibility, ids.

As in MediaPipe's face graphs, each piece is its own small step that can be tested
alone on hand-made boxes and points; `FaceAligner` (facealign.pipeline) calls them
in order and runs the detector and the cascade in between:

    tracker = Tracker(max_faces=None, redetect_every=10, confirm_every=3)
    tracker.next_frame()
    cands = tracker.candidates()                       # crops from last frame's points
    if not cands or tracker.detection_due(len(cands), can_confirm):   # the gate
        cands = associate(cands, detections)           # detections confirm tracks by overlap
    ...
    alive, lost = split_alive_lost(cands, pts, prev, frame_shape)
    new = new_candidates(detections, alive, lost, room)  # untracked detections; lost ids reused
    tracker.commit(alive + admitted)

Every box is (4,) xyxy float32 frame pixels; every point set (K, 2) float32 frame pixels (K: the model's scheme).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .detectors.base import iou
from .smoothing import box_size, face_size
from .transform import points_box

MATCH_IOU = 0.3  # least overlap for a detection to confirm (or to re-identify) a track
LOST_DRIFT = 0.35  # points moved more than this many face sizes from the last ones: lost
LOST_STAGES = 0.15  # a new face's last stage disagrees with stage 1 by more than this (face sizes)
MIN_INSIDE = 0.5  # fewer of the points than this fraction inside the frame: not a face
MIN_FACE_PX = 8.0  # point box smaller than this: not a face
MAX_ASPECT = 3.0  # point box longer than this many times its width, or the reverse: not a face
PRESENCE_MIN = 0.45  # a tracked face whose landmark_score falls below this has left (facealign/presence.py)


@dataclass(frozen=True, eq=False)
class Track:
    """A face followed across frames: its cascade points (unsmoothed), its last detection score and
    the last stage's point scores ((K,) in [0, 1], None when the weights have none)."""

    track_id: int
    pts: np.ndarray  # (K, 2) float32 frame pixels
    score: float
    point_scores: np.ndarray | None = None

    @property
    def landmark_score(self) -> float | None:
        """The face-level landmark confidence: the mean point score (None without scores)."""
        return None if self.point_scores is None else float(np.mean(self.point_scores))

    @cached_property
    def box_xyxy(self) -> np.ndarray:
        """points_box(pts), made on first use and kept (a track's points never change): this frame's
        checks, the next frame's candidate and the new-face overlaps all read the same box."""
        return points_box(self.pts)


@dataclass(frozen=True, eq=False)
class Candidate:
    """A face to run the cascade on this frame: the point box to crop from, and whose it is."""

    box_xyxy: np.ndarray  # (4,) point box, frame pixels
    score: float
    track_id: int | None  # None: a new face


# -- association -------------------------------------------------------------------------------

def associate(cands: list[Candidate], detections: list[tuple[np.ndarray, float]],
              match_iou: float = MATCH_IOU) -> list[Candidate]:
    """Keep the tracked candidates a detection overlaps by >= match_iou, taking its score; drop
    the others. Greedy in candidate order; one detection confirms at most one track.

    detections: [(point box (4,), score)], best score first.
    """
    if not cands or not detections:
        return []
    overlap = iou([c.box_xyxy for c in cands], [b for b, _ in detections])
    kept = []
    for i, c in enumerate(cands):
        j = int(np.argmax(overlap[i]))
        if overlap[i, j] >= match_iou:
            kept.append(Candidate(c.box_xyxy, detections[j][1], c.track_id))
            overlap[:, j] = -1.0
    return kept


def new_candidates(detections: list[tuple[np.ndarray, float]], alive: list[Track], lost: list[Track],
                   room: int | None, match_iou: float = MATCH_IOU) -> list[Candidate]:
    """Detections no live track covers -> candidates for new tracks (at most `room`; None: all).

    A detection that lands on a lost track (overlap >= match_iou) takes that track's id back,
    each lost id at most once; the others get track_id None (a new id once admitted).
    """
    taken = [tr.box_xyxy for tr in alive]
    free = [(b, s) for b, s in detections if not taken or iou([b], taken).max() < match_iou]
    if room is not None:
        free = free[: max(room, 0)]
    lost_boxes = [tr.box_xyxy for tr in lost]
    out = []
    for b, s in free:
        tid = None
        if lost_boxes:
            o = iou([b], lost_boxes)[0]
            k = int(np.argmax(o))
            if o[k] >= match_iou:
                tid = lost[k].track_id
                lost_boxes[k] = np.zeros(4, np.float32)  # reused once
        out.append(Candidate(np.asarray(b, np.float32), s, tid))
    return out


def unconfirmed(tracks: list[Track], cands: list[Candidate]) -> list[Track]:
    """The tracks that no candidate carries on (no detection or presence check confirmed them)."""
    carried = {c.track_id for c in cands}
    return [tr for tr in tracks if tr.track_id not in carried]


# -- checks ------------------------------------------------------------------------------------

def plausible(pts: np.ndarray, frame_shape, box: np.ndarray | None = None) -> bool:
    """Finite points with a non-degenerate box (>= MIN_FACE_PX, aspect <= MAX_ASPECT), at least
    MIN_INSIDE of them inside a frame of shape (H, W, ...). box: their points_box when the caller
    has it (for float32 points the very min and max this would take)."""
    pts = np.asarray(pts)
    lo, hi = (pts.min(0), pts.max(0)) if box is None else (box[:2], box[2:])
    (x0, y0), (x1, y1) = lo.tolist(), hi.tolist()
    if not all(map(math.isfinite, (x0, y0, x1, y1))):  # min and max carry any NaN or inf
        return False
    w, h = hi - lo  # in the points' own precision
    if min(w, h) < MIN_FACE_PX or max(w / h, h / w) > MAX_ASPECT:
        return False
    hgt, wid = frame_shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= wid - 1 and y1 <= hgt - 1:
        return True  # the box is inside the frame: every point is
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= wid - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= hgt - 1)
    return float(inside.mean()) >= MIN_INSIDE


def near(prev: np.ndarray | None, pts: np.ndarray, max_drift: float = LOST_DRIFT, size: float | None = None) -> bool:
    """The points stayed within max_drift face sizes (median point motion) of the last frame's.
    size: face_size(pts) when the caller has it."""
    if prev is None:
        return True
    return median_distance(pts, prev) <= max_drift * (face_size(pts) if size is None else size)


def stages_agree(first: np.ndarray, final: np.ndarray, max_gap: float = LOST_STAGES) -> bool:
    """A new face: the last stage stayed within max_gap face sizes (median) of stage 1."""
    return median_distance(final, first) <= max_gap * face_size(final)


def median_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The median distance between matching points of two (K, 2) sets: the value of
    np.median(np.linalg.norm(a - b, axis=1)) (the same float operations), without their overhead
    (this runs on every tracked frame)."""
    d = a - b
    dist = np.sqrt(np.add.reduce(d * d, axis=1))  # norm's own sum of squares
    n = len(dist)
    if n == 0:
        return float("nan")
    half = n // 2
    part = np.partition(dist, (half - 1, half, n - 1) if n % 2 == 0 else (half, n - 1))
    if np.isnan(part[-1]):  # as np.median: NaN sorts last, and any NaN makes the median NaN
        return float("nan")
    if n % 2:
        return float(part[half])
    return float((part[half - 1] + part[half]) / 2)


def present(point_scores: np.ndarray | None, min_score: float | None = PRESENCE_MIN) -> bool:
    """The landmark network still sees a face: its mean point score is >= min_score (always true
    without scores or without a threshold: then the detector's checks decide)."""
    return point_scores is None or min_score is None or mean_score(point_scores) >= min_score


def mean_score(point_scores: np.ndarray) -> float:
    """float(np.mean(point_scores)), the same value, for the (K,) float32 scores of every tracked frame
    without np.mean's Python layer: np.mean sums in float32, divides in float64 and rounds to float32."""
    scores = np.asarray(point_scores)
    if scores.dtype != np.float32 or scores.ndim != 1:
        return float(np.mean(scores))
    return float(np.float32(float(np.add.reduce(scores)) / len(scores)))


def split_alive_lost(cands: list[Candidate], pts: np.ndarray, prev: dict[int, np.ndarray], frame_shape,
                     scores: np.ndarray | None = None, min_score: float | None = PRESENCE_MIN
                     ) -> tuple[list[Track], list[Track]]:
    """Tracked faces after this frame's cascade -> (alive, lost) by plausible(), near() and, with
    point scores, present().

    pts: (N, K, 2) this frame's points of `cands`; prev: last frame's points by track id; scores:
    (N, K) their point scores or None. A lost track keeps its last good points, so that a detection
    there gets its id back.
    """
    alive, lost = [], []
    for i, (c, p) in enumerate(zip(cands, pts)):
        last = prev.get(c.track_id)
        s = None if scores is None else scores[i]
        track = Track(c.track_id, p, c.score, s)
        box = track.box_xyxy  # one box for both checks and for the next frame's candidate
        if plausible(p, frame_shape, box) and near(last, p, size=box_size(box)) and present(s, min_score):
            alive.append(track)
        else:
            lost.append(Track(c.track_id, p if last is None else last, c.score))
    return alive, lost


# -- state -------------------------------------------------------------------------------------

class Tracker:
    """The tracks, the frame count and the id counter, with the gate that decides when to detect.

    max_faces: the most tracks kept (None: no cap); redetect_every: frames between detector runs
    that confirm the tracks and find new faces; confirm_every: frames between the cheap presence
    checks in between.
    """

    def __init__(self, max_faces: int | None = None, redetect_every: int = 10, confirm_every: int = 3):
        if (max_faces is not None and max_faces < 1) or redetect_every < 1 or confirm_every < 1:
            raise ValueError(f"need max_faces >= 1 (or None), redetect_every >= 1, confirm_every >= 1; got "
                             f"{max_faces}, {redetect_every}, {confirm_every}")
        self.max_faces, self.redetect_every, self.confirm_every = max_faces, redetect_every, confirm_every
        self.reset()

    def reset(self) -> None:
        """Forget every track (start of a new video); ids start again at 0."""
        self.tracks: list[Track] = []
        self.frame_index = 0
        self.last_detect = -(10 ** 9)
        self._next_id = 0

    def next_frame(self) -> int:
        """Count a new frame -> its 1-based index."""
        self.frame_index += 1
        return self.frame_index

    def candidates(self) -> list[Candidate]:
        """This frame's crops for the tracked faces: the box of each track's last points."""
        return [Candidate(tr.box_xyxy, tr.score, tr.track_id) for tr in self.tracks]

    def previous_points(self) -> dict[int, np.ndarray]:
        return {tr.track_id: tr.pts for tr in self.tracks}

    def full(self, n_tracks: int) -> bool:
        return self.max_faces is not None and n_tracks >= self.max_faces

    def room(self, n_tracks: int) -> int | None:
        """How many new faces may still be taken (None: no cap)."""
        return None if self.max_faces is None else self.max_faces - n_tracks

    def detection_due(self, n_tracks: int, can_confirm: bool) -> bool:
        """The gate: run the detector when no face is tracked, or every `redetect_every` frames to
        find new faces, unless max_faces are tracked and presence checks can confirm them."""
        if n_tracks == 0:
            return True
        if self.full(n_tracks) and can_confirm:
            return False
        return self.frame_index - self.last_detect >= self.redetect_every

    def presence_due(self) -> bool:
        """A frame for the cheap per-track presence check (every `confirm_every` since detecting)."""
        return (self.frame_index - self.last_detect) % self.confirm_every == 0

    def detected(self) -> None:
        """Record that the detector ran on this frame."""
        self.last_detect = self.frame_index

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def commit(self, tracks: list[Track]) -> list[Track]:
        """The tracks that go on to the next frame: best score first, at most max_faces."""
        ordered = sorted(tracks, key=lambda tr: -tr.score) if len(tracks) > 1 else list(tracks)
        self.tracks = ordered if self.max_faces is None else ordered[: self.max_faces]
        return self.tracks
