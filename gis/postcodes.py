"""Nearest postcode, from postcode centroids in the shape of the ONS Postcode Directory (NSPL).

The CSV needs a postcode column (``pcds``, ``Postcode``, ...) and WGS84 ``lat``/``long`` columns;
names are detected. Rows without a location (NSPL writes latitude 99.999999 for them; some
extracts leave it blank) are skipped and counted. Centroids are held in BNG metres in flat numpy
arrays, bucketed in a uniform grid (CSR layout), so a national file (2.7 million rows) costs tens
of megabytes and a lookup searches a few neighbouring cells.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gis.columns import LATITUDE, LONGITUDE, POSTCODE, ColumnError, find_column
from gis.errors import PostcodeError
from gis.grid import lonlat_to_bng

_TARGET_PER_CELL = 16
_NO_LOCATION_LAT = 99.0  # NSPL's "no grid reference" latitude is 99.999999


class PostcodeIndex:
    """Postcode centroids with a nearest-neighbour lookup in BNG metres."""

    def __init__(
        self, postcodes: ArrayLike, eastings: ArrayLike, northings: ArrayLike, skipped: int = 0
    ) -> None:
        codes = np.asarray(postcodes)
        x = np.asarray(eastings, dtype=np.float64)
        y = np.asarray(northings, dtype=np.float64)
        if not (codes.shape == x.shape == y.shape):
            raise ValueError("postcodes, eastings and northings must have the same length")
        self.skipped = skipped
        self._size = int(x.size)
        self._sorted: tuple[NDArray[np.bytes_], NDArray[np.intp]] | None = None
        if x.size == 0:
            self._codes, self._x, self._y = codes.astype("S1"), x, y
            self.cell, self.x0, self.y0, self.nx, self.ny = 1.0, 0.0, 0.0, 1, 1
            self._offsets = np.zeros(2, dtype=np.int64)
            return
        minx, miny, maxx, maxy = float(x.min()), float(y.min()), float(x.max()), float(y.max())
        area = max((maxx - minx) * (maxy - miny), 1.0)
        cell = math.sqrt(area * _TARGET_PER_CELL / x.size)
        cell = max(cell, math.sqrt(area / 4_000_000), 50.0)  # at most ~4 M cells
        self.cell, self.x0, self.y0 = cell, minx, miny
        self.nx = int((maxx - minx) // cell) + 1
        self.ny = int((maxy - miny) // cell) + 1
        ids = ((y - miny) // cell).astype(np.int64) * self.nx + ((x - minx) // cell).astype(np.int64)
        order = np.argsort(ids, kind="stable")
        self._x, self._y = x[order], y[order]
        if codes.dtype.kind != "S":
            codes = np.char.encode(codes.astype(str), "utf-8")
        self._codes = codes[order]
        counts = np.bincount(ids, minlength=self.nx * self.ny)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return int(self._x.nbytes + self._y.nbytes + self._codes.nbytes + self._offsets.nbytes)

    @classmethod
    def from_lonlat(
        cls, postcodes: Iterable[str], longitudes: ArrayLike, latitudes: ArrayLike
    ) -> PostcodeIndex:
        codes = np.array(list(postcodes), dtype=str)
        e, n, _ = lonlat_to_bng(longitudes, latitudes)
        return cls(codes, e, n)

    @classmethod
    def from_csv(
        cls,
        path: Path,
        postcode_column: str | None = None,
        latitude_column: str | None = None,
        longitude_column: str | None = None,
    ) -> PostcodeIndex:
        """Read an NSPL-shaped CSV. Raises ``PostcodeError`` for a missing file or column."""
        path = Path(path)
        try:
            handle = open(path, newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise PostcodeError(f"postcodes: {path}: cannot open ({exc.strerror})") from None
        with handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise PostcodeError(f"postcodes: {path}: the file is empty")
            try:
                pc = find_column(header, POSTCODE, "postcode", postcode_column)
                la = find_column(header, LATITUDE, "latitude", latitude_column)
                lo = find_column(header, LONGITUDE, "longitude", longitude_column)
            except ColumnError as exc:
                raise PostcodeError(f"postcodes: {path}: {exc}") from None
            chunks = _Chunks()
            skipped = 0
            width = max(pc, la, lo)
            for row in reader:
                if len(row) <= width:
                    skipped += 1
                    continue
                try:
                    lat, lon = float(row[la]), float(row[lo])
                except ValueError:
                    skipped += 1
                    continue
                if (
                    not (math.isfinite(lat) and math.isfinite(lon))
                    or abs(lat) > _NO_LOCATION_LAT
                    or abs(lon) > 180
                ):
                    skipped += 1
                    continue
                code = normalise_postcode(row[pc])
                if not code:
                    skipped += 1
                    continue
                chunks.add(code, lat, lon)
        codes, lats, lons = chunks.arrays()
        if codes.size == 0:
            raise PostcodeError(f"postcodes: {path}: no rows with a usable location ({skipped} skipped)")
        e, n, _ = lonlat_to_bng(lons, lats)
        return cls(codes, e, n, skipped=skipped)

    def nearest(self, x: float, y: float, max_distance: float = math.inf) -> tuple[str, float] | None:
        """The nearest postcode to BNG ``(x, y)`` within ``max_distance`` metres, with its distance."""
        if self._size == 0 or not (math.isfinite(x) and math.isfinite(y)):
            return None
        x_hi = self.x0 + self.nx * self.cell
        y_hi = self.y0 + self.ny * self.cell
        gap = math.hypot(max(self.x0 - x, 0.0, x - x_hi), max(self.y0 - y, 0.0, y - y_hi))
        if gap > max_distance:
            return None
        ci = min(max(int((x - self.x0) // self.cell), 0), self.nx - 1)
        cj = min(max(int((y - self.y0) // self.cell), 0), self.ny - 1)
        best_d2, best_i = math.inf, -1
        ring = 0
        while True:
            i0, i1 = max(ci - ring, 0), min(ci + ring, self.nx - 1)
            j0, j1 = max(cj - ring, 0), min(cj + ring, self.ny - 1)
            for j in range(j0, j1 + 1):
                start = self._offsets[j * self.nx + i0]
                stop = self._offsets[j * self.nx + i1 + 1]
                if stop > start:
                    dx = self._x[start:stop] - x
                    dy = self._y[start:stop] - y
                    d2 = dx * dx + dy * dy
                    k = int(d2.argmin())
                    if d2[k] < best_d2:
                        best_d2, best_i = float(d2[k]), int(start) + k
            # Every point not yet searched lies beyond the searched block's inner edges.
            bound = math.inf
            if i0 > 0:
                bound = min(bound, x - (self.x0 + i0 * self.cell))
            if i1 < self.nx - 1:
                bound = min(bound, self.x0 + (i1 + 1) * self.cell - x)
            if j0 > 0:
                bound = min(bound, y - (self.y0 + j0 * self.cell))
            if j1 < self.ny - 1:
                bound = min(bound, self.y0 + (j1 + 1) * self.cell - y)
            if best_d2 <= bound * bound or bound == math.inf or bound > max_distance:
                break
            ring = max(1, ring * 2)
        if best_i < 0:
            return None
        distance = math.sqrt(best_d2)
        if distance > max_distance:
            return None
        return self._codes[best_i].decode("utf-8"), distance


    def centroid(self, postcode: str) -> tuple[str, float, float] | None:
        """``(postcode as stored, easting, northing)`` of a postcode, however it is spaced or cased."""
        key = "".join(postcode.split()).upper().encode("ascii", "replace")
        if self._size == 0 or not key:
            return None
        keys, order = self._lookup()
        i = int(np.searchsorted(keys, key))
        if i >= len(keys) or keys[i] != key:
            return None
        k = int(order[i])
        return self._codes[k].decode("utf-8"), float(self._x[k]), float(self._y[k])

    def _lookup(self) -> tuple[NDArray[np.bytes_], NDArray[np.intp]]:
        """Codes without spaces, upper case, sorted (built on first use: a national file takes a second)."""
        if self._sorted is None:
            keys = np.strings.upper(np.strings.replace(self._codes, b" ", b""))
            order = np.argsort(keys, kind="stable")
            self._sorted = (keys[order], order)
        return self._sorted


def normalise_postcode(text: str) -> str:
    """``LS11UR``, ``ls1 1ur`` and NSPL's fixed-width ``LS1  1UR`` all become ``LS1 1UR``."""
    code = "".join(text.split()).upper()
    if 5 <= len(code) <= 7:
        return f"{code[:-3]} {code[-3:]}"
    return code


class _Chunks:
    """Rows gathered into numpy chunks, so a national file never sits in Python lists whole."""

    size = 65_536

    def __init__(self) -> None:
        self._codes: list[bytes] = []
        self._lats: list[float] = []
        self._lons: list[float] = []
        self._done: list[tuple[NDArray[np.bytes_], NDArray[np.float64], NDArray[np.float64]]] = []

    def add(self, code: str, lat: float, lon: float) -> None:
        self._codes.append(code.encode("utf-8"))
        self._lats.append(lat)
        self._lons.append(lon)
        if len(self._codes) >= self.size:
            self._flush()

    def arrays(self) -> tuple[NDArray[np.bytes_], NDArray[np.float64], NDArray[np.float64]]:
        self._flush()
        if not self._done:
            return np.empty(0, dtype="S1"), np.empty(0), np.empty(0)
        codes, lats, lons = zip(*self._done, strict=True)
        return np.concatenate(codes), np.concatenate(lats), np.concatenate(lons)

    def _flush(self) -> None:
        if self._codes:
            self._done.append(
                (np.array(self._codes, dtype=bytes), np.array(self._lats), np.array(self._lons))
            )
            self._codes, self._lats, self._lons = [], [], []
