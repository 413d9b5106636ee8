"""JSON from clients, parsed with a limit on nesting.

Python's parser recurses once per level: a few kilobytes of ``[[[[...`` raise ``RecursionError``
deep inside it (a 500, and a stack trace in the log) instead of a clear refusal. No message the
gateway accepts nests more than a few levels, so deeper input is refused before parsing. The
depth is counted on the text with strings removed, by regular expressions (C speed, no recursion).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    """The JSON nests deeper than allowed."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings ignored)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses input nested deeper than ``max_depth`` (``TooDeep``, a
    ``ValueError``) and bytes that are not UTF-8 (``ValueError`` too)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if nesting_depth(text) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
