"""The landmark tools facealign is measured against, each wrapped once: dlib's HOG face detector +
68-point shape predictor (`facealign compare`, `facealign bench`) and MediaPipe FaceMesh (`bench`).

Each peer takes a BGR uint8 frame and has a `name` and `close()`; dlib needs the `dlib` extra
(pip install ".[dlib]" in the checkout: dlib-bin + face-recognition-models).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np


def dlib_model_path() -> Path:
    """shape_predictor_68_face_landmarks.dat of face-recognition-models, found without importing it
    (its __init__ needs pkg_resources, gone from recent setuptools). ImportError with the install
    hint where it is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        from .install import pip_hint

        raise ImportError(f"dlib's 68-point model is missing: {pip_hint('dlib')} "
                          "(dlib-bin and face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise ImportError(f"{path}: missing from face-recognition-models")
    return path


class DlibLandmarks:
    """dlib's HOG face detector + 68-point ERT shape predictor.

    __call__(frame_bgr) -> list of (68, 2) float32 frame points, one per face found. upsample: the
    detector's upsampling (1 finds smaller faces, 0 is faster); grey: run on the grey frame rather
    than RGB; max_faces: keep at most this many (None: every face).
    """

    name = "dlib_hog_68"

    def __init__(self, upsample: int = 1, grey: bool = False, max_faces: int | None = None):
        import dlib

        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))
        self.upsample, self.grey, self.max_faces = upsample, grey, max_faces

    def __call__(self, frame_bgr: np.ndarray) -> list[np.ndarray]:
        if self.grey:
            image = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        else:
            image = np.ascontiguousarray(frame_bgr[..., ::-1])
        rects = list(self.detector(image, self.upsample))[: self.max_faces]
        return [np.array([(p.x, p.y) for p in self.predictor(image, r).parts()], np.float32) for r in rects]

    def close(self) -> None:
        pass


class MediaPipeFaceMesh:
    """MediaPipe FaceMesh in video mode, one face, 468 points: __call__(frame_bgr) -> its landmarks."""

    name = "mediapipe_facemesh"

    def __init__(self):
        import mediapipe as mp

        from .lognoise import native_start

        with native_start():  # its C++ start-up lines (TFLite, absl) only with --verbose
            self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                         refine_landmarks=False)
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))

    def __call__(self, frame_bgr):
        return self._mesh.process(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks

    def close(self) -> None:
        self._mesh.close()
