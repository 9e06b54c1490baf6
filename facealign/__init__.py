"""facealign: real-time 68-point face landmarks.

    from facealign import FaceAligner
    aligner = FaceAligner()                  # the shipped 'accurate' weights, MediaPipe detector
    faces = aligner(frame_bgr)               # list[Landmarks]: .points (68, 2) frame pixels
    annotated = draw_landmarks(frame_bgr, faces)   # every face (faces[i].plot(frame_bgr): one)

Importing this is cheap: the backend's runtime and mediapipe load when a FaceAligner is built,
and an ONNX cascade on onnxruntime (the CPU default) never imports PyTorch.
"""
from .detectors import FaceBox
from .draw import DrawingSpec, draw_landmarks
from .pipeline import FaceAligner
from .results import Landmarks
from .transform import CropTransform

__version__ = "0.1.0"
__all__ = ["FaceAligner", "Landmarks", "FaceBox", "DrawingSpec", "draw_landmarks", "CropTransform"]
