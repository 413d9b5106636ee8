"""Coordinate reference systems of boundary files, and moving their geometries into BNG metres.

Any CRS that PROJ knows is accepted. The path into British National Grid is chosen so that the
OS's own transformation is used whenever the data are not already on the OSGB36 datum:

* EPSG:27700 already: nothing to do;
* on OSGB36 (e.g. EPSG:4277): PROJ, which is exact on one datum;
* anything else: PROJ to WGS84 longitude/latitude when needed, then OSTN15 (``convertbng``), with
  PROJ's Helmert path only for vertices outside OSTN15's coverage (counted, so they can be reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Union

import numpy as np
import shapely
from numpy.typing import NDArray

from gis.grid import BNG, OSTN15, lonlat_to_bng

if TYPE_CHECKING:
    import pyproj


@dataclass(frozen=True)
class KnownCrs:
    """One of the few CRSs boundary files nearly always declare, known without asking PROJ.

    Importing pyproj and building a ``CRS`` costs more than a bulk job's whole placing step; for
    British National Grid and the geographic CRSs OSTN15 takes directly, nothing from PROJ is needed.
    """

    code: str
    geographic: bool


# What pyogrio reports for the usual files (a shapefile's .prj, a GeoJSON's implied WGS84).
_KNOWN = {
    "EPSG:27700": KnownCrs("EPSG:27700", False),
    "EPSG:4326": KnownCrs("EPSG:4326", True),
    "EPSG:4258": KnownCrs("EPSG:4258", True),
    "OGC:CRS84": KnownCrs("OGC:CRS84", True),
}

Crs = Union["pyproj.CRS", KnownCrs]

# Geographic CRSs whose longitude/latitude OSTN15 takes directly (ETRS89 and WGS84 agree to well
# under a metre in Britain; OS treats them as the same for OSTN15 input).
_LONLAT_CODES = {4326, 4258, 4937, 4979, 4936, 4978}


@dataclass(frozen=True)
class Reprojected:
    """Geometries in BNG, the transformation used, and how many vertices fell outside OSTN15."""

    geometries: NDArray[np.object_]
    transformation: str
    outside_ostn15: int


def parse_crs(value: str) -> Crs:
    """A CRS from user input (``EPSG:27700``, a WKT string, a PROJ string); ``ValueError`` if unknown."""
    known = _KNOWN.get(value.strip().upper())
    if known is not None:
        return known
    import pyproj

    try:
        return _parse_crs(value)
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(f"{value!r} is not a CRS PROJ knows ({exc})") from None


def describe(crs: Crs) -> str:
    """A short name for reports: ``EPSG:27700`` when it has a code, else the CRS's own name."""
    if isinstance(crs, KnownCrs):
        return crs.code
    authority = crs.to_authority(min_confidence=90)
    if authority is not None:
        return f"{authority[0]}:{authority[1]}"
    return crs.name


def is_bng(crs: Crs) -> bool:
    if isinstance(crs, KnownCrs):
        return crs.code == BNG
    return crs.to_epsg(min_confidence=90) == 27700


def is_lonlat(crs: Crs) -> bool:
    """Geographic longitude/latitude in degrees (whatever the datum)."""
    return crs.geographic if isinstance(crs, KnownCrs) else bool(crs.is_geographic)


def to_bng(geometries: NDArray[np.object_], crs: Crs) -> Reprojected:
    """Move ``geometries`` (x = longitude or easting, as stored in files) into BNG metres."""
    if is_bng(crs):
        return Reprojected(geometries, "none (already EPSG:27700)", 0)
    if isinstance(crs, KnownCrs):  # longitude, latitude that OSTN15 takes directly
        return _lonlat_to_bng(geometries, None, "")
    if crs.datum is not None and crs.datum.name == _osgb36_name():
        transformer = _transformer(crs.to_wkt(), BNG)
        moved = shapely.transform(geometries, lambda xy: _pyproj_xy(transformer, xy))
        return Reprojected(moved, f"PROJ ({describe(crs)} to EPSG:27700, same datum)", 0)

    to_lonlat = None
    epsg = crs.to_epsg(min_confidence=90)
    if not (crs.is_geographic and epsg in _LONLAT_CODES):
        to_lonlat = _transformer(crs.to_wkt(), "EPSG:4326")
    via = "" if to_lonlat is None else f"PROJ {describe(crs)} to EPSG:4326, then "
    return _lonlat_to_bng(geometries, to_lonlat, via)


def _lonlat_to_bng(
    geometries: NDArray[np.object_], to_lonlat: pyproj.Transformer | None, via: str
) -> Reprojected:
    outside = 0

    def move(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        nonlocal outside
        if to_lonlat is not None:
            xy = _pyproj_xy(to_lonlat, xy)
        e, n, covered = lonlat_to_bng(xy[:, 0], xy[:, 1])
        outside += int(xy.shape[0] - covered.sum())
        return np.column_stack([e, n])

    moved = shapely.transform(geometries, move)
    return Reprojected(moved, f"{via}{OSTN15}", outside)


def _pyproj_xy(transformer: pyproj.Transformer, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


@cache
def _osgb36_name() -> str:
    import pyproj

    datum = pyproj.CRS.from_epsg(27700).datum
    return datum.name if datum is not None else "OSGB36"


@cache
def _parse_crs(value: str) -> pyproj.CRS:
    import pyproj

    return pyproj.CRS.from_user_input(value)


@cache
def _transformer(source_wkt: str, target: str) -> pyproj.Transformer:
    import pyproj

    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(source_wkt), target, always_xy=True)
