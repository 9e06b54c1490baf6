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


MAX_PIXELS = 100_000_000  # larger pictures are refused before decoding (memory)
EXIF_ORIENTATION = 274  # the EXIF tag: how the stored pixels are turned relative to upright


def read_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a picture file -> (H, W, 3) uint8 BGR, upright. Grey, alpha and 16-bit files are
    converted; an EXIF orientation tag (phone photos stored sideways) is applied, as browsers
    and photo viewers do, so every front end sees the same pixels."""
    return load_image(path, max_pixels)[0]


def load_image(path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """read_image() and a note per conversion done ("grey picture converted to colour", ...)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    size, orientation = image_header(path)
    _check_size(size, max_pixels, str(path))  # before reading the pixels
    return _decode(np.fromfile(str(path), dtype=np.uint8), orientation, str(path))


def decode_image(data: bytes, name: str = "picture", max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """A picture file's bytes (an upload, a request body) -> as load_image(); `name` labels the errors."""
    import io

    size, orientation = image_header(io.BytesIO(data))
    _check_size(size, max_pixels, name)
    return _decode(np.frombuffer(data, dtype=np.uint8), orientation, name)


def _check_size(size, max_pixels: int, name: str) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f"{name}: the picture is too large to process ({size[0]}x{size[1]}; "
                         f"the limit is {max_pixels // 10**6} megapixels)")


def _decode(data: np.ndarray, orientation: int, name: str) -> tuple[np.ndarray, list[str]]:
    """Encoded bytes (uint8 array) -> (H, W, 3) uint8 BGR, upright, and the conversion notes."""
    if data.size == 0:
        raise ImageError(f"{name}: the file is empty")
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # keeps 16 bits and alpha; ignores EXIF
    if raw is None:
        raise ImageError(f"{name}: not a picture OpenCV can decode (is it a JPEG/PNG/BMP/TIFF/WebP file?)")
    notes = []
    if raw.dtype != np.uint8:
        notes.append(f"{raw.dtype} picture converted to 8 bits")
    if raw.ndim == 2 or raw.shape[2] == 1:
        notes.append("grey picture converted to colour")
    elif raw.shape[2] == 4:
        notes.append("transparency flattened on black")
    if orientation != 1:
        notes.append(f"turned upright (EXIF orientation {orientation})")
    return np.ascontiguousarray(apply_orientation(to_bgr(raw), orientation)), notes


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright by an EXIF orientation value (1-8; others are left as they are)."""
    ops = {
        2: lambda im: im[:, ::-1],  # mirrored
        3: lambda im: im[::-1, ::-1],  # upside down
        4: lambda im: im[::-1],  # mirrored upside down
        5: lambda im: im.swapaxes(0, 1),  # transposed
        6: lambda im: im.swapaxes(0, 1)[:, ::-1],  # stored turned 90 deg anticlockwise
        7: lambda im: im[::-1, ::-1].swapaxes(0, 1),  # transversed
        8: lambda im: im.swapaxes(0, 1)[::-1],  # stored turned 90 deg clockwise
    }
    op = ops.get(int(orientation))
    return image if op is None else op(image)


def image_header(path) -> tuple[tuple[int, int] | None, int]:
    """(width, height) and EXIF orientation from the header of a file (a path or a binary file
    object), without decoding the pixels;
    (None, 1) where Pillow cannot read the header (OpenCV may still decode the file)."""
    import warnings

    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib; without it, no size check or orientation
        return None, 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: the caller checks the size
            with Image.open(path) as im:
                return im.size, int(im.getexif().get(EXIF_ORIENTATION, 1))
    except Image.DecompressionBombError:
        return (2 ** 31, 2 ** 31), 1  # far beyond any limit
    except Exception:  # noqa: BLE001 - not a format Pillow knows, or not a picture at all
        return None, 1
