"""gis.columns: latitude, longitude and postcode columns found by name."""

from __future__ import annotations

import pytest

from gis.columns import LATITUDE, LONGITUDE, POSTCODE, ColumnError, find_column, find_optional


@pytest.mark.parametrize(
    ("header", "lat", "lon"),
    [
        (["id", "latitude", "longitude"], 1, 2),
        (["Postcode", "lat", "long"], 1, 2),
        (["LAT", "LNG"], 0, 1),
        (["\ufeffLatitude", "Lon"], 0, 1),
        (["x", "WGS84 Lat", "WGS84_Long"], 1, 2),
    ],
)
def test_lat_lon_detection(header: list[str], lat: int, lon: int) -> None:
    assert find_column(header, LATITUDE, "latitude") == lat
    assert find_column(header, LONGITUDE, "longitude") == lon


def test_pcds_is_preferred_over_other_nspl_forms() -> None:
    assert find_column(["pcd", "pcd2", "pcds", "lat", "long"], POSTCODE, "postcode") == 2


def test_given_name_wins_and_must_exist() -> None:
    assert find_column(["a", "b"], LATITUDE, "latitude", given="B") == 1
    with pytest.raises(ColumnError, match=r"no column 'c' for the latitude \(columns: a, b\)"):
        find_column(["a", "b"], LATITUDE, "latitude", given="c")


def test_missing() -> None:
    with pytest.raises(ColumnError, match="cannot find the latitude column"):
        find_column(["a"], LATITUDE, "latitude")
    assert find_optional(["a"], LATITUDE) is None
