"""gis.fixes: a fix is validated when built; doubtful fixes get flags, unusable ones a reason."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from gis.fixes import Fix, FixLimits, FixRejected, fix_flags, haversine_m, implied_speed_kmh, parse_timestamp

T0 = datetime(2026, 1, 31, 17, 17, 48, tzinfo=UTC)


def test_from_mapping_reads_a_browser_fix() -> None:
    fix = Fix.from_mapping(
        {
            "latitude": 53.7997,
            "longitude": -1.5492,
            "accuracy": 20,
            "altitude": None,
            "heading": None,
            "speed": 1.5,
            "timestamp": T0.timestamp() * 1000,
        }
    )
    assert (fix.latitude, fix.longitude, fix.accuracy, fix.speed) == (53.7997, -1.5492, 20.0, 1.5)
    assert fix.time == T0


def test_fix_is_frozen() -> None:
    fix = Fix(53.8, -1.5)
    with pytest.raises(AttributeError):
        fix.latitude = 0.0  # type: ignore[misc]


def test_timestamp_may_be_missing_or_iso() -> None:
    assert Fix.from_mapping({"latitude": 1, "longitude": 2}).time is None
    assert Fix.from_mapping({"latitude": 1, "longitude": 2, "timestamp": "2026-01-31T17:17:48Z"}).time == T0


def test_naive_time_is_read_as_utc() -> None:
    assert Fix(1, 2, time=datetime(2026, 1, 31, 17, 17, 48)).time == T0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"longitude": -1.5}, "latitude is missing"),
        ({"latitude": 53.8}, "longitude is missing"),
        ({"latitude": None, "longitude": -1.5}, "latitude is missing"),
        ({"latitude": float("nan"), "longitude": -1.5}, "latitude must be finite"),
        ({"latitude": 53.8, "longitude": float("inf")}, "longitude must be finite"),
        ({"latitude": 91, "longitude": -1.5}, "latitude 91 is outside -90..90"),
        ({"latitude": 53.8, "longitude": -180.5}, "longitude -180.5 is outside -180..180"),
        ({"latitude": "north", "longitude": -1.5}, "latitude must be a number"),
        ({"latitude": True, "longitude": -1.5}, "latitude must be a number"),
        ({"latitude": 53.8, "longitude": -1.5, "accuracy": -1}, "accuracy must not be negative"),
        ({"latitude": 53.8, "longitude": -1.5, "accuracy": float("nan")}, "accuracy must be a finite"),
        ({"latitude": 53.8, "longitude": -1.5, "timestamp": float("inf")}, "timestamp must be finite"),
        ({"latitude": 53.8, "longitude": -1.5, "timestamp": "yesterday"}, "timestamp 'yesterday'"),
    ],
)
def test_unusable_fixes_are_rejected_with_a_reason(data: dict[str, object], reason: str) -> None:
    with pytest.raises(FixRejected) as caught:
        Fix.from_mapping(data)
    assert reason in caught.value.reason


def test_a_mapping_is_required() -> None:
    with pytest.raises(FixRejected, match="must be a mapping"):
        Fix.from_mapping([53.8, -1.5])  # type: ignore[arg-type]


def test_constructor_validates_too() -> None:
    with pytest.raises(FixRejected, match="latitude"):
        Fix(latitude=123.0, longitude=0.0)


def test_numeric_strings_are_accepted() -> None:
    assert Fix.from_mapping({"lat": "53.8", "lng": "-1.5"}).longitude == -1.5


def test_optional_extras_never_reject() -> None:
    fix = Fix.from_mapping({"latitude": 53.8, "longitude": -1.5, "heading": float("nan"), "speed": "fast"})
    assert fix.heading is None and fix.speed is None


def test_to_dict_round_trips() -> None:
    fix = Fix(53.8, -1.5, accuracy=12.0, time=T0, heading=90.0)
    assert Fix.from_mapping(fix.to_dict()) == fix


# ----------------------------------------------------------------------------- flags


def test_good_fix_has_no_flags() -> None:
    assert fix_flags(Fix(53.8, -1.5, accuracy=20, time=T0), now=T0 + timedelta(seconds=5)) == []


def test_coarse_accuracy_is_over_one_kilometre_by_default() -> None:
    assert fix_flags(Fix(53.8, -1.5, accuracy=1000)) == []
    assert fix_flags(Fix(53.8, -1.5, accuracy=1000.5)) == ["coarse_accuracy"]
    assert fix_flags(Fix(53.8, -1.5, accuracy=600), limits=FixLimits(coarse_accuracy_m=500)) == [
        "coarse_accuracy"
    ]


def test_missing_accuracy_is_flagged() -> None:
    assert fix_flags(Fix(53.8, -1.5)) == ["no_accuracy"]


def test_stale_and_future_fixes_are_flagged() -> None:
    fix = Fix(53.8, -1.5, accuracy=10, time=T0)
    assert fix_flags(fix, now=T0 + timedelta(seconds=61)) == ["stale"]
    assert fix_flags(fix, now=T0 + timedelta(seconds=59)) == []
    assert fix_flags(fix, now=T0 - timedelta(minutes=5)) == ["future_time"]


def test_gps_jump_is_an_implied_speed_over_250_kmh() -> None:
    before = Fix(53.8, -1.5, accuracy=10, time=T0)
    # About 11.1 km north in 60 s is about 667 km/h.
    jumped = Fix(53.9, -1.5, accuracy=10, time=T0 + timedelta(seconds=60))
    assert "gps_jump" in fix_flags(jumped, previous=before, now=jumped.time)
    # The same distance in an hour is a car.
    driven = Fix(53.9, -1.5, accuracy=10, time=T0 + timedelta(hours=1))
    assert "gps_jump" not in fix_flags(driven, previous=before, now=driven.time)


def test_overlapping_accuracy_circles_never_imply_a_jump() -> None:
    before = Fix(53.8, -1.5, accuracy=500, time=T0)
    after = Fix(53.805, -1.5, accuracy=500, time=T0 + timedelta(seconds=1))  # 556 m apart
    assert implied_speed_kmh(before, after) == 0.0


def test_speed_needs_both_times() -> None:
    assert implied_speed_kmh(Fix(53.8, -1.5), Fix(53.9, -1.5, time=T0)) is None


def test_two_places_at_once_is_infinite_speed() -> None:
    assert implied_speed_kmh(Fix(53.8, -1.5, time=T0), Fix(53.9, -1.5, time=T0)) == math.inf


def test_haversine_is_about_111_km_per_degree_of_latitude() -> None:
    assert haversine_m(53.0, -1.5, 54.0, -1.5) == pytest.approx(111_195, rel=1e-3)


def test_parse_timestamp_from_milliseconds() -> None:
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_timestamp(None) is None


@pytest.mark.parametrize("extra,message", [
    ({"altitude": 250_000}, "altitude 250000 m is outside"),
    ({"altitude": -5_000}, "altitude -5000 m is outside"),
    ({"heading": 361}, "heading 361 degrees is outside"),
    ({"heading": -1}, "heading -1 degrees is outside"),
    ({"speed": -3}, "speed -3 m/s is outside"),
    ({"speed": 1e9}, "speed 1e+09 m/s is outside"),
    ({"accuracy": 1e12}, "accuracy 1e+12 m is more than half"),
    ({"timestamp": 4102444800000 + 1}, "is outside 2000..2099"),
    ({"timestamp": 1000}, "is outside 2000..2099"),
])
def test_values_no_position_report_can_hold_are_refused_with_the_reason(extra, message):
    with pytest.raises(FixRejected, match=re.escape(message)):
        Fix.from_mapping({"latitude": 53.8, "longitude": -1.55, **extra})


def test_extras_that_are_missing_or_not_finite_are_dropped_not_refused():
    fix = Fix.from_mapping({"latitude": 53.8, "longitude": -1.55, "heading": float("nan"), "speed": None,
                            "altitude": 0, "accuracy": 20_000_000})
    assert (fix.heading, fix.speed, fix.altitude, fix.accuracy) == (None, None, 0.0, 20_000_000.0)
