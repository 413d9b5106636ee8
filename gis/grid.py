"""WGS84 to and from British National Grid (EPSG:27700), and OS grid references.

The Ordnance Survey's OSTN15 transformation (carried by ``convertbng``) is used wherever it is
defined: Great Britain and its near waters. Outside it (the Isles of Scilly's southern waters, the
far North Sea, anywhere abroad) PROJ's default path, a Helmert approximation good to a few metres,
takes over, and callers are told which one was used.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from convertbng.cutil import convert_bng, convert_lonlat
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import pyproj

OSTN15 = "OSTN15"
HELMERT = "Helmert (PROJ, EPSG:4326 to EPSG:27700)"
BNG = "EPSG:27700"

_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # the OS alphabet skips I


def to_bng(latitude: float, longitude: float) -> tuple[float, float, str]:
    """One WGS84 position as ``(easting, northing, transformation)`` in metres."""
    e, n = convert_bng(longitude, latitude)
    easting = float(e[0])
    if easting == easting:  # not NaN: inside OSTN15
        return easting, float(n[0]), OSTN15
    x, y = _helmert_forward().transform(longitude, latitude)
    return float(x), float(y), HELMERT


def lonlat_to_bng(
    longitudes: ArrayLike, latitudes: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Vectorised: eastings, northings and a mask of the points OSTN15 covered.

    Points outside OSTN15 go through PROJ's Helmert path; non-finite input stays NaN.
    """
    lon = np.ascontiguousarray(longitudes, dtype=np.float64).ravel()
    lat = np.ascontiguousarray(latitudes, dtype=np.float64).ravel()
    if lon.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy(), np.empty(0, dtype=bool)
    e, n = convert_bng(lon, lat)
    e = np.asarray(e, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    covered = ~np.isnan(e)
    missing = ~covered & np.isfinite(lon) & np.isfinite(lat)
    if missing.any():
        x, y = _helmert_forward().transform(lon[missing], lat[missing])
        e[missing] = x
        n[missing] = y
    return e, n, covered


def bng_to_lonlat(
    eastings: ArrayLike, northings: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Vectorised inverse: longitudes and latitudes, OSTN15 where covered, Helmert elsewhere."""
    e = np.ascontiguousarray(eastings, dtype=np.float64).ravel()
    n = np.ascontiguousarray(northings, dtype=np.float64).ravel()
    if e.size == 0:
        return np.empty(0), np.empty(0)
    lon, lat = convert_lonlat(e, n)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    missing = np.isnan(lon) & np.isfinite(e) & np.isfinite(n)
    if missing.any():
        x, y = _helmert_inverse().transform(e[missing], n[missing])
        lon[missing] = x
        lat[missing] = y
    return lon, lat


def grid_reference(easting: float, northing: float, digits: int = 10) -> str | None:
    """The OS grid reference, e.g. ``SE 29940 33440`` for 10 digits; ``None`` off the grid.

    Figures are truncated, not rounded, as the OS convention requires: a reference names the
    square the point lies in.
    """
    if digits not in (0, 2, 4, 6, 8, 10):
        raise ValueError(f"digits must be an even number from 0 to 10, not {digits}")
    if not (math.isfinite(easting) and math.isfinite(northing)):
        return None
    if not (0 <= easting < 700_000 and 0 <= northing < 1_300_000):
        return None
    e100k = math.floor(easting / 100_000)
    n100k = math.floor(northing / 100_000)
    first = (19 - n100k) - (19 - n100k) % 5 + (e100k + 10) // 5
    second = ((19 - n100k) * 5) % 25 + e100k % 5
    letters = _LETTERS[first] + _LETTERS[second]
    if digits == 0:
        return letters
    half = digits // 2
    scale = 10 ** (5 - half)
    e = int((easting - e100k * 100_000) // scale)
    n = int((northing - n100k * 100_000) // scale)
    return f"{letters} {e:0{half}d} {n:0{half}d}"


def grid_references(eastings: ArrayLike, northings: ArrayLike) -> NDArray[np.bytes_]:
    """Vectorised 10-figure grid references as ASCII bytes (``b"SE 29790 33803"``), ``b""`` off the grid.

    The same text as ``grid_reference(e, n).encode()`` for every point, assembled in a byte matrix:
    the square's letters from a table, the figures by integer arithmetic.
    """
    e = np.asarray(eastings, dtype=np.float64).ravel()
    n = np.asarray(northings, dtype=np.float64).ravel()
    finite = np.isfinite(e) & np.isfinite(n)
    e0 = np.floor(np.where(finite, e, 0.0) / 100_000).astype(np.int64)
    n0 = np.floor(np.where(finite, n, 0.0) / 100_000).astype(np.int64)
    on_grid = finite & (e >= 0) & (e < 700_000) & (n >= 0) & (n < 1_300_000)
    e0 = np.where(on_grid, e0, 0)
    n0 = np.where(on_grid, n0, 0)
    out = np.full((e.size, 14), ord(" "), dtype=np.uint8)
    out[:, 0:2] = _square_letters()[n0, e0]
    figures = five_figures()
    for column, metres in (
        (3, np.where(on_grid, e, 0.0) - e0 * 100_000),
        (9, np.where(on_grid, n, 0.0) - n0 * 100_000),
    ):
        out[:, column : column + 5] = figures[np.clip(np.floor(metres).astype(np.int64), 0, 99_999)]
    text = out.view("S14").ravel()
    text[~on_grid] = b""
    return text


@cache
def five_figures() -> NDArray[np.uint8]:
    """Row k is the ASCII of ``f"{k:05d}"``, for k from 0 to 99,999 (500 kB, built once)."""
    k = np.arange(100_000, dtype=np.int64)
    return ((k[:, None] // (10 ** np.arange(4, -1, -1, dtype=np.int64))) % 10 + ord("0")).astype(np.uint8)


@cache
def _square_letters() -> NDArray[np.uint8]:
    """The two letters of each 100 km square, indexed ``[northing // 100 km, easting // 100 km]``."""
    table = [[(grid_reference(e * 100_000, n * 100_000, 0) or "").encode() for e in range(7)] for n in range(13)]
    return np.array(table, dtype="S2").view(np.uint8).reshape(13, 7, 2)


@cache
def _helmert_forward() -> pyproj.Transformer:
    import pyproj  # only off OSTN15's coverage; importing it is slow

    return pyproj.Transformer.from_crs("EPSG:4326", BNG, always_xy=True)


@cache
def _helmert_inverse() -> pyproj.Transformer:
    import pyproj

    return pyproj.Transformer.from_crs(BNG, "EPSG:4326", always_xy=True)
