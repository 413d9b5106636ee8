"""What a caller or colleague says, turned into a place: grid references, eastings and northings,
latitude and longitude (decimal or degrees, minutes and seconds), postcodes.

Pure parsing: ``interpret(text)`` returns a ``Location`` (or a ``PostcodeQuery`` for the caller to
look up in its postcode index, or ``None`` when the text is none of these and may be an incident
reference). Nothing here reads files or touches the network.

Accepted forms (case and spacing are free)::

    SE 29790 33803   SE2979033803   SE 2979 3380   SE 297 338     OS grid reference, 2 letters + 4..10 figures
    429790 433803    429790, 433803   E 429790 N 433803   429790E 433803N     eastings and northings, metres
    53.7997, -1.5492   53.7997 N 1.5492 W   N53.7997 W1.5492                 decimal degrees
    53°47'59"N 1°32'57"W   53 47 59 N 1 32 57 W   53°47.98'N 1°32.95'W         degrees, minutes (seconds)
    LS1 1UR   ls11ur                                                           a full UK postcode

A grid reference names a square (the point given is its south-west corner); the location returned is
the square's centre, with ``precision_m`` the square's side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gis.grid import bng_to_lonlat, grid_reference
from gis.postcodes import normalise_postcode

_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # the OS alphabet skips I

# The National Grid's extent in metres (the 100 km squares from SV to JM).
_MAX_EASTING = 700_000.0
_MAX_NORTHING = 1_300_000.0

_GRID = re.compile(r"^([A-HJ-Z]{2})\s*(\d+)\s*(\d*)$")
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_EN_LABELLED = re.compile(
    rf"^(?:E(?:ASTING)?\s*:?\s*({_NUMBER})|({_NUMBER})\s*E)\s*[,;/\s]\s*"
    rf"(?:N(?:ORTHING)?\s*:?\s*({_NUMBER})|({_NUMBER})\s*N)$"
)
# One coordinate in degrees, optional minutes and seconds, a hemisphere letter before or after.
_ANGLE = (
    r"([NSEW])?\s*([-+]?\d+(?:\.\d+)?)\s*(?:°|º|D|DEG|\s)?\s*"
    r"(?:(\d+(?:\.\d+)?)\s*(?:'|′|’|M|MIN)?\s*)?"
    r"(?:(\d+(?:\.\d+)?)\s*(?:\"|″|”|''|S|SEC)?\s*)?([NSEW])?"
)
_ANGLE_RE = re.compile(_ANGLE)


class SearchError(ValueError):
    """The text looks like a position but cannot be one; the message says why."""


@dataclass(frozen=True)
class Location:
    """A place found from what was typed: WGS84 degrees, BNG metres, and how it was read."""

    kind: str  # "gridref", "en", "latlon"
    latitude: float
    longitude: float
    easting: float | None
    northing: float | None
    precision_m: float
    label: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "label": self.label,
            "latitude": round(self.latitude, 7),
            "longitude": round(self.longitude, 7),
            "easting": None if self.easting is None else round(self.easting, 2),
            "northing": None if self.northing is None else round(self.northing, 2),
            "precision_m": self.precision_m,
        }


@dataclass(frozen=True)
class PostcodeQuery:
    """A full UK postcode, normalised (``LS1 1UR``): the caller looks it up."""

    postcode: str


def interpret(text: str) -> Location | PostcodeQuery | None:
    """Read ``text`` as a position or a postcode; ``None`` if it is neither.

    Raises ``SearchError`` when the text has a position's shape but cannot be one (a grid reference
    with an odd number of figures, a latitude of 95 degrees, an easting off the National Grid).
    """
    q = " ".join(text.strip().upper().split())
    if not q or len(q) > 100:
        return None
    if _POSTCODE.match(q):
        return PostcodeQuery(normalise_postcode(q))
    grid = _GRID.match(q)
    if grid:
        letters, first, second = grid.groups()
        if not _is_square(letters) or (not second and len(first) == 1):
            return None  # "LS12", "SE1": postcode districts, not grid references
        return parse_grid_reference(q)
    en = _eastings_northings(q)
    if en is not None:
        return en
    return _latlon(q)


def parse_grid_reference(text: str) -> Location:
    """``SE 29790 33803`` (2 letters, then 2 to 10 figures in all, even) to the square's centre."""
    q = " ".join(text.strip().upper().split())
    match = _GRID.match(q)
    if not match:
        raise SearchError(f"{text!r} is not a grid reference (two letters, then figures)")
    letters, first, second = match.groups()
    digits = first + second
    if second and len(first) != len(second):
        raise SearchError(f"{text!r}: the easting and northing need the same number of figures")
    if len(digits) % 2 or not 2 <= len(digits) <= 10:
        raise SearchError(f"{text!r}: a grid reference has 2, 4, 6, 8 or 10 figures, not {len(digits)}")
    e100k, n100k = _square_origin(letters)
    half = len(digits) // 2
    size = 10.0 ** (5 - half)
    easting = e100k + int(digits[:half]) * size + size / 2
    northing = n100k + int(digits[half:]) * size + size / 2
    lon, lat = bng_to_lonlat([easting], [northing])
    label = f"{letters} {digits[:half]} {digits[half:]}"
    return Location("gridref", float(lat[0]), float(lon[0]), easting, northing, size, label)


def _square_origin(letters: str) -> tuple[float, float]:
    """South-west corner of a 100 km square, in metres (``SE`` is 400000, 400000)."""
    first, second = (_LETTERS.index(c) for c in letters)
    # The first letter picks a 500 km square, S being the false origin's (0, 0).
    e500 = (first % 5 - 2) * 500_000
    n500 = (3 - first // 5) * 500_000
    e100 = (second % 5) * 100_000
    n100 = (4 - second // 5) * 100_000
    e, n = e500 + e100, n500 + n100
    if not (0 <= e < _MAX_EASTING and 0 <= n < _MAX_NORTHING):
        raise SearchError(f"{letters} is not a square of the National Grid")
    return float(e), float(n)


def _is_square(letters: str) -> bool:
    try:
        _square_origin(letters)
    except SearchError:
        return False
    return True


def _eastings_northings(q: str) -> Location | None:
    labelled = _EN_LABELLED.match(q)
    if labelled:
        e = float(labelled.group(1) or labelled.group(2))
        n = float(labelled.group(3) or labelled.group(4))
    else:
        parts = re.split(r"\s*[,;/]\s*|\s+", q)
        if len(parts) != 2 or not all(re.fullmatch(_NUMBER, p) for p in parts):
            return None
        e, n = float(parts[0]), float(parts[1])
        # Degrees never pass 180; eastings and northings in Britain are in the thousands.
        if max(abs(e), abs(n)) < 1000:
            return None
        if min(abs(e), abs(n)) <= 180:
            raise SearchError(f"{q!r} mixes a small and a large number: neither degrees nor metres")
    if not (0 <= e < _MAX_EASTING and 0 <= n < _MAX_NORTHING):
        raise SearchError(f"easting {e:g}, northing {n:g} lie off the National Grid (0-700000, 0-1300000)")
    lon, lat = bng_to_lonlat([e], [n])
    label = f"E {e:.0f}, N {n:.0f}"
    ref = grid_reference(e, n)
    if ref:
        label += f" ({ref})"
    return Location("en", float(lat[0]), float(lon[0]), e, n, 1.0, label)


def _latlon(q: str) -> Location | None:
    # Split into two angles: on a comma/semicolon, or after the first hemisphere letter, or on
    # the gap in the middle of the numbers.
    halves = _split_pair(q)
    if halves is None:
        return None
    a, b = (_angle(h) for h in halves)
    if a is None or b is None:
        return None
    (va, ha), (vb, hb) = a, b
    if ha in "EW" and hb in "NS" and ha and hb:
        (va, ha), (vb, hb) = (vb, hb), (va, ha)
    elif (ha in "EW" and ha) or (hb in "NS" and hb):
        raise SearchError(f"{q!r}: give latitude (N/S) first, then longitude (E/W)")
    lat, lon = va, vb
    if not -90 <= lat <= 90:
        raise SearchError(f"latitude {lat:g} is not between -90 and 90")
    if not -180 <= lon <= 180:
        raise SearchError(f"longitude {lon:g} is not between -180 and 180")
    return Location("latlon", lat, lon, None, None, 1.0, f"{lat:.6f}, {lon:.6f}")


def _split_pair(q: str) -> tuple[str, str] | None:
    if re.search(r"[,;]", q):
        parts = re.split(r"\s*[,;]\s*", q)
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None
    if re.match(r"^[NSEW]\s*[-+]?\d", q):  # "N53.7 W1.5": split before the second letter
        second = re.search(r"\s[NSEW]\s*[-+]?\d", q)
        return (q[: second.start()].strip(), q[second.start() :].strip()) if second else None
    # "53.7N 1.5W", "53 47 59 N 1 32 57 W": split after the first hemisphere letter.
    letter = re.search(r"(?<=[\d\"″”'′’°\s])[NSEW](?=\s|\d|$)", q)
    if letter and letter.end() < len(q):
        return q[: letter.end()].strip(), q[letter.end() :].strip()
    numbers = q.split()
    if len(numbers) % 2 == 0 and all(re.fullmatch(_NUMBER, n) for n in numbers):
        half = len(numbers) // 2
        return " ".join(numbers[:half]), " ".join(numbers[half:])
    return None


def _angle(text: str) -> tuple[float, str] | None:
    match = _ANGLE_RE.fullmatch(text.strip())
    if not match:
        return None
    before, degrees, minutes, seconds, after = match.groups()
    if before and after:
        return None
    hemisphere = before or after or ""
    value = abs(float(degrees))
    negative = degrees.startswith("-")
    for part, scale in ((minutes, 60.0), (seconds, 3600.0)):
        if part is not None:
            amount = float(part)
            if amount >= 60:
                raise SearchError(f"{text!r}: minutes and seconds must be under 60")
            if "." in degrees and amount:
                raise SearchError(f"{text!r}: decimal degrees cannot also have minutes")
            value += amount / scale
    if not math.isfinite(value):
        return None
    if hemisphere in ("S", "W"):
        if negative:
            raise SearchError(f"{text!r}: a minus sign and {hemisphere} say the same thing twice")
        negative = True
    return (-value if negative else value), hemisphere
