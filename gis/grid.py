"""WGS84 to and from British National Grid (EPSG:27700), and OS grid references.

The Ordnance Survey's OSTN15 transformation (carried by ``convertbng``) is used wherever it is
defined: Great Britain and its near waters. Outside it (the Isles of Scilly's southern waters, the
far North Sea, anywhere abroad) PROJ's default path, a Helmert approximation good to a few metres,
takes over, and callers are told which one was used.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pyproj
from convertbng.cutil import convert_bng, convert_lonlat
from numpy.typing import ArrayLike, NDArray

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
    e100k = math.floor(easting / 100_000)
    n100k = math.floor(northing / 100_000)
    if not (0 <= e100k <= 6 and 0 <= n100k <= 12):
        return None
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


@cache
def _helmert_forward() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", BNG, always_xy=True)


@cache
def _helmert_inverse() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(BNG, "EPSG:4326", always_xy=True)
