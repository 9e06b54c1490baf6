"""Head pose: known rotations come back, mirroring flips yaw and roll, real faces agree."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from facealign.pose import MODEL_3D, head_pose, project, rotation_from_euler, euler_from_rotation
from facealign.schemes import MULTIPIE_68

FLIP_PERMUTATION, flip_points = MULTIPIE_68.flip_permutation, MULTIPIE_68.flip

SIZE = (640, 480)


def _pose_points(yaw, pitch, roll, t=(15.0, -10.0, 700.0)):
    rvec = cv2.Rodrigues(rotation_from_euler(yaw, pitch, roll))[0]
    return project(rvec, np.array(t), SIZE)


def test_model_is_symmetric():
    mirrored = MODEL_3D[FLIP_PERMUTATION] * [-1, 1, 1]
    np.testing.assert_allclose(mirrored, MODEL_3D, atol=1e-9)


@pytest.mark.parametrize("ypr", [(0, 0, 0), (25, 0, 0), (-30, 10, 5), (0, -15, 0), (10, 5, -20)])
def test_known_pose_is_recovered(ypr):
    got = head_pose(_pose_points(*ypr), SIZE)
    np.testing.assert_allclose(got, ypr, atol=0.5)


def test_euler_round_trip():
    for ypr in [(12.0, -7.0, 33.0), (-40.0, 20.0, -10.0)]:
        np.testing.assert_allclose(euler_from_rotation(rotation_from_euler(*ypr)), ypr, atol=1e-9)


def test_signs_in_the_picture():
    """yaw > 0: the nose points to the image's right; pitch > 0: up; roll > 0: clockwise."""
    front = _pose_points(0, 0, 0)
    nose = lambda p: p[30] - p[27]  # noqa: E731 - nose tip relative to the bridge
    assert nose(_pose_points(20, 0, 0))[0] > nose(front)[0] + 3
    assert nose(_pose_points(0, 20, 0))[1] < nose(front)[1] - 3
    right = _pose_points(0, 0, 20)
    assert right[8, 0] < front[8, 0] - 10  # clockwise: the chin swings to the image's left


def test_mirrored_300w_faces_flip_yaw_and_roll(w300):
    from facealign.data import load_split

    faces = load_split("common", w300)
    turned = 0
    for i in range(0, len(faces), 10):
        pts = faces[i].pts
        yaw, pitch, roll = head_pose(pts, (384, 384))
        myaw, mpitch, mroll = head_pose(flip_points(pts, 384), (384, 384))
        assert myaw == pytest.approx(-yaw, abs=1.0) and mroll == pytest.approx(-roll, abs=1.0)
        assert mpitch == pytest.approx(pitch, abs=1.0)
        turned += abs(yaw) > 10
    assert turned >= 5  # the check above ran on clearly turned faces too


def test_mirrored_picture_flips_yaw_through_the_pipeline(aligner, read_media):
    img = read_media("2008_001322.jpg")
    mirrored = np.ascontiguousarray(img[:, ::-1])
    w = img.shape[1]
    checked = 0
    for f in aligner(img):
        if abs(f.pose[0]) < 10:
            continue
        cx = (f.box_xyxy[0] + f.box_xyxy[2]) / 2
        m = min(aligner(mirrored), key=lambda g: abs((g.box_xyxy[0] + g.box_xyxy[2]) / 2 - (w - 1 - cx)))
        assert np.sign(m.pose[0]) == -np.sign(f.pose[0])
        checked += 1
    assert checked >= 1


def test_degenerate_points_give_nan():
    assert all(np.isnan(head_pose(np.zeros((68, 2)), SIZE)))
    assert all(np.isnan(head_pose(np.full((68, 2), np.nan), SIZE)))
