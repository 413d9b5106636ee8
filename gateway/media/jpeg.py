"""A JPEG's dimensions read from its header, without decoding a pixel.

A few hundred bytes can declare an image of 65000x65000 pixels; a decoder asked to open it
allocates gigabytes first and fails (or succeeds) later. Reading the frame header (the SOF
segment) lets the gateway refuse such an image before any decoder sees it. Pure bytes in,
numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

# Start-of-frame markers: baseline, extended, progressive, lossless, and their differential and
# arithmetic-coded variants. C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers that stand alone, with no length after them.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8


class JpegHeaderError(ValueError):
    """The bytes are not a JPEG whose frame size can be read; the message says why."""


@dataclass(frozen=True)
class JpegSize:
    width: int
    height: int
    components: int


def jpeg_size(data: bytes) -> JpegSize:
    """The size declared by the first frame header of the JPEG in ``data``.

    Raises :class:`JpegHeaderError` when the data does not start a JPEG, ends before a frame
    header, or declares a height of 0 (defined later by a DNL marker: refused, it cannot be
    checked up front).
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] != _SOI:
        raise JpegHeaderError("the data does not start with a JPEG start-of-image marker")
    i = 2
    end = len(data)
    while i < end:
        if data[i] != 0xFF:
            raise JpegHeaderError(f"expected a marker at byte {i}")
        while i < end and data[i] == 0xFF:  # any number of fill bytes may precede a marker
            i += 1
        if i >= end:
            break
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (_SOS, _EOI, _SOI) or marker == 0x00:
            raise JpegHeaderError("the image data starts before any frame header")
        if i + 2 > end:
            break
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise JpegHeaderError(f"a segment at byte {i} has an impossible length")
        if marker in SOF_MARKERS:
            if length < 8 or i + 8 > end:
                break
            height = (data[i + 3] << 8) | data[i + 4]
            width = (data[i + 5] << 8) | data[i + 6]
            components = data[i + 7]
            if width == 0 or height == 0:
                raise JpegHeaderError("the frame header declares no width or no height")
            return JpegSize(width, height, components)
        i += length
    raise JpegHeaderError("the data ends before a frame header")
