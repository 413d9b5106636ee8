"""Reading a JPEG's size from its header, and refusing an image bomb before anything decodes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import gateway.caller.fallback as fallback
from gateway.caller.fallback import BadUpload, check_still_header, inspect_still
from gateway.media.jpeg import JpegHeaderError, jpeg_size

ROOT = Path(__file__).resolve().parents[4]


def encoded(width: int, height: int, *flags: int) -> bytes:
    image = np.full((height, width, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", image, list(flags))
    assert ok
    return buf.tobytes()


def declaring(data: bytes, width: int, height: int) -> bytes:
    """The same file with its frame header rewritten to declare another size: a JPEG bomb."""
    at = data.index(b"\xff\xc0") if b"\xff\xc0" in data else data.index(b"\xff\xc2")
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


@pytest.mark.parametrize("width,height", [(320, 240), (17, 2048), (1, 1)])
def test_the_size_is_read_from_a_baseline_header(width, height):
    assert (jpeg_size(encoded(width, height)).width, jpeg_size(encoded(width, height)).height) == (width, height)


def test_a_progressive_jpeg_and_one_with_fill_bytes_and_exif_are_read():
    progressive = encoded(640, 480, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert b"\xff\xc2" in progressive and jpeg_size(progressive).width == 640
    # An APP1 segment holding a thumbnail's own SOF must be skipped by its length, not parsed.
    thumbnail = encoded(8000, 10)[:200]
    app1 = b"\xff\xe1" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    data = encoded(320, 240)
    with_exif = data[:2] + app1 + b"\xff\xff" + data[2:]
    size = jpeg_size(with_exif)
    assert (size.width, size.height, size.components) == (320, 240, 3)


@pytest.mark.parametrize("data", [
    b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00",  # too short, not a JPEG, cut short
    b"\xff\xd8\xff\xe0\x00\x10" + b"JFIF" + bytes(10),                # ends before any frame header
    b"\xff\xd8\xff\xda\x00\x08" + bytes(6),                          # scan data before a frame header
    b"\xff\xd8\xff\xe0\x00\x01",                                     # a length that cannot be
    b"\xff\xd8garbage",                                              # no marker where one must be
])
def test_anything_else_is_refused(data):
    with pytest.raises(JpegHeaderError):
        jpeg_size(data)


def test_a_height_left_for_a_later_dnl_marker_is_refused():
    with pytest.raises(JpegHeaderError, match="no width or no height"):
        jpeg_size(declaring(encoded(64, 64), 64, 0))


@pytest.mark.parametrize("side", [32000, 65000, 2049])
def test_a_bomb_is_refused_from_its_header_before_any_decoding(monkeypatch, side):
    def must_not_decode(*args):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(fallback.cv2, "imdecode", must_not_decode)
    bomb = declaring(encoded(64, 64), side, side)
    assert len(bomb) < 1000
    with pytest.raises(BadUpload) as refused:
        inspect_still(bomb)
    assert (refused.value.status, refused.value.code) == (400, "bad_size")


def test_the_decoder_allocates_what_the_header_declares_so_the_header_bounds_memory():
    liar = declaring(encoded(320, 240), 200, 100)
    assert check_still_header(liar) == (200, 100)
    still = inspect_still(liar)
    assert (still.width, still.height) == (200, 100)


def test_a_genuine_still_passes_with_its_thumbnail():
    still = inspect_still(encoded(640, 480))
    assert (still.width, still.height) == (640, 480) and jpeg_size(still.thumbnail).width == 160


def test_opencv_itself_refuses_images_over_the_still_limit_once_the_gateway_is_imported():
    # A fresh interpreter: OpenCV reads the limit when first imported, which the gateway precedes.
    script = (
        "import sys, numpy as np; import gateway.caller.fallback; import cv2; data = sys.stdin.buffer.read()\n"
        "try:\n    print(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None)\n"
        "except cv2.error as exc:\n    print('CV_IO_MAX_IMAGE_PIXELS' in str(exc))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    big = encoded(2100, 2100)  # 4.4 million pixels, over 2048 x 2048
    out = subprocess.run([sys.executable, "-c", script], input=big, capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert out.stdout.strip() == b"True", out.stderr.decode()[-2000:]
