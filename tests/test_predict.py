"""`facealign predict` on real pictures and videos, with bad inputs mixed in."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facealign.predict import collect_inputs
from facealign.video import VideoWriter, read_frames

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "data" / "media"


def predict(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facealign", "predict", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def check_faces(faces, width: int, height: int) -> None:
    for face in faces:
        pts = np.asarray(face["points"], dtype=np.float64)
        assert pts.shape == (68, 2)
        assert (pts[:, 0] >= 0).all() and (pts[:, 0] < width).all()
        assert (pts[:, 1] >= 0).all() and (pts[:, 1] < height).all()
        assert 0.0 <= face["score"] <= 1.0
        assert len(face["box_xyxy"]) == 4
        assert set(face["pose"]) == {"yaw", "pitch", "roll"}
        scores = np.asarray(face["point_scores"], dtype=np.float64)  # the shipped PIP heads score every point
        assert scores.shape == (68,) and (scores >= 0).all() and (scores <= 1).all() and scores.std() > 0


@pytest.fixture(scope="module", autouse=True)
def need_media():
    if not (MEDIA / "single_face.jpg").is_file():
        pytest.skip(f"{MEDIA} is missing")


def test_pictures_with_a_corrupt_and_a_non_image_file(tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes((MEDIA / "single_face.jpg").read_bytes()[:2000])  # a truncated JPEG
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    out = tmp_path / "out"
    proc = predict(MEDIA / "single_face.jpg", corrupt, notes, MEDIA / "multi_face.jpg", "--out", out)

    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"FAILED {corrupt}" in proc.stderr and f"FAILED {notes}" in proc.stderr
    assert "not a picture" in proc.stderr
    assert "2 of 4 inputs done, 2 failed" in proc.stdout
    assert "outputs in" in proc.stdout
    assert not (out / "corrupt.jpg").exists() and not (out / "notes.json").exists()
    for name, least in (("single_face", 1), ("multi_face", 5)):
        original = cv2.imread(str(MEDIA / f"{name}.jpg"))
        written = out / f"{name}.jpg"  # a JPEG comes back as a JPEG, not a PNG ten times its size
        assert written.read_bytes()[:3] == b"\xff\xd8\xff" and not (out / f"{name}.png").exists()
        assert written.stat().st_size < 2 * (MEDIA / f"{name}.jpg").stat().st_size
        annotated = cv2.imread(str(written))
        assert annotated is not None and annotated.shape == original.shape
        assert (np.abs(annotated.astype(int) - original).max(axis=2) > 60).sum() > 100, "nothing drawn"
        data = json.loads((out / f"{name}.json").read_text())
        h, w = original.shape[:2]
        assert (data["width"], data["height"]) == (w, h)
        assert len(data["faces"]) >= least
        check_faces(data["faces"], w, h)


def test_folder_recursive_with_a_video(tmp_path):
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(MEDIA / "single_face.jpg", folder / "sub" / "face.jpg")
    (folder / "README.txt").write_text("skipped in a folder\n")
    frames, _ = read_frames(MEDIA / "single_face.mp4", max_frames=12)
    with VideoWriter(folder / "clip.mp4", fps=30) as writer:
        for frame in frames:
            writer.write(frame)
    out = tmp_path / "out"
    proc = predict(folder, "--out", out, "--max-faces", "1")

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "inputs" / "sub" / "face.jpg").is_file()
    pic = json.loads((out / "inputs" / "sub" / "face.json").read_text())
    assert len(pic["faces"]) == 1
    video = json.loads((out / "inputs" / "clip.json").read_text())
    assert set(video) == {"schema", "source", "width", "height", "fps", "frames"}
    assert set(video["frames"][0]) == {"index", "faces", "left_out"}
    assert len(video["frames"]) == 12 and video["fps"] == pytest.approx(30.0)
    assert [f["index"] for f in video["frames"]] == list(range(12))
    assert sum(bool(f["faces"]) for f in video["frames"]) >= 10
    for f in video["frames"]:
        check_faces(f["faces"], video["width"], video["height"])
    assert len(read_frames(out / "inputs" / "clip.mp4")[0]) == 12


def test_unreadable_video_and_missing_path_are_reported(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 500)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    proc = predict(bad, empty, tmp_path / "nowhere.jpg", "--out", tmp_path / "out", timeout=300)
    assert proc.returncode == 1
    assert f"FAILED {bad}: not a video" in proc.stderr
    assert f"FAILED {empty}: the file is empty" in proc.stderr
    assert "nowhere.jpg: no such file or folder" in proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 of 2 inputs done, 3 failed; nothing written"  # no "outputs in"
    assert not (tmp_path / "out").exists()


def test_picture_suffixes():
    from facealign.predict import picture_suffix

    assert [picture_suffix(Path(n)) for n in ("a.JPG", "b.jpeg", "c.png", "d.webp", "e.pgm")] == \
        [".jpg", ".jpeg", ".png", ".webp", ".png"]


def test_collect_inputs_names_do_not_collide(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "a.mp4").write_bytes(b"x")
    jobs, missing = collect_inputs([tmp_path / "a.jpg", tmp_path / "a.mp4", tmp_path / "a.jpg"])
    assert not missing
    assert [str(name) for _, name in jobs] == ["a", "a_2", "a_3"]


def rotated_with_exif(src: Path, dst: Path) -> None:
    """A phone-style photo: the pixels stored turned 90 degrees, with EXIF orientation 6 (turn them back)."""
    from PIL import Image

    with Image.open(src) as im:
        stored = im.transpose(Image.Transpose.ROTATE_90)  # anticlockwise; orientation 6 undoes it
        exif = Image.Exif()
        exif[0x0112] = 6
        stored.save(dst, exif=exif, quality=95)


def test_every_face_upright_exif_and_readable_outputs(tmp_path, aligner):
    """multi_face.jpg: all 5 faces by default; a sideways-stored photo gives the points of the
    upright picture through predict and the Python API alike; outputs are readable by others."""
    from facealign.image import read_image

    photo = tmp_path / "phone.jpg"
    rotated_with_exif(MEDIA / "single_face.jpg", photo)
    out = tmp_path / "out"
    proc = predict(MEDIA / "multi_face.jpg", photo, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    multi = json.loads((out / "multi_face.json").read_text())
    assert len(multi["faces"]) == 5 and multi["left_out"] == 0
    assert multi["schema"] == "facealign/landmarks-2"
    check_faces(multi["faces"], multi["width"], multi["height"])
    assert [f["face"] for f in multi["faces"]] == list(range(5))

    upright = cv2.imread(str(MEDIA / "single_face.jpg"))
    via_cli = json.loads((out / "phone.json").read_text())
    assert (via_cli["width"], via_cli["height"]) == (upright.shape[1], upright.shape[0])
    api = aligner(read_image(photo))
    assert len(via_cli["faces"]) == len(api) == 1
    np.testing.assert_allclose(via_cli["faces"][0]["points"], api[0].points, atol=0.01)
    np.testing.assert_allclose(via_cli["faces"][0]["point_scores"], api[0].point_scores, atol=1e-4)  # rounded to 1e-4
    reference = aligner(upright)[0].points  # the same face in the upright original (JPEG re-encoded)
    assert np.median(np.linalg.norm(api[0].points - reference, axis=1)) < 0.02 * np.ptp(reference[:, 0])

    for f in out.iterdir():  # everything predict writes is readable by group and others
        assert f.stat().st_mode & 0o044 == 0o044, f"{f.name}: mode {oct(f.stat().st_mode)}"


def test_a_cap_says_what_it_left_out(tmp_path):
    out = tmp_path / "out"
    proc = predict(MEDIA / "multi_face.jpg", "--out", out, "--max-faces", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "multi_face.json").read_text())
    assert len(data["faces"]) == 2 and data["left_out"] == 3
    assert "3 more face(s) were left out" in proc.stdout and "--max-faces 0" in proc.stdout
