"""The web page in a real browser: Debian's chromium driven by Playwright, against the real server.

Install the browser with tests/setup_browser.sh (the CI script runs it); without
/usr/bin/chromium these tests skip. Nothing here touches the network: the page is
served from 127.0.0.1 and chromium's background networking is switched off.
"""
from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

MEDIA = Path(__file__).resolve().parents[1].parent / "shared/data/media"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 120_000  # generous: the first request loads the model, and a training job may share the CPU

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run tests/setup_browser.sh first"),
    pytest.mark.skipif(not MEDIA.is_dir(), reason=f"test media not found at {MEDIA}"),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from facealign.app.page import build_app, launch
    from facealign.app.load_test import free_port

    app = build_app(work_dir=tmp_path_factory.mktemp("app"))
    port = free_port()
    launch(app, port=port, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def playwright():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


def open_page(playwright, url, extra_args=(), **context):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS + list(extra_args))
    page = browser.new_context(viewport={"width": 1280, "height": 1400}, **context).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="load")
    page.wait_for_selector("#picture-in")
    return browser, page


def fetch_image(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=30) as r:  # the local server only
        return cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)


def test_picture_upload_in_the_browser(playwright, url, tmp_path):
    browser, page = open_page(playwright, url)
    try:
        page.locator("#picture-in input[type=file]").set_input_files(str(MEDIA / "single_face.jpg"))
        page.wait_for_selector("#picture-out img[src]")  # the result is in
        page.wait_for_function("() => document.querySelector('#picture-count input').value === '1'",
                               timeout=5_000)  # the count arrives with the picture; allow for rendering
        src = page.locator("#picture-out img").first.get_attribute("src")
        assert src and src.startswith(url)
        shown = fetch_image(src)
        original = cv2.imread(str(MEDIA / "single_face.jpg"))
        assert shown.shape == original.shape
        assert np.abs(shown.astype(int) - original.astype(int)).max() > 100  # the landmarks are drawn
        page.screenshot(path=str(tmp_path / "picture_tab.png"), full_page=True)
        assert (tmp_path / "picture_tab.png").stat().st_size > 10_000
    finally:
        browser.close()


def test_video_plays_in_the_browser(playwright, url):
    browser, page = open_page(playwright, url)
    try:
        page.get_by_role("tab", name="Video").click()
        page.locator("#video-in input[type=file]").set_input_files(str(MEDIA / "single_face.mp4"))
        page.wait_for_selector("#video-in video[src]")
        page.locator("#video-run").click()
        page.wait_for_selector("#video-out video[src]")
        # the browser decodes our H.264 MP4: metadata loaded, right size and length
        page.wait_for_function("() => document.querySelector('#video-out video').readyState >= 1")
        width, duration = page.evaluate(
            "() => { const v = document.querySelector('#video-out video'); return [v.videoWidth, v.duration]; }")
        assert width == 640 and abs(duration - 72 / 30) < 0.1
        assert page.locator("#video-message textarea").input_value().startswith("72 frames")
    finally:
        browser.close()


def test_webcam_frames_round_trip(playwright, url, tmp_path):
    # Chromium's fake camera shows a synthetic test pattern, not a face: this checks that
    # frames go from the browser through the video-mode pipeline and back (the output
    # picture keeps changing), not that landmarks are found.
    browser, page = open_page(playwright, url, FAKE_CAMERA, permissions=["camera"])
    try:
        page.get_by_role("tab", name="Webcam").click()
        page.locator("#webcam-in").get_by_title("grant webcam access").click()
        page.locator("#webcam-in").get_by_role("button", name="capture photo").click()  # "Record": starts the stream
        out = page.locator("#webcam-out img").first
        out.wait_for(state="attached")
        seen = set()
        for _ in range(60):
            src = out.get_attribute("src")
            if src:
                seen.add(src)
            if len(seen) >= 3:
                break
            page.wait_for_timeout(500)
        assert len(seen) >= 3, f"the annotated webcam picture changed only {len(seen)} time(s)"
        frame = fetch_image(sorted(seen)[0])
        assert frame is not None and frame.ndim == 3
        status = page.locator("#webcam-status textarea").input_value()
        assert status.startswith("frame "), status
        page.screenshot(path=str(tmp_path / "webcam_tab.png"), full_page=True)
    finally:
        browser.close()
