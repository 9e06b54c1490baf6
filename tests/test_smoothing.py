"""One Euro filter: passes constants, removes jitter, follows motion, ignores the resolution."""
from __future__ import annotations

import numpy as np
import pytest

from facealign.smoothing import OneEuroFilter, TrackSmoother, face_size

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
    s(0, a, 0.0)
    s(1, b, 0.0)
    out_a = s(0, a + 5.0, 1 / FPS)
    assert np.abs(out_a - a).max() < 5.0  # smoothed toward the track's own history
    s.keep([1])
    assert set(s.filters) == {1}
    np.testing.assert_allclose(s(0, a + 5.0, 2 / FPS), a + 5.0, atol=1e-4)  # a fresh filter
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
