"""Detectors on real pictures, their box calibration, and the calibrate command."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from facealign.detectors import BoxMap, Detector, FaceBox, create_detector, iou, list_detectors
from facealign.detectors.base import box_residuals
from facealign.transform import points_box


@pytest.fixture(scope="module")
def detector():
    with create_detector("mediapipe") as det:
        yield det


# -- pure geometry ---------------------------------------------------------------------------

def test_facebox_normalises_types_and_is_frozen():
    f = FaceBox([1, 2, 3, 4], np.float64(0.9), [[1, 2]] * 6)
    assert f.box_xyxy.dtype == np.float32 and f.box_xyxy.shape == (4,)
    assert isinstance(f.score, float) and f.keypoints.shape == (6, 2)
    with pytest.raises(AttributeError):
        f.score = 0.1


def test_iou_of_hand_made_boxes():
    a = [[0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]
    np.testing.assert_allclose(iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_box_map_apply_inverse_and_fit():
    m = BoxMap(dx=0.02, dy=0.08, sx=0.9, sy=0.85)
    det = np.array([[10, 20, 110, 140], [300, 50, 360, 130]], np.float32)
    np.testing.assert_allclose(m.inverse(m(det)), det, atol=1e-3)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, size=(200, 2))
    wh = rng.uniform(20, 200, size=(200, 2))
    dets = np.hstack([xy, xy + wh])
    pts = m(dets)
    pts[:30] = m(dets[:30] * rng.uniform(0.7, 1.3, size=(30, 1)))  # outliers: the median ignores them
    fitted = BoxMap.fit(dets, pts)
    for k in ("dx", "dy", "sx", "sy"):
        assert getattr(fitted, k) == pytest.approx(getattr(m, k), abs=0.01)
    assert np.abs(np.median(box_residuals(m(dets[30:]), pts[30:]), axis=0)).max() < 1e-4


def test_unknown_detector_lists_the_choices():
    with pytest.raises(ValueError, match="mediapipe"):
        create_detector("viola_jones")
    assert {"mediapipe", "mediapipe_short", "mediapipe_full"} <= set(list_detectors())


# -- MediaPipe on real pictures --------------------------------------------------------------

def test_one_face_with_keypoints(detector, read_media):
    img = read_media("single_face.jpg")
    faces = detector.detect(img)
    assert isinstance(detector, Detector)
    assert len(faces) == 1
    f = faces[0]
    h, w = img.shape[:2]
    assert f.score >= 0.65
    assert 0 <= f.box_xyxy[0] < f.box_xyxy[2] <= w and 0 <= f.box_xyxy[1] < f.box_xyxy[3] <= h
    right_eye, left_eye, nose, mouth = f.keypoints[:4]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    assert all(f.box_xyxy[0] <= x <= f.box_xyxy[2] for x, _ in (right_eye, left_eye, nose, mouth))


def test_several_faces_and_sorted_scores(detector, read_media):
    faces = detector.detect(read_media("multi_face.jpg"))
    assert len(faces) >= 4
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True)
    boxes = np.array([f.box_xyxy for f in faces])
    assert (iou(boxes, boxes) - np.eye(len(faces))).max() <= 0.5  # no duplicates


@pytest.mark.parametrize("name", ["dogs.jpg", "free-mountain-vector-01.jpg"])
def test_no_face(detector, read_media, name):
    assert detector.detect(read_media(name)) == []


def test_short_range_alone_takes_a_dog_for_a_face(read_media):
    """Why the default refines: short range alone fires on dogs.jpg, the default does not."""
    with create_detector("mediapipe_short", min_score=0.5) as short:
        assert len(short.detect(read_media("dogs.jpg"))) >= 1


def test_wrong_frame_shape_is_refused(detector, read_media):
    img = read_media("single_face.jpg")
    with pytest.raises(ValueError, match="BGR"):
        detector.detect(img[..., 0])
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(img.astype(np.float32))


def test_confirm_sees_a_tracked_face_and_not_the_sky(detector, read_media):
    img = read_media("single_face.jpg")
    box = detector.box_map(detector.detect(img)[0].box_xyxy)
    assert detector.confirm(img, box) >= 0.65
    sky = read_media("free-mountain-vector-01.jpg")
    assert detector.confirm(sky, np.array([100, 100, 300, 300], np.float32)) is None


def test_closed_detector_refuses(read_media):
    det = create_detector("mediapipe_short")
    with det:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(read_media("single_face.jpg"))
    det.close()  # closing twice is fine


# -- calibration ------------------------------------------------------------------------------

def test_mapped_boxes_match_point_boxes_on_test_faces(detector, w300):
    from facealign.data import load_split

    common = load_split("common", w300)
    overlaps = []
    for i in range(0, len(common), 28):  # 20 faces
        faces = detector.detect(common.image(i))
        assert faces, f"no face found in {common[i].image_path}"
        mapped = detector.box_map(np.array([f.box_xyxy for f in faces]))
        overlaps.append(iou(points_box(common[i].pts), mapped).max())
    assert np.median(overlaps) >= 0.8
    assert min(overlaps) >= 0.5


def test_calibration_on_a_subset_agrees_with_the_stored_constants(w300):
    from facealign.calibrate import calibrate
    from facealign.data import load_split
    from facealign.detectors.mediapipe import BOX_MAPS

    train = load_split("train", w300)
    with create_detector("mediapipe_short") as det:
        c = calibrate(train.subset(range(0, len(train), 25)), det, "short")  # 81 faces
    assert c.rate >= 0.97
    ref = BOX_MAPS["short"]
    assert abs(c.box_map.dx - ref.dx) < 0.02 and abs(c.box_map.dy - ref.dy) < 0.02
    assert abs(c.box_map.sx / ref.sx - 1) < 0.04 and abs(c.box_map.sy / ref.sy - 1) < 0.04
    assert c.iou_mapped > c.iou_raw


def test_calibrate_command_writes_json(w300, tmp_path, capsys):
    from facealign.commands import calibrate

    out = tmp_path / "calib.json"
    args = SimpleNamespace(data=str(w300), model=1, refine=True, min_score=0.5, min_iou=0.25, limit=8,
                           json=str(out))
    assert calibrate.run(args) == 0
    d = json.loads(out.read_text())
    assert d["faces"] == 8 and d["detected"] >= 7
    assert set(d["box_map"]) == {"dx", "dy", "sx", "sy"} and 0.7 < d["box_map"]["sx"] < 1.2
    assert "detected:" in capsys.readouterr().out
