"""Landmark datasets on disk: a dataset declares its point scheme and its splits (folders of
picture + .pts pairs); any other folder of such pairs loads too.

300-W, as released: afw/, helen/{trainset,testset}/, lfpw/{trainset,testset}/, ibug/.
Splits: train = afw + helen/trainset + lfpw/trainset; common = helen/testset +
lfpw/testset; challenging = ibug; full = common + challenging. Another dataset is one
`register_dataset(Dataset(name, scheme, splits))` (its .pts files hold scheme.num_points points).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..image import ImageError, image_header, read_image
from ..schemes import MULTIPIE_68, PointScheme
from .pts import PtsError, read_pts

log = logging.getLogger(__name__)

DEFAULT_ROOT = "../shared/data/300w"
ENV_VAR = "FACEALIGN_DATA"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("afw", "helen/trainset", "lfpw/trainset"),
    "common": ("helen/testset", "lfpw/testset"),
    "challenging": ("ibug",),
    "full": ("helen/testset", "lfpw/testset", "ibug"),
}


@dataclass(frozen=True)
class Dataset:
    """A dataset's declaration: its name, the points its .pts files hold, and its splits
    (split name -> folders below the data root, each of picture + .pts pairs)."""

    name: str
    scheme: PointScheme
    splits: dict[str, tuple[str, ...]]


DATASETS: dict[str, Dataset] = {"300w": Dataset("300w", MULTIPIE_68, SPLITS)}


def register_dataset(dataset: Dataset) -> Dataset:
    """Make `dataset` loadable by name (load_split(..., dataset=name), the training config's `dataset`)."""
    DATASETS[dataset.name] = dataset
    return dataset


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


class MissingDataError(FileNotFoundError):
    """A split or folder with no faces in it."""


@dataclass(frozen=True)
class Face:
    image_path: Path
    pts: np.ndarray  # (K, 2) float32, 0-based pixel centres of the picture (K: the set's scheme)
    subset: str


@dataclass
class FaceSet:
    faces: list[Face]
    counts: dict[str, int] = field(default_factory=dict)  # subset folder -> faces found
    scheme: PointScheme = MULTIPIE_68  # the points every face has
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, i: int) -> Face:
        return self.faces[i]

    def image(self, i: int, cache: bool = False) -> np.ndarray:
        """BGR uint8 picture of face i (kept in memory when cache=True)."""
        if i in self._cache:
            return self._cache[i]
        img = read_image(self.faces[i].image_path)
        if cache:
            self._cache[i] = img
        return img

    def points(self) -> np.ndarray:
        k = self.scheme.num_points
        return np.stack([f.pts for f in self.faces]) if self.faces else np.zeros((0, k, 2), np.float32)

    def subset(self, indices) -> "FaceSet":
        return FaceSet([self.faces[i] for i in indices], dict(self.counts), self.scheme)


def data_root(path=None) -> Path:
    """--data DIR, else $FACEALIGN_DATA, else ../shared/data/300w."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_ROOT).expanduser()


def _pairs(folder: Path, recursive: bool) -> list[tuple[Path, Path]]:
    found = []
    pattern = "**/*.pts" if recursive else "*.pts"
    for pts in sorted(folder.glob(pattern)):
        for suffix in IMAGE_SUFFIXES:
            for cand in (pts.with_suffix(suffix), pts.with_suffix(suffix.upper())):
                if cand.is_file():
                    found.append((cand, pts))
                    break
            else:
                continue
            break
        else:
            log.warning("%s has no picture beside it; skipped", pts)
    return found


def load_folder(folder, recursive: bool = True, subset: str | None = None,
                skipped: list[tuple[str, str]] | None = None, scheme: PointScheme = MULTIPIE_68) -> FaceSet:
    """Every picture + .pts pair below `folder` (each .pts of scheme.num_points points). A malformed
    .pts file raises PtsError, unless a `skipped` list is given: then each malformed pair (bad .pts,
    or a picture that cannot be read) is left out and appended to it as (path, reason), and the
    others are loaded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(f"{folder}: no such folder")
    faces = []
    for img, pts in _pairs(folder, recursive):
        if skipped is None:
            faces.append(Face(img, read_pts(pts, scheme.num_points), subset or folder.name))
            continue
        try:
            faces.append(Face(img, read_pts(pts, scheme.num_points), subset or folder.name))
            _check_picture(img)
        except (PtsError, ImageError) as e:
            faces = faces[:-1] if faces and faces[-1].image_path == img else faces
            skipped.append((str(pts if isinstance(e, PtsError) else img), str(e)))
            log.warning("skipped %s", e)
    if not faces:
        raise MissingDataError(f"{folder}: no picture + .pts pairs found" +
                               (f" ({len(skipped)} malformed, skipped)" if skipped else ""))
    return FaceSet(faces, {subset or folder.name: len(faces)}, scheme)


def _check_picture(path: Path) -> None:
    """Raise ImageError for a picture that cannot be read (its header, else a full decode)."""
    size, _ = image_header(path)
    if size is None:
        read_image(path)


def load_split(name: str, root=None, dataset: str = "300w") -> FaceSet:
    """Faces of one of a dataset's splits. Missing parts are logged with their counts;
    a split with no faces at all raises MissingDataError saying what was looked for."""
    ds = get_dataset(dataset)
    if name not in ds.splits:
        raise ValueError(f"unknown split {name!r} of {dataset}; choose from {sorted(ds.splits)}")
    root = data_root(root)
    faces, counts = [], {}
    for part in ds.splits[name]:
        folder = root / part
        found = _pairs(folder, recursive=False) if folder.is_dir() else []
        counts[part] = len(found)
        faces += [Face(img, read_pts(pts, ds.scheme.num_points), part) for img, pts in found]
    missing = [p for p, n in counts.items() if n == 0]
    if not faces:
        raise MissingDataError(
            f"split {name!r} has no faces under {root} (looked in {', '.join(ds.splits[name])}: "
            f"0 faces each). Point --data or ${ENV_VAR} at a 300-W download.")
    if missing:
        log.warning("split %r: %s absent under %s (counts: %s)", name, ", ".join(missing), root, counts)
    return FaceSet(faces, counts, ds.scheme)


def train_val_split(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed, seeded hold-out of `train` for choosing checkpoints -> (train_idx, val_idx)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
