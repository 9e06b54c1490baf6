"""A dataset with another point count, end to end: declare it, train a tiny cascade on it, export it,
run the pipeline, draw and evaluate, all on its own 12 points (real 300-W faces, re-annotated)."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from facealign.data import Dataset, load_split, register_dataset, write_pts
from facealign.schemes import MULTIPIE_68, subset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "300w"
# eye corners, nose tip, nostrils, mouth corners, upper and lower lip, chin: 12 of the 68 points
KEEP = [36, 39, 42, 45, 30, 31, 35, 48, 54, 51, 57, 8]
TOY = subset(MULTIPIE_68, "toy12", KEEP)

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no 300-W data at {DATA}")


def _write_split(faces, folder: Path, count: int) -> None:
    """The first `count` faces' pictures with .pts files of the 12 kept points (a real dataset on disk)."""
    folder.mkdir(parents=True)
    for i in range(count):
        face = faces[i]
        picture = folder / f"{i:03d}{face.image_path.suffix}"
        shutil.copyfile(face.image_path, picture)
        write_pts(picture.with_suffix(".pts"), face.pts[KEEP])


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy12")
    _write_split(load_split("train", DATA), root / "train", 48)
    _write_split(load_split("common", DATA), root / "test", 6)
    register_dataset(Dataset("toy12", TOY, {"train": ("train",), "common": ("test",)}))
    return root


def test_a_twelve_point_scheme_trains_exports_runs_draws_and_evaluates(toy_root, tmp_path):
    from facealign import FaceAligner, draw_landmarks
    from facealign.cli import main as cli
    from facealign.evaluate import evaluate
    from facealign.formats.cascade_pt import load_cascade
    from facealign.image import read_image
    from facealign.training.config import load_config
    from facealign.training.engine import Trainer

    faces = load_split("common", toy_root, "toy12")
    assert faces.scheme is TOY and faces.points().shape == (6, 12, 2)

    cfg = load_config("raw_CNN_noAug_MSE", ["dataset=toy12", f"data={toy_root}", f"out={tmp_path}", "epochs=2",
                                            "model=resnet18", "width=0.25", "head=pip", "head_options.neighbours=3",
                                            "input_size=64", "batch_size=16", "workers=0", "augment=true"])
    result = Trainer(cfg).fit()
    assert result.epochs == 2 and np.isfinite(result.best_val_nme)
    best = tmp_path / "checkpoints" / cfg.name / "best.pt"
    casc = load_cascade(best)
    assert casc.scheme == TOY and casc.stages[0].num_points == 12  # the file says which points it predicts

    onnx = tmp_path / "toy12.onnx"
    assert cli(["export", str(best), "--format", "onnx", "-o", str(onnx)]) == 0

    with FaceAligner(weights=onnx) as aligner:
        assert aligner.scheme == TOY
        picture = read_image(faces[0].image_path)
        found = aligner(picture)
        assert found and found[0].points.shape == (12, 2) and found[0].scheme == TOY
        drawn = draw_landmarks(picture, found)
        assert (drawn != picture).any()
        result = evaluate(aligner.model, faces)
    assert result.final.n == 6 and np.isfinite(result.final.nme)


def test_weights_of_one_scheme_refuse_faces_of_another(toy_root):
    from facealign.backends import load_backend
    from facealign.evaluate import evaluate
    from facealign.weights import resolve

    model = load_backend(resolve(preset="fast", backend="onnxruntime"))
    assert model.scheme is MULTIPIE_68  # shipped weights from before schemes were stored: 68 points
    with pytest.raises(ValueError, match="predict the 'multipie68' points, the faces have 'toy12'"):
        evaluate(model, load_split("common", toy_root, "toy12"))
