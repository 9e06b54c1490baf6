"""300-W reading: .pts files, folders, the standard splits."""
from .pts import read_pts, write_pts, PtsError
from .dataset import Face, FaceSet, load_split, load_folder, data_root, SPLITS, train_val_split, read_image

__all__ = ["read_pts", "write_pts", "PtsError", "Face", "FaceSet", "load_split", "load_folder",
           "data_root", "SPLITS", "train_val_split", "read_image"]
