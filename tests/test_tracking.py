"""facealign.tracking on hand-made boxes and points: no network model, no detector."""
from __future__ import annotations

import numpy as np
import pytest

from facealign import tracking as T
from facealign.smoothing import face_size
from facealign.transform import points_box


def face(x0: float, y0: float, size: float = 100.0) -> np.ndarray:
    """68 points spread over a size x size square at (x0, y0) (a plausible, non-degenerate 'face')."""
    rng = np.random.default_rng(0)
    return (np.array([x0, y0]) + rng.uniform(0, size, (68, 2))).astype(np.float32)


def box(x0, y0, x1, y1):
    return np.array([x0, y0, x1, y1], np.float32)


SHAPE = (480, 640, 3)


def test_associate_keeps_overlapped_tracks_and_takes_the_detection_score():
    cands = [T.Candidate(box(0, 0, 100, 100), 0.5, 7), T.Candidate(box(300, 300, 400, 400), 0.5, 8)]
    dets = [(box(5, 5, 105, 105), 0.9)]  # overlaps track 7 only
    kept = T.associate(cands, dets)
    assert [c.track_id for c in kept] == [7] and kept[0].score == 0.9
    np.testing.assert_array_equal(kept[0].box_xyxy, cands[0].box_xyxy)  # the track's crop, not the detection's


def test_one_detection_confirms_one_track():
    cands = [T.Candidate(box(0, 0, 100, 100), 0.5, 1), T.Candidate(box(2, 2, 102, 102), 0.5, 2)]
    kept = T.associate(cands, [(box(1, 1, 101, 101), 0.8)])
    assert [c.track_id for c in kept] == [1]
    assert T.associate(cands, []) == [] and T.associate([], [(box(0, 0, 1, 1), 0.9)]) == []


def test_association_needs_the_overlap_threshold():
    cands = [T.Candidate(box(0, 0, 100, 100), 0.5, 1)]
    touching = (box(80, 0, 180, 100), 0.9)  # IoU 20 / 180 = 0.11
    assert T.associate(cands, [touching]) == []
    assert len(T.associate(cands, [touching], match_iou=0.1)) == 1


def test_new_candidates_skip_tracked_faces_and_reuse_lost_ids():
    alive = [T.Track(0, face(0, 0), 0.9)]
    lost = [T.Track(3, face(300, 200), 0.8)]
    dets = [(points_box(face(0, 0)), 0.95),  # tracked already
            (points_box(face(302, 198)), 0.9),  # where track 3 was lost: id 3 back
            (points_box(face(500, 50)), 0.7)]  # a new face
    new = T.new_candidates(dets, alive, lost, room=None)
    assert [c.track_id for c in new] == [3, None] and [c.score for c in new] == [0.9, 0.7]
    assert [c.track_id for c in T.new_candidates(dets, alive, lost, room=1)] == [3]
    assert T.new_candidates(dets, alive, lost, room=0) == []


def test_a_lost_id_is_given_back_once():
    lost = [T.Track(5, face(100, 100), 0.8)]
    dets = [(points_box(face(100, 100)), 0.9), (points_box(face(101, 101)), 0.8)]
    new = T.new_candidates(dets, [], lost, room=None)
    # the second detection overlaps the first (both new): it is a candidate too, without the id
    assert [c.track_id for c in new] == [5, None]


@pytest.mark.parametrize("pts, ok", [
    (face(100, 100), True),
    (face(100, 100, size=5), False),  # too small
    (np.c_[np.linspace(0, 300, 68), np.linspace(0, 20, 68)].astype(np.float32) + 50, False),  # too long
    (face(600, 100), False),  # mostly outside a 640-wide frame
    (np.full((68, 2), np.nan, np.float32), False),
])
def test_plausible(pts, ok):
    assert T.plausible(pts, SHAPE) is ok


def test_near_and_stages_agree():
    a = face(100, 100)
    assert T.near(None, a) and T.near(a, a + 10) and not T.near(a, a + 60)  # 60 px > 0.35 face size
    assert T.stages_agree(a, a + 5) and not T.stages_agree(a, a + 40)


def test_split_alive_lost_keeps_last_good_points_of_a_lost_track():
    prev = {0: face(100, 100), 1: face(300, 100)}
    cands = [T.Candidate(points_box(prev[0]), 0.9, 0), T.Candidate(points_box(prev[1]), 0.8, 1)]
    pts = np.stack([prev[0] + 2, prev[1] + 200])  # track 1 jumped away
    alive, lost = T.split_alive_lost(cands, pts, prev, SHAPE)
    assert [t.track_id for t in alive] == [0] and [t.track_id for t in lost] == [1]
    np.testing.assert_array_equal(lost[0].pts, prev[1])


def test_unconfirmed_tracks():
    tracks = [T.Track(0, face(0, 0), 0.9), T.Track(1, face(200, 0), 0.9)]
    assert [t.track_id for t in T.unconfirmed(tracks, [T.Candidate(box(0, 0, 1, 1), 0.9, 1)])] == [0]


def test_gate_detects_when_nothing_is_tracked_then_every_n_frames():
    tr = T.Tracker(max_faces=None, redetect_every=3)
    due = []
    for _ in range(7):
        tr.next_frame()
        d = tr.detection_due(n_tracks=1 if due else 0, can_confirm=True)
        if d:
            tr.detected()
        due.append(d)
    assert due == [True, False, False, True, False, False, True]


def test_gate_with_max_faces_tracked_leaves_it_to_presence_checks():
    tr = T.Tracker(max_faces=2, redetect_every=2, confirm_every=2)
    tr.next_frame()
    tr.detected()
    for _ in range(4):
        tr.next_frame()
        assert not tr.detection_due(2, can_confirm=True)
    assert tr.detection_due(2, can_confirm=False)  # 4 frames since the detector ran, due every 2
    assert tr.detection_due(1, can_confirm=True)  # one face short of the cap: look for new ones
    assert tr.frame_index == 5 and tr.presence_due()  # frames 3, 5, ... after detecting on frame 1
    tr.next_frame()
    assert not tr.presence_due()


def test_ids_commit_and_reset():
    tr = T.Tracker(max_faces=2)
    assert [tr.new_id() for _ in range(3)] == [0, 1, 2]
    kept = tr.commit([T.Track(0, face(0, 0), 0.5), T.Track(1, face(200, 0), 0.9), T.Track(2, face(400, 0), 0.7)])
    assert [t.track_id for t in kept] == [1, 2] and tr.room(2) == 0 and tr.full(2)
    assert [c.track_id for c in tr.candidates()] == [1, 2] and set(tr.previous_points()) == {1, 2}
    tr.reset()
    assert tr.tracks == [] and tr.new_id() == 0 and T.Tracker().room(10) is None


def test_bad_tracker_settings_are_refused():
    with pytest.raises(ValueError, match="max_faces >= 1"):
        T.Tracker(max_faces=0)
    with pytest.raises(ValueError, match="redetect_every"):
        T.Tracker(redetect_every=0)


def test_presence_is_the_mean_point_score_against_the_threshold():
    assert T.present(np.full(68, 0.6), 0.45) and not T.present(np.full(68, 0.3), 0.45)
    assert T.present(np.r_[np.full(34, 0.2), np.full(34, 0.8)], 0.45)  # the mean (0.5), not the minimum
    assert T.present(None, 0.45) and T.present(np.zeros(68), None)  # no scores / no threshold: not its call


def test_a_track_whose_network_no_longer_sees_a_face_is_lost():
    """split_alive_lost with point scores: the same plausible, nearby points are kept with a face's
    scores and lost with a background crop's; the lost track keeps its last points, the alive one its scores."""
    pts = np.stack([np.random.default_rng(0).uniform(100, 200, (68, 2)).astype(np.float32)] * 2)
    prev = {0: pts[0], 1: pts[1]}
    cands = [T.Candidate(points_box(pts[0]), 0.9, 0), T.Candidate(points_box(pts[1]), 0.9, 1)]
    scores = np.stack([np.full(68, 0.75), np.full(68, 0.1)]).astype(np.float32)
    alive, lost = T.split_alive_lost(cands, pts + 1, prev, (480, 640, 3), scores, 0.45)
    assert [t.track_id for t in alive] == [0] and [t.track_id for t in lost] == [1]
    assert np.array_equal(alive[0].point_scores, scores[0]) and alive[0].landmark_score == pytest.approx(0.75)
    assert np.array_equal(lost[0].pts, pts[1])
    alive, lost = T.split_alive_lost(cands, pts + 1, prev, (480, 640, 3), scores, None)  # no threshold
    assert len(alive) == 2 and not lost


def _old_plausible(pts, frame_shape):
    """plausible() as it was written before it took the box (np.ptp, every point tested), the reference."""
    if not np.isfinite(pts).all():
        return False
    w, h = np.ptp(pts, axis=0)
    if min(w, h) < T.MIN_FACE_PX or max(w / h, h / w) > T.MAX_ASPECT:
        return False
    hgt, wid = frame_shape[:2]
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= wid - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= hgt - 1)
    return float(inside.mean()) >= T.MIN_INSIDE


def test_plausible_with_or_without_the_box_decides_as_before():
    rng = np.random.default_rng(1)
    sets = [face(rng.uniform(-120, 660), rng.uniform(-120, 500), rng.uniform(4, 200)) for _ in range(300)]
    sets += [face(100, 100) * [1, 0.2], face(100, 100) * [0.3, 1], face(600, 100), face(-60, 400)]
    sets.append(np.where(np.arange(68)[:, None] == 5, np.inf, face(100, 100)).astype(np.float32))
    decided = [_old_plausible(p, SHAPE) for p in sets]
    assert 20 < sum(decided) < len(sets) - 20  # both answers, many times
    assert [T.plausible(p, SHAPE) for p in sets] == decided
    assert [T.plausible(p, SHAPE, points_box(p)) for p in sets] == decided


@pytest.mark.parametrize("n", [1, 2, 5, 68, 69])
def test_median_distance_is_np_median_of_the_distances(n):
    rng = np.random.default_rng(n)
    for dtype in (np.float32, np.float64):
        for _ in range(50):
            a, b = rng.normal(100, 30, (n, 2)).astype(dtype), rng.normal(100, 30, (n, 2)).astype(dtype)
            assert T.median_distance(a, b) == float(np.median(np.linalg.norm(a - b, axis=1)))
    a[n // 2, 0] = np.nan
    assert np.isnan(T.median_distance(a, b)) and not T.near(b, a)  # any NaN: NaN, as np.median


def test_near_takes_the_face_size_when_given():
    a = face(100, 100)
    assert T.near(a, a + 10, size=face_size(a + 10)) and not T.near(a, a + 10, size=20.0)  # 14 px > 0.35 * 20


def test_a_tracks_box_is_its_points_box_made_once_and_its_candidates_carry_it():
    tr = T.Tracker()
    track = T.Track(0, face(50, 60), 0.9)
    assert np.array_equal(track.box_xyxy, points_box(track.pts)) and track.box_xyxy is track.box_xyxy
    tr.commit([track])
    assert tr.candidates()[0].box_xyxy is track.box_xyxy
    alive, lost = T.split_alive_lost(tr.candidates(), track.pts[None] + 1, tr.previous_points(), SHAPE)
    assert np.array_equal(alive[0].box_xyxy, points_box(track.pts + 1))


def test_mean_score_is_np_mean():
    rng = np.random.default_rng(2)
    for n in (1, 7, 68, 98, 500):
        for _ in range(200):
            s = rng.uniform(0, 1, n).astype(np.float32) ** rng.uniform(0.2, 5)
            assert T.mean_score(s) == float(np.mean(s))
    for other in (np.full(68, 0.3), np.full((2, 3), 0.5, np.float32), [0.25, 0.5]):  # np.mean itself
        assert T.mean_score(other) == float(np.mean(other))
