"""MediaPipe BlazeFace (`mediapipe.solutions.face_detection`).

model_selection=0 is the short-range model (faces within about 2 m of a webcam,
128 px input); model_selection=1 the full-range model (faces up to about 5 m,
192 px input). Measured on the 300-W training faces, short range finds every
face and draws a box that predicts the 68-point box well; full range misses 6 %
of those close-up faces and its boxes wander (see BOX_MAPS), but unlike short
range it finds the small faces of group pictures, and it ignores the dogs that
short range takes for faces at score 0.51.

refine=True gets both: the `model_selection` model finds the faces (at score
FIND_SCORE), then the short-range model, run on a square crop of twice each
found box, confirms the face (at `min_score`) and redraws its box. A found face
that short range does not confirm is dropped: on 300-W every real face was
confirmed, while full range's false hits on text and texture were not. If the
finder sees nothing, short range runs on the whole frame (a face too close for
full range). This is the pipeline's default detector ("mediapipe"). The models
ship inside the mediapipe wheel; nothing is downloaded.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from ..transform import CropTransform
from .base import BoxMap, FaceBox, iou

log = logging.getLogger(__name__)

# Detector box -> 68-point box, measured on the 2,014 300-W training faces with
#   nice -n 19 python -m facealign calibrate --model 0            -> "short"
#   nice -n 19 python -m facealign calibrate --model 1            -> "full"
#   nice -n 19 python -m facealign calibrate --model 1 --refine   -> "refined"
# (facealign/calibrate.py). The comments give what those runs printed.
BOX_MAPS: dict[str, BoxMap] = {
    # 2014/2014 found; median IoU raw 0.814, mapped 0.864; robust std dx .022 dy .042 log s .078/.072
    "short": BoxMap(dx=-0.0051, dy=+0.0551, sx=0.9412, sy=0.9234),
    # 1899/2014 found; median IoU raw 0.682, mapped 0.799; robust std dx .096 dy .036 log s .077/.070
    "full": BoxMap(dx=-0.0013, dy=+0.0967, sx=0.8854, sy=0.8675),
    # 2014/2014 found, scores p01 .80 p50 .92; median IoU raw 0.808, mapped 0.868;
    # robust std dx .022 dy .039 log s .075/.074
    "refined": BoxMap(dx=-0.0044, dy=+0.0494, sx=0.9327, sy=0.9131),
}

MODEL_NAMES = {0: "short range", 1: "full range"}
REFINE_SCALE = 2.0  # refinement crop side / longer side of the found box
REFINE_SIZE = 192  # refinement crop, pixels
CONFIRM_SCALE = 2.2  # confirmation crop side / longer side of the point box (about 2x the detector box)
CONFIRM_SIZE = 128  # confirmation crop, pixels (the short-range model's input size)
FIND_SCORE = 0.5  # the finder's threshold when refining
NMS_IOU = 0.5
WARM_SIZE = 64  # the blank picture a new graph runs on once (its calculators open then)


class MediaPipeDetector:
    """BlazeFace through MediaPipe's solution API.

    detect() takes a BGR uint8 frame (it converts to RGB for MediaPipe) and
    returns FaceBox objects in frame pixels, best score first. With refine=True
    the boxes and scores are short range's (BOX_MAPS["refined"]) whichever model
    found the face. Use it as a context manager or call close() when done.
    """

    def __init__(self, model_selection: int = 0, min_score: float = 0.5, refine: bool = False,
                 box_map: BoxMap | None = None):
        if model_selection not in MODEL_NAMES:
            raise ValueError(f"model_selection must be 0 (short range) or 1 (full range), got {model_selection!r}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.model_selection, self.min_score, self.refine = model_selection, float(min_score), bool(refine)
        self.box_map = box_map or BOX_MAPS["refined" if refine else ("short", "full")[model_selection]]
        find = min(FIND_SCORE, min_score) if refine else min_score
        self._fd = _face_detection(model_selection, find)
        self._short = self._fd if model_selection == 0 else None
        if refine:
            self._short = _face_detection(0, min_score)
        log.debug("%r", self)

    def detect(self, frame_bgr: np.ndarray) -> list[FaceBox]:
        """(H, W, 3) uint8 BGR -> faces in frame pixels, best score first."""
        if self._fd is None:
            raise RuntimeError("this MediaPipeDetector is closed")
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 BGR frame, got {frame_bgr.shape} {frame_bgr.dtype}")
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        if not self.refine:
            return _run(self._fd, rgb, self.min_score)
        faces = _run(self._fd, rgb, min(FIND_SCORE, self.min_score))
        if not faces and self.model_selection == 1:  # too close for full range?
            faces = _run(self._short, rgb, self.min_score)
        refined = [self._refine(rgb, f) for f in faces]
        return _nms([f for f in refined if f is not None])

    def confirm(self, frame_bgr: np.ndarray, point_box_xyxy) -> float | None:
        """Is there still a face at this 68-point box? The short-range model on a crop around it
        -> its score, or None when it sees no face there (at min_score). The pipeline calls this
        every video frame for each tracked face: much cheaper than detect()."""
        if self._fd is None:
            raise RuntimeError("this MediaPipeDetector is closed")
        if self._short is None:
            self._short = _face_detection(0, self.min_score)
        tf = CropTransform.from_box(point_box_xyxy, CONFIRM_SIZE, CONFIRM_SCALE)
        best = _central(_run(self._short, cv2.cvtColor(tf.warp(frame_bgr), cv2.COLOR_BGR2RGB), self.min_score),
                        CONFIRM_SIZE)
        return None if best is None else best.score

    def _refine(self, rgb: np.ndarray, face: FaceBox) -> FaceBox | None:
        """Short range on a crop around `face` -> its box there in frame pixels, or None
        when it sees no face near the crop's centre."""
        tf = CropTransform.from_box(face.box_xyxy, REFINE_SIZE, REFINE_SCALE)
        best = _central(_run(self._short, tf.warp(rgb), self.min_score), REFINE_SIZE)
        if best is None:
            return None
        corners = tf.to_frame(best.box_xyxy.reshape(2, 2)).reshape(4)
        kps = tf.to_frame(best.keypoints) if best.keypoints is not None else None
        return FaceBox(corners, best.score, kps)

    def close(self) -> None:
        for fd in {id(f): f for f in (self._fd, self._short) if f is not None}.values():  # _short may be _fd
            fd.close()
        self._fd = self._short = None

    def __enter__(self) -> "MediaPipeDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        return (f"MediaPipeDetector(model_selection={self.model_selection}, min_score={self.min_score}, "
                f"refine={self.refine})")


def _face_detection(model_selection: int, min_score: float):
    """A started MediaPipe FaceDetection graph. Its C++ start-up lines (TFLite, absl) are kept off
    stderr unless facealign.lognoise.verbose(): the graph is built and run once on a blank picture
    inside lognoise.native_start(), so that every calculator has opened (and logged) by its end."""
    from mediapipe.python.solutions import face_detection  # lazy: mediapipe is slow to import

    from ..lognoise import native_start

    with native_start():
        fd = face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=min_score)
        fd.process(np.zeros((WARM_SIZE, WARM_SIZE, 3), np.uint8))
    return fd


def _run(fd, rgb: np.ndarray, min_score: float) -> list[FaceBox]:
    """One MediaPipe FaceDetection on an RGB picture -> FaceBoxes in its pixels scoring at least
    `min_score` (MediaPipe returns some below its own min_detection_confidence), best first."""
    h, w = rgb.shape[:2]
    faces = [_to_facebox(d, w, h) for d in (fd.process(rgb).detections or [])]
    return sorted((f for f in faces if f is not None and f.score >= min_score), key=lambda f: -f.score)


def _central(faces: list[FaceBox], size: int) -> FaceBox | None:
    """The best-scoring face whose centre lies within a quarter side of a `size` crop's centre."""
    mid = (size - 1) / 2.0
    near = [f for f in faces if np.abs((f.box_xyxy[:2] + f.box_xyxy[2:]) / 2 - mid).max() < size / 4]
    return max(near, key=lambda f: f.score) if near else None


def _nms(faces: list[FaceBox]) -> list[FaceBox]:
    """Best score first; drop a face overlapping a better one by more than NMS_IOU."""
    keep: list[FaceBox] = []
    for f in sorted(faces, key=lambda f: -f.score):
        if not keep or iou([f.box_xyxy], [k.box_xyxy for k in keep]).max() <= NMS_IOU:
            keep.append(f)
    return keep


def _to_facebox(detection, width: int, height: int) -> FaceBox | None:
    """A MediaPipe Detection (relative coordinates) -> FaceBox in pixels; None if it has no area."""
    loc = detection.location_data
    rb = loc.relative_bounding_box
    box = np.array([rb.xmin * width, rb.ymin * height,
                    (rb.xmin + rb.width) * width, (rb.ymin + rb.height) * height], np.float32)
    if not (box[2] > box[0] and box[3] > box[1]):
        return None
    kps = np.array([[k.x * width, k.y * height] for k in loc.relative_keypoints], np.float32)
    return FaceBox(box, detection.score[0] if detection.score else 0.0, kps if len(kps) else None)
