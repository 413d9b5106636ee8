"""A raster index over one boundary layer, for fast point-in-polygon answers.

The layer's bounding box is cut into square cells. Each cell records one of:

* ``k >= 0``: the whole cell lies inside feature ``k``;
* ``OUTSIDE`` (-1): the whole cell lies outside every feature;
* ``BOUNDARY`` (-2): some feature's edge crosses the cell (or two features claim it), so a point
  there gets an exact test against the features.

Cells crossed by an edge are found by walking every edge in steps of half a cell (conservatively:
each step marks every cell of the box it spans, widened by a rounding margin); the remaining cells
take the feature that contains their centre, by an even-odd scanline fill. A cell with no edge in
it lies wholly on one side of every edge, so its centre speaks for all of it. Looking a point up is
then two subtractions, a division and an array read; only points in boundary cells reach GEOS.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray

OUTSIDE = -1
BOUNDARY = -2

# Boxes bigger than this many cells go straight to the exact path rather than being scanned.
_MAX_BOX_CELLS = 4096
_EPS = 1e-7  # rounding margin, in cells, when marking the cells an edge crosses


class GridIndex:
    """Cells over a layer's extent saying which feature (if any) holds each, or 'look closer'."""

    def __init__(self, geometries: NDArray[np.object_], resolution: int = 1024) -> None:
        """Index ``geometries`` (valid polygons, BNG metres) with ``resolution`` cells on the long side."""
        if resolution < 1:
            raise ValueError(f"resolution must be at least 1, not {resolution}")
        self.geometries = geometries
        self.tree = shapely.STRtree(geometries)
        shapely.prepare(geometries)
        minx, miny, maxx, maxy = _bounds(geometries)
        span = max(maxx - minx, maxy - miny)
        self.cell = span / resolution if span > 0 else 1.0
        # One empty cell of margin on every side: points beyond the grid are outside every feature.
        self.x0 = minx - self.cell
        self.y0 = miny - self.cell
        self.nx = int(math.ceil((maxx - minx) / self.cell)) + 2
        self.ny = int(math.ceil((maxy - miny) / self.cell)) + 2
        self.cells = _rasterise(geometries, self.x0, self.y0, self.cell, self.nx, self.ny)

    @property
    def boundary_share(self) -> float:
        """The fraction of cells that need an exact test (a measure of the index's efficiency)."""
        return float(np.count_nonzero(self.cells == BOUNDARY)) / self.cells.size

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes)

    def locate(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        """For each point, the index of the first feature that covers it, or -1. Vectorised."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        u = (x - self.x0) / self.cell
        v = (y - self.y0) / self.cell
        inside = (u >= 0) & (u < self.nx) & (v >= 0) & (v < self.ny)  # False for NaN
        result = np.full(x.shape, OUTSIDE, dtype=np.int32)
        if inside.all():
            result[:] = self.cells[v.astype(np.intp), u.astype(np.intp)]
        else:
            result[inside] = self.cells[v[inside].astype(np.intp), u[inside].astype(np.intp)]
        closer = np.flatnonzero(result == BOUNDARY)
        if closer.size:
            result[closer] = self._exact(x[closer], y[closer])
        return result

    def locate_one(self, x: float, y: float) -> int:
        """The first feature covering the point, or -1 (scalar fast path of ``locate``)."""
        u = (x - self.x0) / self.cell
        v = (y - self.y0) / self.cell
        if not (0 <= u < self.nx and 0 <= v < self.ny):
            return OUTSIDE
        code = int(self.cells[int(v), int(u)])
        if code != BOUNDARY:
            return code
        hits = self.containing(x, y)
        return int(hits[0]) if hits.size else OUTSIDE

    def containing(self, x: float, y: float) -> NDArray[np.intp]:
        """Every feature covering the point, in layer order (more than one only in bad data)."""
        hits: NDArray[np.intp] = self.tree.query(shapely.Point(x, y), predicate="intersects")
        hits.sort()
        return hits

    def classify_box(self, xmin: float, ymin: float, xmax: float, ymax: float) -> int | None:
        """``k`` if the box lies wholly in feature ``k``, -1 if wholly outside all, else ``None``."""
        i0 = math.floor((xmin - self.x0) / self.cell)
        i1 = math.floor((xmax - self.x0) / self.cell)
        j0 = math.floor((ymin - self.y0) / self.cell)
        j1 = math.floor((ymax - self.y0) / self.cell)
        if i1 < 0 or j1 < 0 or i0 >= self.nx or j0 >= self.ny:
            return OUTSIDE
        clipped = i0 < 0 or j0 < 0 or i1 >= self.nx or j1 >= self.ny
        if clipped:
            i0, j0 = max(i0, 0), max(j0, 0)
            i1, j1 = min(i1, self.nx - 1), min(j1, self.ny - 1)
        if i0 == i1 and j0 == j1:
            code = int(self.cells[j0, i0])
        else:
            if (i1 - i0 + 1) * (j1 - j0 + 1) > _MAX_BOX_CELLS:
                return None
            block = self.cells[j0 : j1 + 1, i0 : i1 + 1]
            code = int(block.min())
            if code != int(block.max()):
                return None
        if code == BOUNDARY or (clipped and code != OUTSIDE):
            return None
        return code

    def _exact(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int32]:
        points = shapely.points(x, y)
        which, feature = self.tree.query(points, predicate="intersects")
        result = np.full(x.shape, np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(result, which, feature.astype(np.int32))
        result[result == np.iinfo(np.int32).max] = OUTSIDE
        return result


def _bounds(geometries: NDArray[np.object_]) -> tuple[float, float, float, float]:
    if len(geometries) == 0:
        return 0.0, 0.0, 0.0, 0.0
    minx, miny, maxx, maxy = shapely.total_bounds(geometries)
    return float(minx), float(miny), float(maxx), float(maxy)


def _edges(
    geometries: NDArray[np.object_],
) -> tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]
]:
    """Every ring edge as (x1, y1, x2, y2, feature)."""
    parts, part_feature = shapely.get_parts(geometries, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    ring_feature = part_feature[ring_part]
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    start = coords[:-1][same]
    end = coords[1:][same]
    return start[:, 0], start[:, 1], end[:, 0], end[:, 1], ring_feature[ring_of[:-1][same]]


def _rasterise(
    geometries: NDArray[np.object_], x0: float, y0: float, cell: float, nx: int, ny: int
) -> NDArray[np.integer]:
    dtype = np.int16 if len(geometries) < np.iinfo(np.int16).max else np.int32
    x1, y1, x2, y2, feature = _edges(geometries)
    # Grid units: cell (i, j) spans [i, i+1) x [j, j+1); its centre is (i + 0.5, j + 0.5).
    u1, v1 = (x1 - x0) / cell, (y1 - y0) / cell
    u2, v2 = (x2 - x0) / cell, (y2 - y0) / cell

    count, label = _fill(u1, v1, u2, v2, feature, nx, ny)
    label -= 1
    cells: NDArray[np.integer] = label.astype(dtype)  # count 0 gives -1 (OUTSIDE) already
    cells[count > 1] = BOUNDARY  # claimed by two features: overlapping data, test exactly
    cells[_crossed(u1, v1, u2, v2, nx, ny)] = BOUNDARY
    return cells


def _fill(
    u1: NDArray[np.float64],
    v1: NDArray[np.float64],
    u2: NDArray[np.float64],
    v2: NDArray[np.float64],
    feature: NDArray[np.intp],
    nx: int,
    ny: int,
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Per cell: how many features contain its centre, and the sum of (feature + 1) over them."""
    vlo, vhi = np.minimum(v1, v2), np.maximum(v1, v2)
    # Rows whose centre line v = j + 0.5 the edge crosses, half-open: vlo <= j + 0.5 < vhi.
    first = np.ceil(vlo - 0.5).astype(np.int64)
    stop = np.ceil(vhi - 0.5).astype(np.int64)
    n = np.maximum(stop - first, 0)
    total = int(n.sum())
    count = np.zeros((ny, nx + 1), dtype=np.int32)
    label = np.zeros((ny, nx + 1), dtype=np.int32)
    if total:
        edge = np.repeat(np.arange(n.size), n)
        offsets = np.cumsum(n) - n
        row = first[edge] + (np.arange(total) - offsets[edge])
        t = (row + 0.5 - v1[edge]) / (v2[edge] - v1[edge])
        u = u1[edge] + t * (u2[edge] - u1[edge])
        feat = feature[edge]
        order = np.lexsort((u, row, feat))
        row, u, feat = row[order], u[order], feat[order]
        # Crossings pair up (in, out) within each feature and row, as every ring is closed.
        r_in, u_in, f_in = row[0::2], u[0::2], feat[0::2]
        u_out = u[1::2]
        # Cells whose centre i + 0.5 lies in [u_in, u_out).
        i_start = np.clip(np.ceil(u_in - 0.5), 0, nx).astype(np.int64)
        i_stop = np.clip(np.ceil(u_out - 0.5), 0, nx).astype(np.int64)
        keep = (i_stop > i_start) & (r_in >= 0) & (r_in < ny)
        r_in, i_start, i_stop, f_in = r_in[keep], i_start[keep], i_stop[keep], f_in[keep]
        width = nx + 1
        np.add.at(count.ravel(), r_in * width + i_start, 1)
        np.add.at(count.ravel(), r_in * width + i_stop, -1)
        np.add.at(label.ravel(), r_in * width + i_start, (f_in + 1).astype(np.int32))
        np.add.at(label.ravel(), r_in * width + i_stop, -(f_in + 1).astype(np.int32))
    count = np.cumsum(count, axis=1, out=count)[:, :nx]
    label = np.cumsum(label, axis=1, out=label)[:, :nx]
    return count, label


def _crossed(
    u1: NDArray[np.float64],
    v1: NDArray[np.float64],
    u2: NDArray[np.float64],
    v2: NDArray[np.float64],
    nx: int,
    ny: int,
) -> NDArray[np.bool_]:
    """Cells that some edge passes through (a superset: marking extra cells only costs speed)."""
    mask = np.zeros((ny, nx), dtype=bool)
    length = np.hypot(u2 - u1, v2 - v1)
    steps = np.maximum(np.ceil(length * 2.0), 1).astype(np.int64)  # steps of at most half a cell
    total = int(steps.sum())
    edge = np.repeat(np.arange(steps.size), steps)
    offsets = np.cumsum(steps) - steps
    k = np.arange(total) - offsets[edge]
    ta = k / steps[edge]
    tb = (k + 1) / steps[edge]
    du, dv = (u2 - u1)[edge], (v2 - v1)[edge]
    ua, va = u1[edge] + ta * du, v1[edge] + ta * dv
    ub, vb = u1[edge] + tb * du, v1[edge] + tb * dv
    ilo = np.floor(np.minimum(ua, ub) - _EPS).astype(np.int64)
    ihi = np.floor(np.maximum(ua, ub) + _EPS).astype(np.int64)
    jlo = np.floor(np.minimum(va, vb) - _EPS).astype(np.int64)
    jhi = np.floor(np.maximum(va, vb) + _EPS).astype(np.int64)
    for di in range(2):  # a half-cell step spans at most two cells each way
        for dj in range(2):
            i, j = ilo + di, jlo + dj
            ok = (i <= ihi) & (j <= jhi) & (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
            mask[j[ok], i[ok]] = True
    return mask
