"""gis.search: what a caller or colleague says, read as a place."""

from __future__ import annotations

import pytest

from gis.grid import to_bng
from gis.search import Location, PostcodeQuery, SearchError, interpret, parse_grid_reference


def location(text: str) -> Location:
    found = interpret(text)
    assert isinstance(found, Location), f"{text!r} read as {found!r}"
    return found


@pytest.mark.parametrize(
    ("text", "easting", "northing", "size"),
    [
        # Ben Nevis, the Ordnance Survey's own worked example: NN 166 712 is 216600, 771200.
        ("NN 166 712", 216_600 + 50, 771_200 + 50, 100),
        ("SE 29790 33803", 429_790.5, 433_803.5, 1),
        ("se2979033803", 429_790.5, 433_803.5, 1),
        ("SE 2979 3380", 429_795, 433_805, 10),
        ("TQ 30 80", 530_500, 180_500, 1000),  # central London
        ("HU 4 4", 440_000 + 5000, 1_140_000 + 5000, 10_000),  # Shetland, the far north
        ("SV 91 10", 91_500, 10_500, 1000),  # Isles of Scilly, the south-west corner
    ],
)
def test_grid_references_of_every_precision(text: str, easting: float, northing: float, size: float) -> None:
    found = location(text)
    assert found.kind == "gridref"
    assert (found.easting, found.northing, found.precision_m) == (easting, northing, size)


def test_grid_reference_lands_where_the_fix_was() -> None:
    e, n, _ = to_bng(53.7997, -1.5492)
    found = location("SE 29790 33803")
    assert abs(found.easting - e) < 1 and abs(found.northing - n) < 1
    assert (found.latitude, found.longitude) == pytest.approx((53.7997, -1.5492), abs=2e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SE 2979 338", "same number of figures"),
        ("SE 29790338031", "2, 4, 6, 8 or 10 figures"),
    ],
)
def test_impossible_grid_references_say_why(text: str, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        interpret(text)


def test_a_grid_reference_split_unevenly_is_refused() -> None:
    with pytest.raises(SearchError, match="same number of figures"):
        parse_grid_reference("SE 297 33803")


@pytest.mark.parametrize(
    "text",
    ["429790 433803", "429790, 433803", "E 429790 N 433803", "429790E 433803N", "Easting: 429790, Northing: 433803"],
)
def test_eastings_and_northings(text: str) -> None:
    found = location(text)
    assert found.kind == "en" and (found.easting, found.northing) == (429_790, 433_803)
    assert "SE 29790 33803" in found.label
    assert (found.latitude, found.longitude) == pytest.approx((53.7997, -1.5492), abs=2e-5)


def test_eastings_off_the_grid_are_refused() -> None:
    with pytest.raises(SearchError, match="off the National Grid"):
        interpret("800000 433803")
    with pytest.raises(SearchError, match="neither degrees nor metres"):
        interpret("53 433803")


@pytest.mark.parametrize(
    "text",
    [
        "53.7997, -1.5492",
        "53.7997 -1.5492",
        "53.7997N 1.5492W",
        "N53.7997 W1.5492",
        "53.7997° N, 1.5492° W",
        "1.5492W 53.7997N",  # hemisphere letters make the order clear
    ],
)
def test_decimal_degrees(text: str) -> None:
    found = location(text)
    assert found.kind == "latlon"
    assert (found.latitude, found.longitude) == pytest.approx((53.7997, -1.5492), abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "53°47'58.9\"N 1°32'57.1\"W",
        "53° 47′ 58.9″ N, 1° 32′ 57.1″ W",
        "53 47 58.9 N 1 32 57.1 W",
        "N 53 47 58.9 W 1 32 57.1",
        "53 47 58.9, -1 32 57.1",
    ],
)
def test_degrees_minutes_seconds(text: str) -> None:
    found = location(text)
    # 53 + 47/60 + 58.9/3600 and 1 + 32/60 + 57.1/3600, worked by hand.
    assert (found.latitude, found.longitude) == pytest.approx((53.799694, -1.549194), abs=1e-6)


def test_degrees_and_decimal_minutes() -> None:
    found = location("53°47.982'N 1°32.952'W")
    assert (found.latitude, found.longitude) == pytest.approx((53.7997, -1.5492), abs=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("95.1, -1.5", "latitude 95.1"),
        ("53.1, 190", "longitude 190"),
        ("53 61 00 N 1 0 0 W", "under 60"),
        ("-53.5S 1.5W", "say the same thing twice"),
        ("1.5W, 53.5", "latitude \\(N/S\\) first"),
    ],
)
def test_impossible_positions_say_why(text: str, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        interpret(text)


@pytest.mark.parametrize(
    ("text", "postcode"), [("LS1 1UR", "LS1 1UR"), ("ls11ur", "LS1 1UR"), ("EC1A 1BB", "EC1A 1BB")]
)
def test_postcodes_are_normalised_for_lookup(text: str, postcode: str) -> None:
    assert interpret(text) == PostcodeQuery(postcode)


@pytest.mark.parametrize(
    "text", ["WY-2024-0001", "incident 42", "", "   ", "Leeds", "LS1", "LS12", "ZZ 100 100", "x" * 200]
)
def test_anything_else_is_not_a_place(text: str) -> None:
    assert interpret(text) is None


def test_to_dict_is_rounded_for_json() -> None:
    data = location("SE 29790 33803").to_dict()
    assert data["kind"] == "gridref" and data["precision_m"] == 1
    assert data["easting"] == 429790.5 and isinstance(data["latitude"], float)
