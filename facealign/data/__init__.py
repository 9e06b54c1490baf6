"""Dataset reading: .pts files, folders, the datasets (each with its point scheme and splits)."""
from .pts import read_pts, write_pts, PtsError
from .dataset import (DATASETS, Dataset, Face, FaceSet, get_dataset, load_split, load_folder, data_root,
                      register_dataset, SPLITS, train_val_split, read_image)

__all__ = ["read_pts", "write_pts", "PtsError", "Face", "FaceSet", "Dataset", "DATASETS", "get_dataset",
           "register_dataset", "load_split", "load_folder", "data_root", "SPLITS", "train_val_split", "read_image"]
