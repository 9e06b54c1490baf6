"""The README's Python example, run as written on a five-person photo: every face is drawn, and a
plain FaceAligner prints no third-party lines (TFLite, absl, OpenCV)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from facealign.image import read_image

REPO = Path(__file__).resolve().parents[1]


def readme_python() -> str:
    """The first ```python block of README.md (the "Use" example)."""
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)[0]


def test_readme_example_draws_every_face_and_prints_nothing(tmp_path, media):
    photo_path = media("multi_face.jpg")
    code = readme_python()
    assert '"photo.jpg"' in code and "draw_landmarks(photo, faces)" in code
    code = code.replace('"photo.jpg"', repr(str(photo_path)))
    code += "\nimport json, sys\njson.dump([f.box_xyxy.tolist() for f in faces], sys.stdout)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr  # no "Created TensorFlow Lite ...", no absl W0000 lines
    boxes = json.loads(proc.stdout)
    assert len(boxes) == 5
    photo = read_image(photo_path)
    drawn = cv2.imread(str(tmp_path / "annotated.jpg"))
    assert drawn.shape == photo.shape
    changed = np.abs(drawn.astype(np.int16) - photo).max(axis=2) > 80  # green points and lines
    for x0, y0, x1, y1 in boxes:
        inside = changed[int(y0):int(y1), int(x0):int(x1)]
        assert inside.mean() > 0.005, f"face at {x0:.0f},{y0:.0f} was not drawn"
