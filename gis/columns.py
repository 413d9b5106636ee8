"""Finding the latitude, longitude and postcode columns of a CSV header."""

from __future__ import annotations

from collections.abc import Sequence

LATITUDE = ("latitude", "lat", "ylat", "wgs84lat")
LONGITUDE = ("longitude", "long", "lon", "lng", "xlong", "wgs84long", "wgs84lon")
# NSPL offers several postcode forms; pcds ("LS1 1UR") is the one people read.
POSTCODE = ("pcds", "postcode", "pcd2", "pcd", "pcd7", "pcd8")
ACCURACY = ("accuracy", "accuracym", "accuracymetres", "radius", "uncertainty")


class ColumnError(ValueError):
    """A needed column is not in the header."""


def find_column(header: Sequence[str], candidates: Sequence[str], what: str, given: str | None = None) -> int:
    """The position of the column named ``given``, or of the first candidate name present.

    Names compare case-insensitively, ignoring spaces, underscores and hyphens.
    """
    keys = [_key(name) for name in header]
    if given is not None:
        if given in header:
            return list(header).index(given)
        if _key(given) in keys:
            return keys.index(_key(given))
        raise ColumnError(f"no column {given!r} for the {what} (columns: {', '.join(header)})")
    for candidate in candidates:
        if candidate in keys:
            return keys.index(candidate)
    raise ColumnError(
        f"cannot find the {what} column (columns: {', '.join(header)}); name it with the {what} option"
    )


def find_optional(header: Sequence[str], candidates: Sequence[str]) -> int | None:
    keys = [_key(name) for name in header]
    for candidate in candidates:
        if candidate in keys:
            return keys.index(candidate)
    return None


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "").replace("_", "").replace("-", "").lstrip("\ufeff")
