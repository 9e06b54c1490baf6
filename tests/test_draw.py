"""Drawing is pixel-exact with anti-aliasing off: known points change exactly known pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facealign import DrawingSpec, Landmarks, draw_landmarks
from facealign.draw import AXIS_COLORS
from facealign.transform import points_box

EXACT = DrawingSpec(color=(0, 255, 0), line_color=(255, 0, 0), radius=0, thickness=1, antialias=False)


def _face(pts, pose=(0.0, 0.0, 0.0)):
    pts = np.asarray(pts, np.float32)
    return Landmarks(pts, 0.9, points_box(pts), None, pose)


def _changed(a, b):
    return {tuple(p) for p in np.argwhere((a != b).any(axis=2))}  # (row, col)


def test_a_point_changes_exactly_its_pixel():
    frame = np.zeros((60, 80, 3), np.uint8)
    out = draw_landmarks(frame, [_face(np.full((68, 2), (20.2, 30.4)))], EXACT)
    assert _changed(frame, out) == {(30, 20)}
    assert tuple(out[30, 20]) == EXACT.color  # the point is drawn over the (zero-length) lines
    assert not frame.any()  # the input is untouched


def test_contours_then_points_on_top():
    pts = np.full((68, 2), (50.0, 50.0), np.float32)
    pts[0:17] = [(10 + 2 * i, 10) for i in range(17)]  # the jaw along row 10, columns 10..42
    frame = np.zeros((64, 64, 3), np.uint8)
    out = draw_landmarks(frame, [_face(pts)], EXACT)
    expected = {(10, x) for x in range(10, 43)} | {(50, 50)}
    assert _changed(frame, out) == expected
    for x in range(10, 43):
        assert tuple(out[10, x]) == (EXACT.color if x % 2 == 0 else EXACT.line_color)


def test_parts_can_be_switched_off_and_box_drawn():
    pts = np.random.default_rng(0).uniform(15, 45, size=(68, 2)).astype(np.float32)
    frame = np.full((64, 64, 3), 7, np.uint8)
    off = DrawingSpec(points=False, contours=False)
    np.testing.assert_array_equal(draw_landmarks(frame, [_face(pts)], off), frame)
    spec = DrawingSpec(points=False, contours=False, box=True, antialias=False)
    out = draw_landmarks(frame, [_face(pts)], spec)
    x0, y0, x1, y1 = np.rint(points_box(pts)).astype(int)
    changed = _changed(frame, out)
    assert (y0, x0) in changed and (y1, x1) in changed
    assert all(r in (y0, y1) or c in (x0, x1) for r, c in changed)  # only the border


def test_pose_axes_point_the_right_way():
    pts = np.full((68, 2), 32.0, np.float32)
    pts[36], pts[45] = (22.0, 32.0), (42.0, 32.0)  # eyes 20 px apart: axes 16 px long
    spec = DrawingSpec(points=False, contours=False, pose_axes=True, antialias=False, thickness=1)
    out = draw_landmarks(np.zeros((64, 64, 3), np.uint8), [_face(pts)], spec)
    assert tuple(out[32, 40]) == AXIS_COLORS[0]  # x: to the right of the nose tip (32, 32)
    assert tuple(out[24, 32]) == AXIS_COLORS[1]  # up
    turned = draw_landmarks(np.zeros((64, 64, 3), np.uint8), [_face(pts, (30.0, 0.0, 0.0))], spec)
    forward = np.argwhere((turned == AXIS_COLORS[2]).all(axis=2))
    assert len(forward) and forward[:, 1].max() > 34  # yaw > 0: the face looks to the image's right


def test_plot_is_draw_landmarks():
    pts = np.random.default_rng(1).uniform(5, 55, size=(68, 2)).astype(np.float32)
    frame = np.zeros((60, 60, 3), np.uint8)
    face = _face(pts)
    np.testing.assert_array_equal(face.plot(frame), draw_landmarks(frame, [face]))
    np.testing.assert_array_equal(draw_landmarks(frame, []), frame)


def test_drawing_scales_with_the_picture_and_the_face(read_media, aligner):
    """An 8000 x 8000 picture: points and lines grow with it, so they still show at screen size."""
    from facealign.draw import scaled_sizes

    small = read_media("single_face.jpg")
    face = aligner(small)[0]
    assert scaled_sizes(small.shape, face.points) == (2, 1)  # an ordinary picture: the base sizes
    k = 8000 / max(small.shape[:2])
    big_face = _face(face.points * k)
    big = np.zeros((8000, 8000, 3), np.uint8)
    radius, thickness = scaled_sizes(big.shape, big_face.points)
    assert radius == 16 and thickness == 8
    tiny = _face(face.points * 0.2)  # a small face in the big picture: capped by the face
    assert scaled_sizes(big.shape, tiny.points)[0] < radius
    drawn = draw_landmarks(big, [big_face], DrawingSpec(contours=False, antialias=False))
    screen = cv2.resize(drawn, (1000, 1000), interpolation=cv2.INTER_AREA)  # seen at screen size
    seen = screen[..., 1] > 100
    assert seen.sum() >= 68 * 4, "points vanish at screen size"
    fixed = draw_landmarks(big, [big_face], DrawingSpec(radius=2, contours=False, antialias=False))
    assert (cv2.resize(fixed, (1000, 1000), interpolation=cv2.INTER_AREA)[..., 1] > 100).sum() < seen.sum() / 4


def test_low_confidence_points_are_drawn_as_rings_in_another_colour():
    """A point scoring below DrawingSpec.low_score: a ring in low_color around an untouched centre,
    where a confident point is a filled dot in color; low_score=0 draws both alike."""
    pts = np.full((68, 2), (20.0, 20.0), np.float32)
    pts[30] = (40.0, 20.0)  # the nose tip on its own
    scores = np.full(68, 0.9, np.float32)
    scores[30] = 0.1
    face = Landmarks(pts, 0.9, points_box(pts), None, (0.0, 0.0, 0.0), point_scores=scores)
    frame = np.zeros((40, 60, 3), np.uint8)
    spec = DrawingSpec(radius=3, contours=False, antialias=False, low_score=0.5)
    out = draw_landmarks(frame, [face], spec)
    assert tuple(out[20, 20]) == spec.color and tuple(out[20, 23]) == spec.color  # a filled dot
    assert tuple(out[20, 40]) == (0, 0, 0) and tuple(out[20, 43]) == spec.low_color  # a ring, hollow
    assert not (out == spec.color).all(axis=2)[15:26, 35:46].any()  # nothing of the dot's colour there
    same = draw_landmarks(frame, [face], DrawingSpec(radius=3, contours=False, antialias=False, low_score=0.0))
    assert tuple(same[20, 40]) == spec.color and tuple(same[20, 43]) == spec.color
    unscored = Landmarks(pts, 0.9, points_box(pts), None, (0.0, 0.0, 0.0))  # no scores: every point a dot
    np.testing.assert_array_equal(draw_landmarks(frame, [unscored], spec), same)
    from facealign.draw import LOW_SCORE

    assert DrawingSpec().low_score == LOW_SCORE and 0 < LOW_SCORE < 1
    with pytest.raises(ValueError, match=r"low_score is a point score threshold in \[0, 1\]"):
        DrawingSpec(low_score=1.5)
