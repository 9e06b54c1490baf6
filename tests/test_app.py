"""The web page through its real server and gradio_client: real pictures and videos, no mocks.

The server is the page itself (facealign.app.page.build_app) launched on a free local port;
nothing here touches the network (telemetry is switched off before anything starts).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEDIA = Path(__file__).resolve().parents[1].parent / "shared/data/media"
UPLOAD_LIMIT = "5mb"

pytestmark = pytest.mark.skipif(not MEDIA.is_dir(), reason=f"test media not found at {MEDIA}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from facealign.app.page import build_app, launch
    from facealign.app.load_test import free_port

    app = build_app(work_dir=tmp_path_factory.mktemp("app"), concurrency=2)
    port = free_port()
    launch(app, port=port, block=False, quiet=True, max_file_size=UPLOAD_LIMIT)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("downloads")))


def picture(client, path, **settings):
    """-> dict of the /picture endpoint's outputs."""
    from gradio_client import handle_file

    image, n, table, json_path, csv_path, message = client.predict(
        handle_file(str(path)), api_name="/picture", **settings)
    return {"image": image, "n": n, "table": table, "json": json_path, "csv": csv_path, "message": message}


def check_points_inside(result, width, height):
    data = json.loads(Path(result["json"]).read_text())
    assert (data["width"], data["height"]) == (width, height)
    assert len(data["faces"]) == result["n"]
    for face in data["faces"]:
        pts = np.array(face["points"], dtype=np.float32)
        assert pts.shape == (68, 2)
        assert np.all(pts >= -1) and np.all(pts[:, 0] <= width + 1) and np.all(pts[:, 1] <= height + 1)
    return data


def test_single_face(client):
    src = MEDIA / "single_face.jpg"
    r = picture(client, src)
    assert r["n"] == 1, r["message"]
    frame = cv2.imread(str(src))
    h, w = frame.shape[:2]
    data = check_points_inside(r, w, h)
    face = data["faces"][0]
    assert 0.0 < face["score"] <= 1.0
    assert set(face["pose"]) == {"yaw", "pitch", "roll"}
    out = cv2.imread(r["image"])  # PNG: exact pixels
    assert out.shape == frame.shape
    assert np.abs(out.astype(int) - frame.astype(int)).max() > 100  # landmarks were drawn
    assert len(r["table"]["data"]) == 1 and r["table"]["headers"][:4] == ["face", "score", "points mean", "points min"]
    row, scores = r["table"]["data"][0], face["point_scores"]  # the face's point confidences: mean, minimum
    assert len(scores) == 68 and row[2] == round(float(np.mean(scores)), 3) and row[3] == round(min(scores), 3)
    assert 0 <= row[3] < row[2] <= 1
    rows = Path(r["csv"]).read_text().splitlines()
    assert rows[0] == "face,point,x,y" and len(rows) == 1 + 68


def test_multi_face_gives_every_face(client):
    r = picture(client, MEDIA / "multi_face.jpg")
    assert r["n"] == 5, r["message"]
    h, w = cv2.imread(str(MEDIA / "multi_face.jpg")).shape[:2]
    data = check_points_inside(r, w, h)
    assert data["schema"] == "facealign/landmarks-2" and data["left_out"] == 0
    assert set(data) == {"schema", "source", "width", "height", "faces", "left_out"}
    capped = picture(client, MEDIA / "multi_face.jpg", max_faces=2)
    assert capped["n"] == 2 and "3 more face(s) were left out" in capped["message"]
    assert "Maximum faces to 0" in capped["message"]


def test_exif_rotated_photo_gives_the_points_of_predict_and_the_api(client, tmp_path, aligner):
    from facealign.image import read_image

    from test_predict import predict, rotated_with_exif

    photo = tmp_path / "phone.jpg"
    rotated_with_exif(MEDIA / "single_face.jpg", photo)
    page = json.loads(Path(picture(client, photo)["json"]).read_text())
    proc = predict(photo, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cli = json.loads((tmp_path / "out" / "phone.json").read_text())
    api = aligner(read_image(photo))
    assert len(page["faces"]) == len(cli["faces"]) == len(api) == 1
    assert (page["width"], page["height"]) == (cli["width"], cli["height"])
    assert page["faces"][0].keys() == cli["faces"][0].keys()
    np.testing.assert_allclose(page["faces"][0]["points"], cli["faces"][0]["points"], atol=0.01)
    np.testing.assert_allclose(page["faces"][0]["points"], api[0].points, atol=0.01)


def test_no_face_gives_a_message(client):
    r = picture(client, MEDIA / "dogs.jpg")
    assert r["n"] == 0
    assert "no face" in r["message"].lower()
    assert r["image"] is not None  # the picture still comes back
    assert json.loads(Path(r["json"]).read_text())["faces"] == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # huge.png is meant to be one
def test_bad_uploads_get_a_message_and_the_page_keeps_working(client, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a picture\n")
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 broken jpeg" + bytes(100))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.png"  # 108 megapixels of black: a small file, too large to decode
    cv2.imwrite(str(huge), np.zeros((9000, 12000), np.uint8))
    for bad in (text, fake, empty, huge):
        r = picture(client, bad)
        assert r["image"] is None and r["n"] == 0
        assert bad.name in r["message"], r["message"]
        assert "Traceback" not in r["message"] and "/tmp/" not in r["message"]
    assert picture(client, MEDIA / "single_face.jpg")["n"] == 1


def test_unusual_pictures_are_converted(client, tmp_path):
    alpha = picture(client, MEDIA / "Image_with_alpha.png")  # RGBA
    assert alpha["image"] is not None and "transparency" in alpha["message"].lower()
    grey = picture(client, MEDIA / "BWPictureHuman.jpg")  # grey, 2560 px wide
    assert grey["image"] is not None
    assert "grey" in grey["message"].lower() and "downscaled" in grey["message"]
    assert max(cv2.imread(grey["image"]).shape[:2]) <= 1920
    check_points_inside(grey, 2560, 1912)  # points come back in the original's pixels
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), cv2.imread(str(MEDIA / "single_face.jpg")).astype(np.uint16) * 257)
    r16 = picture(client, deep)
    assert r16["n"] == 1 and "uint16" in r16["message"].lower()


def test_settings_reach_the_pipeline(client):
    plain = picture(client, MEDIA / "single_face.jpg", points=False, contours=False)
    src = cv2.imread(str(MEDIA / "single_face.jpg"))
    assert plain["n"] == 1
    assert np.array_equal(cv2.imread(plain["image"]), src)  # nothing drawn
    fast = picture(client, MEDIA / "single_face.jpg", preset="fast")
    assert fast["n"] == 1


def test_upload_over_the_size_limit_is_refused(client, server, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    with pytest.raises(Exception, match="413|too large|size"):
        picture(client, big)
    assert picture(client, MEDIA / "single_face.jpg")["n"] == 1


def test_video(client):
    from gradio_client import handle_file

    video, points, message = client.predict(handle_file(str(MEDIA / "single_face.mp4")), api_name="/video")
    path = video["video"] if isinstance(video, dict) else video
    data = json.loads(Path(points).read_text())
    assert set(data) == {"schema", "source", "width", "height", "fps", "frames"}  # predict's schema
    assert [f["index"] for f in data["frames"]] == list(range(72))
    assert len(data["frames"]) == 72, message
    assert sum(bool(f["faces"]) for f in data["frames"]) >= 60
    assert ffprobe_codec(path) == "h264"
    from facealign.video import read_frames

    frames, _ = read_frames(path)
    assert len(frames) == 72 and frames[0].shape == (360, 640, 3)


def test_bad_videos_get_a_message(client, tmp_path):
    import imageio_ffmpeg
    from gradio_client import handle_file

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    sound_only = tmp_path / "sound_only.mp4"  # a valid MP4 without a single video frame
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "anullsrc=r=8000:cl=mono", "-t", "1", "-c:a", "aac", str(sound_only)], check=True)
    cut = tmp_path / "cut.mp4"  # the first 4 kB of a real video: header only, frames missing
    cut.write_bytes((MEDIA / "single_face.mp4").read_bytes()[:4096])
    for bad in (junk, sound_only, cut):
        video, points, message = client.predict(handle_file(str(bad)), api_name="/video")
        assert video is None and points is None, message
        assert bad.name in message and "/tmp/" not in message, message
    assert picture(client, MEDIA / "single_face.jpg")["n"] == 1  # the page still works


def ffprobe_codec(path) -> str:
    """The first video stream's codec name, read from `ffmpeg -i` (imageio-ffmpeg ships no ffprobe)."""
    import imageio_ffmpeg

    err = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True).stderr
    line = next(ln for ln in err.splitlines() if "Video:" in ln)
    return line.split("Video:")[1].split()[0].strip(",")


def test_page_shows_nothing_before_a_result_and_a_readable_detector_hint(tmp_path):
    from facealign.app.page import DETECTOR_HINT, NOTHING_YET, build_app

    app = build_app(work_dir=tmp_path / "work")
    props = {c["props"].get("elem_id"): c for c in app.config["components"] if c["props"].get("elem_id")}
    count = props["picture-count"]["props"]
    assert count.get("value") is None and count["placeholder"] == NOTHING_YET  # not "Faces found 0"
    hint = props["detector-hint"]
    assert hint["type"] == "markdown" and hint["props"]["value"] == DETECTOR_HINT
    detector = next(c for c in app.config["components"] if c["props"].get("label") == "Face detector")
    assert not detector["props"].get("info")  # the small grey text under the menu is gone


def test_serve_removes_its_work_folder_when_stopped(tmp_path):
    """The real `facealign serve` process: after a picture request it holds results in its work
    folder under $TMPDIR; SIGTERM stops it and the folder (with Gradio's copies) is gone."""
    import signal
    import sys
    import time

    from gradio_client import Client, handle_file

    from facealign.app.load_test import free_port

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("GRADIO_TEMP_DIR", None)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "facealign", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        for line in proc.stdout:
            if "facealign page on" in line or time.time() > deadline:
                break
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False,
                        download_files=str(tmp_path / "downloads"))
        _, n, *_ = client.predict(handle_file(str(MEDIA / "single_face.jpg")), api_name="/picture")
        assert n == 1
        work = list(tmp.glob("facealign-app-*"))
        assert len(work) == 1 and sum(f.stat().st_size for f in work[0].rglob("*") if f.is_file()) > 10_000
        assert any((work[0] / "gradio").rglob("*.jpg"))  # Gradio's copy of the upload is in there too
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, rest
    assert not list(tmp.glob("facealign-app-*")) and not (tmp / "gradio").exists(), list(tmp.rglob("*"))[:5]
