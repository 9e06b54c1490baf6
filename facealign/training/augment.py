"""Training augmentation: one random similarity crop plus photometric changes.

Geometry (rotation, scale, shift, flip, the detector-like box jitter) is folded
into the single 2x3 crop matrix, so a sample costs one warp. Photometric changes
(colour, blur, grey, occlusion) act on the crop. Every random draw comes from the
numpy Generator passed in, so a seeded epoch replays exactly.
"""
from __future__ import annotations

import cv2
import numpy as np

from facealign.schemes import PointScheme
from facealign.transform import CropTransform, points_box

from .config import AugmentConfig


def random_flip(image: np.ndarray, pts_frame: np.ndarray, aug: AugmentConfig, rng: np.random.Generator,
                scheme: PointScheme):
    """Mirror the picture and its points (the scheme's mirror partners swap places) with
    probability aug.flip -> (image, pts_frame)."""
    if aug.enabled and rng.random() < aug.flip:
        return image[:, ::-1], scheme.flip(pts_frame, image.shape[1])
    return image, pts_frame


def random_crop(pts_frame: np.ndarray, size: int, crop_scale: float, box_jitter: float, aug: AugmentConfig,
                rng: np.random.Generator) -> CropTransform:
    """A detector-like, randomly rotated, scaled and shifted square crop around the points' box."""
    box = points_box(pts_frame)
    side = float(max(box[2] - box[0], box[3] - box[1]))
    # detector-like box: the centre and the size of the box wander a little
    jit = rng.uniform(-box_jitter, box_jitter, size=3) if box_jitter > 0 else np.zeros(3)
    scale = crop_scale * (1 + jit[2])
    shift = jit[:2]
    angle = 0.0
    if aug.enabled:
        scale *= rng.uniform(1 - aug.scale, 1 + aug.scale)
        shift = shift + rng.uniform(-aug.shift, aug.shift, size=2)
        angle = rng.uniform(-aug.rotate, aug.rotate)
    cx = (box[0] + box[2]) / 2 + shift[0] * side
    cy = (box[1] + box[3]) / 2 + shift[1] * side
    return CropTransform.from_center(cx, cy, scale * side, size, angle)


def sample_crop(image: np.ndarray, pts_frame: np.ndarray, size: int, crop_scale: float, box_jitter: float,
                aug: AugmentConfig, rng: np.random.Generator, scheme: PointScheme):
    """-> (crop BGR uint8 (size, size, 3), pts_crop (K, 2), frame (maybe flipped), pts_frame, CropTransform)."""
    image, pts_frame = random_flip(image, pts_frame, aug, rng, scheme)
    tf = random_crop(pts_frame, size, crop_scale, box_jitter, aug, rng)
    crop = tf.warp(np.ascontiguousarray(image))
    if aug.enabled:
        crop = photometric(crop, aug, rng)
    return crop, tf.to_crop(pts_frame), image, pts_frame, tf


def photometric(crop: np.ndarray, aug: AugmentConfig, rng: np.random.Generator, face=None) -> np.ndarray:
    """Colour jitter, blur, grey and one occluding rectangle, each with its probability.
    face: (x0, y0, x1, y1) crop pixels the rectangle is sized by and placed in (default: all of it)."""
    img = crop
    if rng.random() < aug.color:
        f = img.astype(np.float32)
        contrast = rng.uniform(0.6, 1.4)
        brightness = rng.uniform(-40, 40)
        gains = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
        mean = f.mean()
        f = (f - mean) * contrast + mean + brightness
        img = np.clip(f * gains, 0, 255).astype(np.uint8)
    if rng.random() < aug.blur:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < aug.grey:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < aug.occlusion:
        fx0, fy0, fx1, fy1 = face if face is not None else (0, 0, img.shape[1], img.shape[0])
        w, h = fx1 - fx0, fy1 - fy0
        rw, rh = (rng.uniform(0.1, 0.4, size=2) * (w, h)).astype(int)
        x0, y0 = fx0 + int(rng.integers(0, w - rw)), fy0 + int(rng.integers(0, h - rh))
        img = img.copy()
        img[y0:y0 + rh, x0:x0 + rw] = rng.integers(0, 256, size=3, dtype=np.uint8)
    return img
