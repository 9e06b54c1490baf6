"""Head pose from the 68 points: cv2.solvePnP against one generic 3D face.

The 3D face (MODEL_3D, millimetres) is defined here and nowhere else. Its x and y
are the mean 300-W training shape (similarity-aligned, mirrored and averaged so it
is symmetric, scaled to a 90 mm outer-eye-corner distance, nose tip at x=y=0);
its depths are rounded anthropometric estimates (nose tip 32 mm ahead of the
outer eye corners, the jaw's ends 50 mm behind them). Axes follow the camera's:
x to the image's right, y down, z away from the camera, so a frontal face has
the identity rotation.

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

from .topology import interocular

# (68, 3) generic face, millimetres, in the 68-point order (see the module docstring).
MODEL_3D = np.array([
    # jaw 0-16
    (-74.2, -34.8, 50.0), (-73.6, -15.3, 45.0), (-71.4, 4.1, 38.0), (-67.3, 23.1, 30.0),
    (-59.7, 40.8, 20.0), (-48.0, 56.2, 9.0), (-33.8, 69.1, -1.0), (-18.0, 79.5, -9.0),
    (0.0, 82.4, -13.0), (18.0, 79.5, -9.0), (33.8, 69.1, -1.0), (48.0, 56.2, 9.0),
    (59.7, 40.8, 20.0), (67.3, 23.1, 30.0), (71.4, 4.1, 38.0), (73.6, -15.3, 45.0),
    (74.2, -34.8, 50.0),
    # brows 17-26
    (-59.8, -50.3, 0.0), (-50.6, -58.3, -8.0), (-38.0, -60.6, -13.0), (-24.8, -58.8, -16.0),
    (-12.3, -54.0, -17.0), (12.3, -54.0, -17.0), (24.8, -58.8, -16.0), (38.0, -60.6, -13.0),
    (50.6, -58.3, -8.0), (59.8, -50.3, 0.0),
    # nose 27-35
    (0.0, -38.3, -12.0), (0.0, -25.6, -17.0), (0.0, -13.0, -24.0), (0.0, 0.0, -32.0),
    (-14.9, 8.6, -14.0), (-7.7, 11.3, -19.0), (0.0, 13.6, -22.0), (7.7, 11.3, -19.0),
    (14.9, 8.6, -14.0),
    # eyes 36-47
    (-45.0, -36.4, 0.0), (-37.1, -41.1, -6.0), (-27.5, -41.0, -8.0), (-19.4, -34.7, -8.0),
    (-28.2, -32.9, -7.0), (-37.7, -33.0, -4.0), (19.4, -34.7, -8.0), (27.5, -41.0, -8.0),
    (37.1, -41.1, -6.0), (45.0, -36.4, 0.0), (37.7, -33.0, -4.0), (28.2, -32.9, -7.0),
    # lips 48-67
    (-28.5, 32.7, -4.0), (-18.1, 28.2, -12.0), (-7.4, 26.0, -17.0), (0.0, 27.8, -19.0),
    (7.4, 26.0, -17.0), (18.1, 28.2, -12.0), (28.5, 32.7, -4.0), (18.4, 42.9, -12.0),
    (8.0, 47.3, -16.0), (0.0, 48.1, -17.0), (-8.0, 47.3, -16.0), (-18.4, 42.9, -12.0),
    (-24.1, 33.3, -6.0), (-7.5, 32.4, -15.0), (0.0, 33.1, -17.0), (7.5, 32.4, -15.0),
    (24.1, 33.3, -6.0), (7.6, 37.7, -14.0), (0.0, 38.5, -16.0), (-7.6, 37.7, -14.0),
], dtype=np.float64)

EYE_DISTANCE_MM = 90.0  # outer-eye-corner distance of MODEL_3D


def camera_matrix(frame_size) -> np.ndarray:
    """3x3 intrinsics for a (width, height) frame: focal length = width, centre = frame centre."""
    w, h = (float(v) for v in frame_size)
    return np.array([[w, 0, (w - 1) / 2], [0, w, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)


def solve_pose(pts_frame: np.ndarray, frame_size) -> tuple[np.ndarray, np.ndarray] | None:
    """(68, 2) frame-pixel points -> (rvec (3,), tvec (3,) mm) of MODEL_3D in the camera, or None.

    The iterative solver starts from a frontal face at the distance the eye spacing
    implies, which keeps it on the solution with the face toward the camera.
    """
    pts = np.asarray(pts_frame, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] != len(MODEL_3D) or not np.isfinite(pts).all():
        return None
    eye_px = float(interocular(pts))
    if eye_px < 1e-3:
        return None
    k = camera_matrix(frame_size)
    f, cx, cy = k[0, 0], k[0, 2], k[1, 2]
    tz = f * EYE_DISTANCE_MM / eye_px
    tvec = np.array([(pts[30, 0] - cx) * tz / f, (pts[30, 1] - cy) * tz / f, tz])
    rvec = np.zeros(3)
    ok, rvec, tvec = cv2.solvePnP(MODEL_3D, pts, k, None, rvec, tvec, useExtrinsicGuess=True,
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


def head_pose(pts_frame: np.ndarray, frame_size) -> tuple[float, float, float]:
    """(68, 2) frame-pixel points of a (width, height) frame -> (yaw, pitch, roll) degrees.

    NaNs when the points are degenerate or the solver fails.
    """
    sol = solve_pose(pts_frame, frame_size)
    if sol is None:
        return (float("nan"),) * 3
    return euler_from_rotation(cv2.Rodrigues(sol[0])[0])


def project(rvec: np.ndarray, tvec: np.ndarray, frame_size, points_3d: np.ndarray = MODEL_3D) -> np.ndarray:
    """(K, 3) model millimetres -> (K, 2) float32 frame pixels under a pose."""
    out, _ = cv2.projectPoints(np.asarray(points_3d, np.float64), np.asarray(rvec, np.float64),
                               np.asarray(tvec, np.float64), camera_matrix(frame_size), None)
    return out.reshape(-1, 2).astype(np.float32)
