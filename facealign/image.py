"""Image input at the boundary: read any picture file, normalise any array to BGR uint8."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageError(ValueError):
    """An input that is not a usable picture; the message says what to do."""


def to_bgr(image: np.ndarray, assume: str = "bgr") -> np.ndarray:
    """Return an (H, W, 3) uint8 BGR copy-or-view of `image`.

    Accepts (H, W) grey, (H, W, 1), (H, W, 3) BGR (or RGB with assume="rgb"),
    (H, W, 4) with alpha (composited on black), uint8, uint16 (scaled by 1/257)
    or float in [0, 1].
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy image array, got {type(image).__name__}")
    if image.size == 0 or image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        raise ImageError(f"expected an image of shape (H, W) or (H, W, C) with H, W > 0, got {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected 1, 3 or 4 channels, got shape {image.shape}")
    img = _to_uint8(image)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
    if assume == "rgb":
        img = img[..., ::-1]
    return np.ascontiguousarray(img)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image.astype(np.uint32) // 257).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ImageError("image has NaN or infinite values")
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    raise ImageError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")


def read_image(path) -> np.ndarray:
    """Read a picture file -> (H, W, 3) uint8 BGR. Grey, alpha and 16-bit files are converted."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"{path}: the file is empty")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{path}: not a picture OpenCV can decode (is it a JPEG/PNG/BMP/TIFF/WebP file?)")
    return to_bgr(img)
