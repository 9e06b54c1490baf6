"""A small packed sample of real 300-W test faces, for a machine the data cannot travel to.

A lent GPU machine gets the working tree only (64 MiB, the tracked tree is ~52 MB), so the 300-W
pictures stay here; `pack_sample` cuts n faces of the "common" test split into one file of a few
MB that can travel with it (tools/gpu_check.py --pack-data DIR, then --data DIR there):

    DIR/faces.npz   jpeg     (B,) uint8   every face's picture, JPEG-encoded, end to end
                    offsets  (n + 1,) int64  face i's bytes are jpeg[offsets[i]:offsets[i + 1]]
                    pts      (n, 68, 2) float32  its 68 points, pixel centres of its picture
                    source   (n,) str     the 300-W file each face was cut from

Each picture is the square around the face's point box, `CONTEXT` times its longer side (room for
both cascade stages' crops), at the original resolution up to MAX_SIDE px (scaled down beyond).
It is derived from 300-W: never commit it (the default folder, gpu_sample/, is git-ignored).
Reading needs numpy and OpenCV only: no torch, no MediaPipe, no 300-W.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DEFAULT_DIR = "gpu_sample"
FILE = "faces.npz"
CONTEXT = 2.0  # picture side / the point box's longer side
MAX_SIDE = 384  # px
QUALITY = 95  # JPEG


def pack_sample(out_dir, n: int = 32, root=None, split: str = "common") -> Path:
    """Write n faces of `split` (spread evenly over it) to out_dir/faces.npz; returns its path."""
    from ..transform import CropTransform, points_box
    from .dataset import load_split

    faces = load_split(split, root)
    picks = np.linspace(0, len(faces) - 1, min(n, len(faces))).round().astype(int)
    blobs, pts, sources = [], [], []
    for i in picks:
        p = faces[i].pts
        box = points_box(p)
        side = int(min(MAX_SIDE, round(CONTEXT * max(box[2] - box[0], box[3] - box[1]))))
        tf = CropTransform.from_box(box, side, CONTEXT)
        ok, jpg = cv2.imencode(".jpg", tf.warp(faces.image(i)), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            raise RuntimeError(f"could not encode face {i} ({faces[i].image_path})")
        blobs.append(jpg.reshape(-1))
        pts.append(tf.to_crop(p).astype(np.float32))
        sources.append(str(Path(faces[i].image_path).name))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    np.savez(out / FILE, jpeg=np.concatenate(blobs), offsets=offsets, pts=np.stack(pts), source=np.array(sources))
    return out / FILE


def read_sample(folder) -> tuple[list[np.ndarray], np.ndarray]:
    """folder/faces.npz -> (n BGR uint8 pictures (H, W, 3), their points (n, 68, 2) float32 in
    picture pixels). FileNotFoundError naming the way to make one."""
    path = Path(folder) / FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no packed sample; make one where the 300-W data is with "
                                f"`python tools/gpu_check.py --pack-data {folder}`")
    with np.load(path, allow_pickle=False) as z:
        jpeg, offsets, pts = z["jpeg"], z["offsets"], z["pts"].astype(np.float32)
    frames = [cv2.imdecode(jpeg[a:b], cv2.IMREAD_COLOR) for a, b in zip(offsets[:-1], offsets[1:])]
    if any(f is None for f in frames) or len(frames) != len(pts):
        raise ValueError(f"{path}: damaged sample ({len(frames)} pictures, {len(pts)} point sets)")
    return frames, pts
