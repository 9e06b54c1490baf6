"""Face detectors behind one small interface (see base.Detector), built by name.

    det = create_detector("mediapipe")        # BlazeFace full range, boxes refined by short range
    det = create_detector("mediapipe_short")  # BlazeFace short range only (webcam distance)
    det = create_detector("mediapipe_full")   # BlazeFace full range only
    faces = det.detect(frame_bgr)             # list[FaceBox], frame pixels
    point_box = det.box_map(faces[0].box_xyxy)  # the box stage 1 expects

Detector modules are imported only when built, so importing this is cheap.
"""
from __future__ import annotations

from .base import BoxMap, Confirms, Detector, FaceBox, iou

# name -> (module, class, default keyword arguments)
DETECTORS: dict[str, tuple[str, str, dict]] = {
    # min_score 0.65: 99 % of the 300-W faces score >= 0.80 once refined; false hits on text ~0.56
    "mediapipe": ("mediapipe", "MediaPipeDetector", {"model_selection": 1, "refine": True, "min_score": 0.65}),
    "mediapipe_short": ("mediapipe", "MediaPipeDetector", {"model_selection": 0}),
    "mediapipe_full": ("mediapipe", "MediaPipeDetector", {"model_selection": 1}),
}


def list_detectors() -> list[str]:
    return sorted(DETECTORS)


def create_detector(name: str, **kwargs) -> Detector:
    """Build a detector by name; keyword arguments (e.g. min_score) go to its constructor."""
    import importlib

    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose from {', '.join(list_detectors())}")
    module, cls, defaults = DETECTORS[name]
    mod = importlib.import_module(f"{__name__}.{module}")
    return getattr(mod, cls)(**{**defaults, **kwargs})


__all__ = ["BoxMap", "Confirms", "Detector", "FaceBox", "iou", "DETECTORS", "list_detectors", "create_detector"]
