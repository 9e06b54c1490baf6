"""Head pose from the 68 points: cv2.solvePnP against one generic 3D face.

The 3D face is the point scheme's (PointScheme.model; the 68-point one's is defined in
facealign/schemes.py: the mean 300-W training shape with anthropometric depths, a 90 mm
outer-eye-corner distance). Axes follow the camera's: x to the image's right, y down,
z away from the camera, so a frontal face has the identity rotation. A scheme without
a 3D model has no pose (NaN).

The camera is unknown, so its focal length is approximated by the frame width
in pixels (a field of view of about 53 degrees, typical of webcams and phones),
the principal point by the frame centre, and lens distortion is ignored. Angles
are good to a few degrees, enough for an overlay or a rough gaze gate.

Angles (degrees), as seen in the picture:
  yaw   > 0: the face turns toward the image's right (its nose points right);
  pitch > 0: the face tilts up (nose up);
  roll  > 0: the head tilts clockwise in the picture.
They compose as R = Rz(roll) @ Ry(-yaw) @ Rx(-pitch) (model -> camera).
"""
from __future__ import annotations

import cv2
import numpy as np

from .schemes import MULTIPIE_68, PointScheme

MODEL_3D = MULTIPIE_68.model  # (68, 3) millimetres, the 68-point scheme's



def camera_matrix(frame_size) -> np.ndarray:
    """3x3 intrinsics for a (width, height) frame: focal length = width, centre = frame centre."""
    w, h = (float(v) for v in frame_size)
    return np.array([[w, 0, (w - 1) / 2], [0, w, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)


def solve_pose(pts_frame: np.ndarray, frame_size,
               scheme: PointScheme = MULTIPIE_68) -> tuple[np.ndarray, np.ndarray] | None:
    """(K, 2) frame-pixel points -> (rvec (3,), tvec (3,) mm) of the scheme's 3D model in the camera,
    or None (also for a scheme without one).

    The iterative solver starts from a frontal face at the distance the eye spacing
    implies, which keeps it on the solution with the face toward the camera.
    """
    pts = np.asarray(pts_frame, dtype=np.float64).reshape(-1, 2)
    model = scheme.model
    if model is None or pts.shape[0] != len(model) or not np.isfinite(pts).all():
        return None
    eye_px = float(scheme.normaliser(pts))
    if eye_px < 1e-3:
        return None
    k = camera_matrix(frame_size)
    f, cx, cy = k[0, 0], k[0, 2], k[1, 2]
    tz = f * float(scheme.normaliser(model[:, :2])) / eye_px  # the eyes' distance in mm over pixels
    centre = scheme.centre_of(pts)
    tvec = np.array([(centre[0] - cx) * tz / f, (centre[1] - cy) * tz / f, tz])
    rvec = np.zeros(3)
    ok, rvec, tvec = cv2.solvePnP(model, pts, k, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or not np.isfinite(rvec).all():
        return None
    return rvec.reshape(3), tvec.reshape(3)


def euler_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """3x3 model -> camera rotation -> (yaw, pitch, roll) degrees (see the module docstring)."""
    theta_y = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    theta_x = np.arctan2(r[2, 1], r[2, 2])
    theta_z = np.arctan2(r[1, 0], r[0, 0])
    return float(-np.degrees(theta_y)), float(-np.degrees(theta_x)), float(np.degrees(theta_z))


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(yaw, pitch, roll) degrees -> 3x3 model -> camera rotation; inverse of euler_from_rotation."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def head_pose(pts_frame: np.ndarray, frame_size, scheme: PointScheme = MULTIPIE_68) -> tuple[float, float, float]:
    """(K, 2) frame-pixel points of a (width, height) frame -> (yaw, pitch, roll) degrees.

    NaNs when the points are degenerate, the solver fails or the scheme has no 3D model.
    """
    sol = solve_pose(pts_frame, frame_size, scheme)
    if sol is None:
        return (float("nan"),) * 3
    return euler_from_rotation(cv2.Rodrigues(sol[0])[0])


def project(rvec: np.ndarray, tvec: np.ndarray, frame_size, points_3d: np.ndarray = MODEL_3D) -> np.ndarray:
    """(K, 3) model millimetres -> (K, 2) float32 frame pixels under a pose."""
    out, _ = cv2.projectPoints(np.asarray(points_3d, np.float64), np.asarray(rvec, np.float64),
                               np.asarray(tvec, np.float64), camera_matrix(frame_size), None)
    return out.reshape(-1, 2).astype(np.float32)
