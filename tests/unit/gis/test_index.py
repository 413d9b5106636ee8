"""gis.index: the raster index answers exactly what a brute-force containment test answers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.index import BOUNDARY, OUTSIDE, GridIndex


def brute_force(geometries: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The first feature (in layer order) that covers each point, or -1."""
    result = np.full(len(x), -1)
    for k in range(len(geometries) - 1, -1, -1):
        result[shapely.intersects_xy(geometries[k], x, y)] = k
    return result


def tricky_layer() -> np.ndarray:
    """Holes, islands, a sliver, a diagonal edge and a feature inside another's hole."""
    outer = shapely.box(0, 0, 100, 100).difference(shapely.box(30, 30, 70, 70))
    islands = shapely.MultiPolygon([shapely.box(110, 0, 120, 10), shapely.box(130, 0, 140, 10)])
    sliver = shapely.box(100, 20, 100.01, 80)
    diagonal = shapely.Polygon([(100, 100), (150, 100), (150, 150)])
    in_hole = shapely.box(40, 40, 60, 60)
    return np.array([outer, islands, sliver, diagonal, in_hole], dtype=object)


@pytest.mark.parametrize("resolution", [1, 7, 64, 1024])
def test_matches_brute_force_on_a_tricky_layer(resolution: int) -> None:
    layer = tricky_layer()
    index = GridIndex(layer, resolution)
    rng = np.random.default_rng(7)
    x = rng.uniform(-10, 160, 20_000)
    y = rng.uniform(-10, 160, 20_000)
    np.testing.assert_array_equal(index.locate(x, y), brute_force(layer, x, y))


@settings(max_examples=150, deadline=None)
@given(
    x=st.floats(-10, 160, allow_nan=False),
    y=st.floats(-10, 160, allow_nan=False),
    resolution=st.sampled_from([3, 50, 333]),
)
def test_one_point_matches_brute_force(x: float, y: float, resolution: int) -> None:
    layer = tricky_layer()
    index = GridIndex(layer, resolution)
    expected = int(brute_force(layer, np.array([x]), np.array([y]))[0])
    assert index.locate_one(x, y) == expected
    assert int(index.locate(np.array([x]), np.array([y]))[0]) == expected


def test_points_on_shared_edges_go_to_the_first_feature() -> None:
    layer = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], dtype=object)
    index = GridIndex(layer, 4)
    assert index.locate(np.array([10.0, 20.0, 20.0001]), np.array([5.0, 5.0, 5.0])).tolist() == [0, 1, -1]


def test_overlapping_features_are_never_answered_from_the_raster() -> None:
    layer = np.array([shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10)], dtype=object)
    index = GridIndex(layer, 30)
    assert index.locate_one(7.5, 5.0) == 0
    assert index.containing(7.5, 5.0).tolist() == [0, 1]
    assert index.classify_box(7.0, 4.0, 8.0, 6.0) is None


def test_nan_and_far_points_are_outside() -> None:
    index = GridIndex(tricky_layer(), 16)
    assert index.locate(np.array([np.nan, 1e9, -1e9]), np.array([5.0, 5.0, np.nan])).tolist() == [-1, -1, -1]
    assert index.locate_one(-1e9, 0.0) == OUTSIDE


def test_classify_box() -> None:
    layer = np.array([shapely.box(0, 0, 100, 100)], dtype=object)
    index = GridIndex(layer, 100)
    assert index.classify_box(40, 40, 60, 60) == 0  # wholly inside
    assert index.classify_box(-50, -50, -40, -40) == OUTSIDE  # wholly outside, off the grid
    assert index.classify_box(90, 40, 110, 60) is None  # straddles the edge
    assert index.classify_box(-1000, -1000, 1000, 1000) is None  # too big to scan: look closer


def test_cells_record_inside_outside_and_boundary() -> None:
    triangle = shapely.Polygon([(0, 0), (100, 0), (0, 100)])
    index = GridIndex(np.array([triangle], dtype=object), 10)
    values = set(np.unique(index.cells).tolist())
    assert values == {0, OUTSIDE, BOUNDARY}
    assert 0 < index.boundary_share < 0.5
    assert index.nbytes == index.cells.nbytes


def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError, match="resolution"):
        GridIndex(tricky_layer(), 0)
