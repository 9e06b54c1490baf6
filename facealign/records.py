"""The one JSON schema of every front end (predict, the web page, the webcam demo's --json).

    picture: {"schema", "source", "width", "height", "faces": [FACE, ...], "left_out"}
    video:   {"schema", "source", "width", "height", "fps", "frames": [FRAME, ...]}
    FRAME  = {"index", "faces": [FACE, ...], "left_out"}
    FACE   = {"face", "points", "score", "point_scores", "box_xyxy", "track_id", "pose"}   (Landmarks.to_dict + "face")

Coordinates are in the input's pixels (0-based pixel centres), whatever size a front end
processed the picture at. "left_out": faces found but not returned because of a max_faces cap.
"point_scores": the landmark network's confidence in each point, in [0, 1] (null when the weights'
last stage has no scores). Schema versions: 1 had no "point_scores"; 2 adds them.
"""
from __future__ import annotations

SCHEMA = "facealign/landmarks-2"


def face_record(face, index: int, scale: float = 1.0) -> dict:
    """One face: its index in the frame (best score first) and Landmarks.to_dict(scale)."""
    return {"face": index, **face.to_dict(scale)}


def frame_record(index: int, faces, left_out: int = 0, scale: float = 1.0) -> dict:
    """One video frame."""
    return {"index": index, "faces": [face_record(f, i, scale) for i, f in enumerate(faces)],
            "left_out": int(left_out)}


def picture_record(source: str, width: int, height: int, faces, left_out: int = 0,
                   scale: float = 1.0) -> dict:
    """One picture; width and height are the input's."""
    return {"schema": SCHEMA, "source": str(source), "width": int(width), "height": int(height),
            "faces": [face_record(f, i, scale) for i, f in enumerate(faces)], "left_out": int(left_out)}


def video_record(source: str, width: int, height: int, fps: float, frames: list[dict]) -> dict:
    """One video: frames are frame_record()s, in order."""
    return {"schema": SCHEMA, "source": str(source), "width": int(width), "height": int(height),
            "fps": round(float(fps), 3), "frames": frames}
