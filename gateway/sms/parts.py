"""How many SMS parts a text takes, and in which encoding. Pure: text in, count out.

A text message goes as GSM 03.38 (the 7-bit default alphabet) when every character is in that
alphabet or its extension table, else as UCS-2. One part holds 160 septets or 70 UCS-2 code units;
a longer message is split into parts that each give up room for the header that joins them, leaving
153 septets or 67 code units. An extension character (``€ [ ] { } \\ ~ ^ |`` and form feed) is an
escape plus a septet, so it counts 2; a character outside the Basic Multilingual Plane (an emoji) is
a surrogate pair, so it counts 2 code units. Neither pair is split between two parts, so a part can
hold one unit less than its room, and the count walks the text rather than dividing its length.

Whether a character is in the GSM alphabet is the ``gsm0338`` codec's answer; the arithmetic of
parts is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

Encoding = Literal["GSM-7", "UCS-2"]

GSM_CODEC = "gsm03.38"
# (room in a message of one part, room in each part of a longer one)
ROOM: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsParts:
    """``parts`` parts of ``encoding``; ``units`` septets (GSM-7) or UTF-16 code units (UCS-2)."""

    encoding: Encoding
    units: int
    parts: int

    def to_json(self) -> dict[str, object]:
        return {"count": self.parts, "encoding": self.encoding, "units": self.units}


def _units(text: str) -> tuple[Encoding, list[int]]:
    """The encoding the text needs, and each character's size in it."""
    try:
        sizes = [len(c.encode(GSM_CODEC)) for c in text]  # 2 for an extension character
    except UnicodeEncodeError:
        return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text]
    return "GSM-7", sizes


def count_parts(text: str) -> SmsParts:
    """The encoding, size and number of parts of ``text`` (an empty text is still one message)."""
    encoding, sizes = _units(text)
    single, multi = ROOM[encoding]
    total = sum(sizes)
    if total <= single:
        return SmsParts(encoding, total, 1)
    parts, used = 1, 0
    for size in sizes:
        if used + size > multi:  # a pair is never split: it starts the next part
            parts, used = parts + 1, 0
        used += size
    return SmsParts(encoding, total, parts)
