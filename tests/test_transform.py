"""CropTransform: frame <-> crop coordinates, and the pixels the warp moves."""
from __future__ import annotations

import numpy as np
import pytest

from facealign.transform import CropTransform, SimilarityTarget, apply, points_box, similarity


def _points(n=68, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(100, 300, size=(n, 2))).astype(np.float32)


@pytest.mark.parametrize("angle", [0.0, 17.0, -90.0])
def test_points_round_trip_frame_crop_frame(angle):
    pts = _points()
    tf = CropTransform.from_box(points_box(pts), 128, scale=1.35, shift=(0.05, -0.02), angle=angle)
    back = tf.to_frame(tf.to_crop(pts))
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_box_crop_holds_the_box_at_the_stated_scale():
    box = np.array([40.0, 60.0, 140.0, 140.0])  # 100 x 80: the crop follows the longer side
    tf = CropTransform.from_box(box, 200, scale=2.0)
    assert tf.scale == pytest.approx(200 / 200.0)
    centre = tf.to_crop(np.array([[90.0, 100.0]]))[0]
    np.testing.assert_allclose(centre, [99.5, 99.5], atol=1e-4)


def test_warp_moves_a_pixel_where_to_crop_says():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[37, 91] = (10, 200, 30)
    # one crop pixel per frame pixel, turned 90 degrees, centre on a half pixel: an integer map
    tf = CropTransform.from_center(80.5, 50.5, 64.0, 64, angle=90.0)
    crop = tf.warp(frame)
    x, y = np.rint(tf.to_crop(np.array([[91.0, 37.0]]))[0]).astype(int)
    assert tuple(crop[y, x]) == (10, 200, 30)
    assert np.count_nonzero(crop.any(axis=2)) == 1


def test_from_points_recovers_a_known_similarity():
    t = np.deg2rad(25.0)
    known = np.array([[1.7 * np.cos(t), -1.7 * np.sin(t), 12.0], [1.7 * np.sin(t), 1.7 * np.cos(t), -30.0]])
    src = _points(seed=1)
    tf = CropTransform.from_points(src, apply(known, src), 256)
    np.testing.assert_allclose(tf.matrix, known, atol=1e-4)
    assert tf.scale == pytest.approx(1.7, abs=1e-5)


def test_from_points_is_least_squares_under_noise():
    src = _points(seed=2)
    known = np.array([[0.5, 0.0, 5.0], [0.0, 0.5, 7.0]])
    noisy = apply(known, src) + np.random.default_rng(3).normal(0, 0.5, size=src.shape)
    fitted = similarity(src, noisy)
    assert np.abs(fitted[:, :2] - known[:, :2]).max() < 0.01
    assert np.abs(fitted[:, 2] - known[:, 2]).max() < 1.0


def _similarity_complex(src, dst):
    """The fit as it was written before issue 21 (complex numbers), kept as the reference."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    s, d = src - src.mean(0), dst - dst.mean(0)
    sc, dc = s[:, 0] + 1j * s[:, 1], d[:, 0] + 1j * d[:, 1]
    a = (np.conj(sc) * dc).sum() / float((np.abs(sc) ** 2).sum())
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    return np.hstack([rot, (dst.mean(0) - rot @ src.mean(0))[:, None]])


@pytest.mark.parametrize("seed", range(5))
def test_similarity_in_real_arithmetic_gives_the_complex_fit_and_the_same_crop(seed):
    rng = np.random.default_rng(seed)
    src = _points(seed=seed)
    dst = src @ rng.normal(size=(2, 2)).astype(np.float32) + rng.normal(0, 3, size=src.shape).astype(np.float32)
    new, old = similarity(src, dst), _similarity_complex(src, dst)
    np.testing.assert_allclose(new, old, rtol=0, atol=1e-9 * np.abs(old).max())
    frame = rng.integers(0, 256, size=(400, 400, 3), dtype=np.uint8)
    dst_crop = (src - src.min(0)) / np.ptp(src, 0).max() * 100 + 14  # a template-like target in a 128 px crop
    crop_new = CropTransform(similarity(src, dst_crop), 128).warp(frame)
    crop_old = CropTransform(_similarity_complex(src, dst_crop), 128).warp(frame)
    assert np.array_equal(crop_new, crop_old)  # measured: the same pixels on 20 seeds


def test_similarity_rejects_degenerate_points():
    with pytest.raises(ValueError, match="degenerate"):
        similarity(np.ones((68, 2)), _points())


def test_then_composes_and_inverse_undoes():
    tf = CropTransform.from_box([0, 0, 50, 50], 64)
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]])
    pts = _points(5)
    np.testing.assert_allclose(tf.then(shift).to_crop(pts), tf.to_crop(pts) + [3.0, -2.0], atol=1e-4)
    np.testing.assert_allclose(apply(tf.inverse, apply(tf.matrix, pts)), pts, atol=1e-3)


def test_points_box_and_empty_box():
    pts = np.array([[3.0, 4.0], [10.0, -1.0], [5.0, 8.0]])
    np.testing.assert_array_equal(points_box(pts), np.array([3.0, -1.0, 10.0, 8.0], np.float32))
    with pytest.raises(ValueError, match="no area"):
        CropTransform.from_box([5, 5, 5, 5], 64)


def _similarity_numpy(src, dst):
    """The fit as it was written before SimilarityTarget (np.mean, np.hstack), kept as the reference."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    denom = float(s.ravel() @ s.ravel())
    re = float(s.ravel() @ d.ravel()) / denom
    im = float(s[:, 0] @ d[:, 1] - s[:, 1] @ d[:, 0]) / denom
    rot = np.array([[re, -im], [im, re]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


@pytest.mark.parametrize("seed", range(5))
def test_similarity_target_fits_bit_for_bit_as_before_and_can_be_reused(seed):
    rng = np.random.default_rng(seed)
    dst = _points(seed=seed + 10)
    target = SimilarityTarget(dst)
    for _ in range(3):  # one target, many fits (a crop's template, a track's reference face)
        src = rng.uniform(-50, 700, size=(68, 2)).astype(np.float32)
        old = _similarity_numpy(src, dst)
        assert np.array_equal(target.fit(src), old) and np.array_equal(similarity(src, dst), old)
    from_target, from_points = CropTransform.from_points(src, target, 96), CropTransform.from_points(src, dst, 96)
    assert np.array_equal(from_target.matrix, from_points.matrix)
    with pytest.raises(ValueError, match="degenerate"):
        target.fit(np.ones((68, 2)))


def test_apply_and_points_box_give_what_they_gave_before():
    rng = np.random.default_rng(4)
    m = rng.normal(size=(2, 3))
    for pts in (_points(seed=5), _points(seed=6).astype(np.float64), rng.normal(size=(3, 68, 2))):
        old = (np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)
        assert np.array_equal(apply(m, pts), old) and apply(m, pts).dtype == np.float32
    for pts in (_points(seed=7), _points(seed=8).astype(np.float64) / 3, np.array([[1, 2], [3, 0]])):
        box = points_box(pts)
        assert box.dtype == np.float32 and np.array_equal(box, np.array([*pts.min(0), *pts.max(0)], np.float32))
