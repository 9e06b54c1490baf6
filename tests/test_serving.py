"""facealign.serving: what every front end shares: pictures in (files and bytes) and the aligner cache."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from facealign.image import ImageError
from facealign.serving import AlignerCache, AlignerKey, decode_upload, load_upload


def test_bytes_decode_as_the_file_does(media):
    for name in ("single_face.jpg", "Image_with_alpha.png"):
        path = media(name)
        from_file, notes = load_upload(path)
        from_bytes, notes_b = decode_upload(path.read_bytes(), name)
        assert from_bytes.dtype == np.uint8 and from_bytes.shape == from_file.shape and from_bytes.shape[2] == 3
        assert np.array_equal(from_bytes, from_file) and notes_b == notes
    assert "transparency flattened on black" in notes


def test_bytes_are_upright_by_their_exif_orientation(media, tmp_path):
    from test_predict import rotated_with_exif

    rotated_with_exif(media("single_face.jpg"), tmp_path / "sideways.jpg")
    frame, notes = decode_upload((tmp_path / "sideways.jpg").read_bytes(), "sideways.jpg")
    upright, _ = load_upload(media("single_face.jpg"))
    assert frame.shape == upright.shape and any("EXIF orientation" in n for n in notes)


def test_unusable_uploads_are_one_sentence():
    with pytest.raises(ImageError, match="^Upload or paste a picture first.$"):
        load_upload(None)
    with pytest.raises(ImageError, match="^Send a picture first.$"):
        decode_upload(None)
    with pytest.raises(ImageError, match="^body.jpg: the file is empty$"):
        decode_upload(b"", "body.jpg")
    with pytest.raises(ImageError, match="^notes.txt: not a picture OpenCV can decode"):
        decode_upload(b"just some text", "notes.txt")


def test_keys_are_values():
    assert AlignerKey() == AlignerKey("accurate", "auto", "mediapipe", False, None, False)
    assert len({AlignerKey(), AlignerKey(), AlignerKey(video=True)}) == 2


def test_the_cache_hands_each_request_its_own_aligner_and_keeps_at_most_keep():
    cache = AlignerCache(keep=1)
    key = AlignerKey(preset="fast", backend="onnxruntime")
    first, second = cache.take(key), cache.take(key)
    assert first is not second
    cache.give_back(key, first)
    cache.give_back(key, second)  # one over `keep`: closed, not kept
    with cache.checkout(key) as again:
        assert again is first
    seen = []

    def request():
        with cache.checkout(key) as aligner:
            seen.append(aligner)
            assert aligner(np.zeros((64, 64, 3), np.uint8)) == []

    threads = [threading.Thread(target=request) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 3
    with pytest.raises(ValueError, match="unknown preset 'slow'"):
        cache.take(AlignerKey(preset="slow"))
