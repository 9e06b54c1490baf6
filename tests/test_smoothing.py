"""One Euro filter: passes constants, removes jitter, follows motion, ignores the resolution; the aligned
filter (video mode's) passes the head's motion through and smooths the shape."""
from __future__ import annotations

import numpy as np
import pytest

from facealign.jitter import jitter_of
from facealign.smoothing import AlignedFilter, OneEuroFilter, TrackSmoother, alpha, box_size, face_size
from facealign.stability import canonical, lag_frames, reference
from facealign.transform import points_box

FPS = 30.0


def _face(seed=0, size=200.0):
    return np.random.default_rng(seed).uniform(0, size, size=(68, 2))


def _run(filt, track, fps=FPS):
    return np.stack([filt(p, i / fps) for i, p in enumerate(track)])


def test_constant_signal_passes_unchanged():
    face = _face().astype(np.float32)
    out = _run(OneEuroFilter(), [face] * 50)
    np.testing.assert_allclose(out, np.broadcast_to(face, out.shape), atol=1e-4)


def test_first_call_passes_through():
    face = _face()
    np.testing.assert_allclose(OneEuroFilter()(face, 0.0), face, atol=1e-4)


def test_jitter_is_reduced_on_a_still_noisy_track():
    rng = np.random.default_rng(1)
    truth = _face()
    noisy = truth + rng.normal(0, 2.0, size=(120, 68, 2))
    out = _run(OneEuroFilter(), noisy)
    err_in = np.linalg.norm(noisy[20:] - truth, axis=-1).mean()
    err_out = np.linalg.norm(out[20:] - truth, axis=-1).mean()
    step_in = np.linalg.norm(np.diff(noisy[20:], axis=0), axis=-1).mean()
    step_out = np.linalg.norm(np.diff(out[20:], axis=0), axis=-1).mean()
    assert err_out < 0.6 * err_in
    assert step_out < 0.4 * step_in


def test_fast_motion_is_followed_not_lagged():
    """Beta raises the cutoff with speed: a face sweeping one face size per second keeps up."""
    t = np.arange(90) / FPS
    truth = np.stack([_face() + [200.0 * ti, 0.0] for ti in t])
    lagged = _run(OneEuroFilter(beta=0.0), truth)
    adaptive = _run(OneEuroFilter(), truth)
    lag_fixed = np.abs(lagged[30:, :, 0] - truth[30:, :, 0]).mean()
    lag_adaptive = np.abs(adaptive[30:, :, 0] - truth[30:, :, 0]).mean()
    assert lag_adaptive < 0.25 * lag_fixed
    assert lag_adaptive < 0.05 * 200  # under 5 % of the face size


def test_same_parameters_work_at_any_resolution():
    rng = np.random.default_rng(2)
    track = np.cumsum(rng.normal(0, 1.0, size=(60, 68, 2)), axis=0) + _face()
    small = _run(OneEuroFilter(), track)
    big = _run(OneEuroFilter(), track * 10)
    np.testing.assert_allclose(big, small * 10, rtol=1e-4, atol=1e-2)


def test_repeated_timestamp_does_not_blow_up():
    f = OneEuroFilter()
    f(_face(), 0.0)
    out = f(_face() + 1.0, 0.0)
    assert np.isfinite(out).all()


def test_track_smoother_keeps_one_filter_per_track():
    s = TrackSmoother()
    a, b = _face(1), _face(2)
    moved = a + np.random.default_rng(5).normal(0, 5.0, size=a.shape)  # a change of shape, not of pose
    s(0, a, 0.0)
    s(1, b, 0.0)
    out_a = s(0, moved, 1 / FPS)
    assert np.linalg.norm(out_a - a, axis=1).mean() < 0.8 * np.linalg.norm(moved - a, axis=1).mean()  # smoothed (0.59)
    s.keep([1])
    assert set(s.filters) == {1}
    np.testing.assert_allclose(s(0, moved, 2 / FPS), moved, atol=1e-3)  # a fresh filter
    s.reset()
    assert s.filters == {}


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1.0)


def test_face_size():
    pts = np.array([[0.0, 0.0], [40.0, 10.0], [10.0, 90.0]])
    assert face_size(pts) == pytest.approx(60.0)


# -- the video-mode default: One Euro on the shape in the face's aligned frame ----------------------

def _pose(i: int, face: np.ndarray) -> np.ndarray:
    """The face moved, turned in the picture and scaled over time: frame i."""
    th, s = 0.3 * np.sin(i / 15), 1 + 0.2 * np.sin(i / 20)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) * s
    c = face.mean(0)
    return (face - c) @ rot.T + c + [3.0 * i, 20 * np.sin(i / 10)]


def test_aligned_filter_passes_the_heads_own_motion_unchanged():
    face = _face() + 100
    truth = np.stack([_pose(i, face) for i in range(90)])
    out = _run(AlignedFilter(), truth)
    np.testing.assert_allclose(out, truth, atol=1e-3)  # no lag, no smoothing of the rigid motion


def test_aligned_filter_keeps_a_still_face_still():
    rng = np.random.default_rng(3)
    face = _face() + 100
    noisy = face + rng.normal(0, 1.0, size=(120, 68, 2))
    out = _run(AlignedFilter(), noisy)
    shake_in = jitter_of(list(noisy[20:]))["jitter_rigid_removed"]
    shake_out = jitter_of(list(out[20:]))["jitter_rigid_removed"]
    assert shake_out < 0.3 * shake_in  # measured 0.19x
    err_in = np.linalg.norm(noisy[20:] - face, axis=-1).mean()
    assert np.linalg.norm(out[20:] - face, axis=-1).mean() < 0.6 * err_in  # measured 0.48x


def test_aligned_filter_follows_a_moving_face_without_the_frame_filters_lag():
    rng = np.random.default_rng(4)
    face = _face() + 100
    truth = np.stack([_pose(i, face) for i in range(90)])
    noisy = truth + rng.normal(0, 1.0, size=truth.shape)
    aligned, frame = _run(AlignedFilter(), noisy), _run(OneEuroFilter(), noisy)
    assert lag_frames(aligned, noisy) <= 0.1  # measured 0.0
    assert lag_frames(frame, noisy) >= 0.3  # measured 0.53: the frame filter smooths the motion too
    shake_in = jitter_of(list(noisy))["jitter_rigid_removed"]
    assert jitter_of(list(aligned))["jitter_rigid_removed"] < 0.3 * shake_in  # measured 0.19x


def test_aligned_filter_follows_an_opening_mouth():
    face = _face() + 100
    lower_lip = [56, 57, 58]

    def frame(i):
        f = face.copy()
        f[lower_lip, 1] += 1.5 * min(max(i - 30, 0), 10)  # opens by 15 px over 10 frames
        return f
    truth = np.stack([frame(i) for i in range(90)])
    out = _run(AlignedFilter(), truth)
    ref = reference(truth)
    assert lag_frames(canonical(out, ref), canonical(truth, ref)) <= 1.5  # measured 1.15 frames
    np.testing.assert_allclose(out[-1], truth[-1], atol=0.1)  # and settles on it


def test_track_smoother_spaces():
    assert isinstance(TrackSmoother().make(), AlignedFilter)
    f = TrackSmoother(space="frame", beta=3.0).make()
    assert isinstance(f, OneEuroFilter) and f.beta == 3.0 and f.min_cutoff == OneEuroFilter().min_cutoff
    with pytest.raises(ValueError, match="aligned, frame"):
        TrackSmoother(space="pixels")
    with pytest.raises(ValueError):
        TrackSmoother(min_cutoff=-1.0)


def test_face_size_box_size_and_alpha_give_what_their_numpy_forms_gave():
    rng = np.random.default_rng(5)
    for _ in range(100):
        pts = rng.uniform(-20, 900, (68, 2)) * rng.uniform(0.01, 1)
        for p in (pts, pts.astype(np.float32)):
            span = np.ptp(np.asarray(p, dtype=np.float64), axis=0)  # face_size as it was written before
            assert face_size(p) == max(float(np.sqrt(span[0] * span[1])), 1.0)
        p = pts.astype(np.float32)
        assert box_size(points_box(p)) == face_size(p)  # float32 points: the box says the same
        dt, cutoff = rng.uniform(0.001, 0.1), rng.uniform(0.01, 50)
        old = 1.0 / (1.0 + (1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))) / dt)
        assert alpha(dt, cutoff) == old and np.array_equal(alpha(dt, np.full((3, 1), cutoff)), np.full((3, 1), old))
    assert face_size(np.array([[3, 4], [3, 4]])) == 1.0  # at least 1
