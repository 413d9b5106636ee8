"""The ``Fix`` value type (one reported position) and its sanity checks.

A fix is rejected outright, with a reason, when its position cannot be a position: missing,
non-finite or out-of-range coordinates, or a negative accuracy. Everything else that makes a fix
doubtful but usable (coarse accuracy, an old timestamp, an impossible jump from the previous fix)
becomes a flag on the placement, so the operator sees it and the position is still shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EARTH_RADIUS_M = 6_371_008.8

# What a position report can physically hold. Beyond these a value is not doubtful but wrong,
# and the fix is refused with the reason (a huge accuracy circle would also cost the placer dear).
MAX_ACCURACY_M = 20_037_500.0
EXTRA_RANGES: dict[str, tuple[float, float, str]] = {
    "altitude": (-1_000.0, 100_000.0, "m"),   # below the Dead Sea shore .. the edge of space
    "heading": (0.0, 360.0, "degrees"),
    "speed": (0.0, 1_000.0, "m/s"),           # faster than any aircraft a caller is in
}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

# Flags raised by ``fix_flags``.
COARSE_ACCURACY = "coarse_accuracy"
NO_ACCURACY = "no_accuracy"
STALE = "stale"
FUTURE_TIME = "future_time"
GPS_JUMP = "gps_jump"


class FixRejected(ValueError):
    """A fix that cannot be placed. ``reason`` says why, in words fit for a log or an operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fix:
    """A position report: WGS84 latitude and longitude in degrees, accuracy in metres, time.

    ``accuracy`` is the horizontal radius of 68 % confidence, as browsers and AML report it; ``None``
    when unknown. ``time`` is when the position was measured (timezone-aware; a naive value is read
    as UTC). Constructing a ``Fix`` validates it and raises ``FixRejected`` when it is unusable.
    """

    latitude: float
    longitude: float
    accuracy: float | None = None
    time: datetime | None = None
    altitude: float | None = None
    heading: float | None = None
    speed: float | None = None

    def __post_init__(self) -> None:
        lat = _coordinate(self.latitude, "latitude", 90.0)
        lon = _coordinate(self.longitude, "longitude", 180.0)
        acc = self.accuracy
        if acc is not None:
            acc = _number(acc, "accuracy")
            if not math.isfinite(acc):
                raise FixRejected(f"accuracy must be a finite number of metres, got {self.accuracy!r}")
            if acc < 0:
                raise FixRejected(f"accuracy must not be negative, got {acc:g} m")
            if acc > MAX_ACCURACY_M:
                raise FixRejected(f"accuracy {acc:g} m is more than half the Earth's circumference")
        time = self.time
        if time is not None:
            if not isinstance(time, datetime):
                raise FixRejected(f"time must be a datetime, got {type(time).__name__}")
            if time.tzinfo is None:
                time = time.replace(tzinfo=UTC)
            if not EARLIEST <= time <= LATEST:
                raise FixRejected(f"time {time.isoformat()} is outside {EARLIEST.year}..{LATEST.year - 1}")
        object.__setattr__(self, "latitude", lat)
        object.__setattr__(self, "longitude", lon)
        object.__setattr__(self, "accuracy", acc)
        object.__setattr__(self, "time", time)
        # Optional extras that are missing or not finite are dropped, not refused: browsers
        # report heading as NaN when standing still. A finite value out of its range is refused.
        for name, (low, high, unit) in EXTRA_RANGES.items():
            value = _optional(getattr(self, name))
            if value is not None and not low <= value <= high:
                raise FixRejected(f"{name} {value:g} {unit} is outside {low:g}..{high:g}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Fix:
        """Build a fix from a browser- or AML-shaped mapping.

        Keys: ``latitude``, ``longitude`` (required), ``accuracy``, ``altitude``, ``heading``,
        ``speed`` and ``timestamp`` (milliseconds since the Unix epoch, as the Geolocation API gives
        it; an ISO 8601 string is accepted too). ``lat``/``lon``/``lng`` are accepted as aliases.
        """
        if not isinstance(data, Mapping):
            raise FixRejected(f"a fix must be a mapping, got {type(data).__name__}")
        lat = _first(data, ("latitude", "lat"))
        lon = _first(data, ("longitude", "lon", "lng"))
        if lat is None:
            raise FixRejected("latitude is missing")
        if lon is None:
            raise FixRejected("longitude is missing")
        return cls(
            latitude=lat,
            longitude=lon,
            accuracy=data.get("accuracy"),
            time=parse_timestamp(data.get("timestamp", data.get("time"))),
            altitude=_optional(data.get("altitude")),
            heading=_optional(data.get("heading")),
            speed=_optional(data.get("speed")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fix as JSON-able data; ``timestamp`` in milliseconds since the epoch."""
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "accuracy": self.accuracy,
            "altitude": self.altitude,
            "heading": self.heading,
            "speed": self.speed,
            "timestamp": None if self.time is None else round(self.time.timestamp() * 1000),
        }


@dataclass(frozen=True)
class FixLimits:
    """Thresholds for the sanity flags."""

    coarse_accuracy_m: float = 1000.0
    stale_after_s: float = 60.0
    max_speed_kmh: float = 250.0
    future_tolerance_s: float = 30.0


def fix_flags(
    fix: Fix,
    previous: Fix | None = None,
    now: datetime | None = None,
    limits: FixLimits = FixLimits(),
) -> list[str]:
    """The sanity flags for ``fix``: coarse or missing accuracy, stale or future time, GPS jump."""
    flags: list[str] = []
    if fix.accuracy is None:
        flags.append(NO_ACCURACY)
    elif fix.accuracy > limits.coarse_accuracy_m:
        flags.append(COARSE_ACCURACY)
    if fix.time is not None:
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        age = (now - fix.time).total_seconds()
        if age > limits.stale_after_s:
            flags.append(STALE)
        elif age < -limits.future_tolerance_s:
            flags.append(FUTURE_TIME)
    if previous is not None:
        speed = implied_speed_kmh(previous, fix)
        if speed is not None and speed > limits.max_speed_kmh:
            flags.append(GPS_JUMP)
    return flags


def implied_speed_kmh(previous: Fix, fix: Fix) -> float | None:
    """The speed needed to move from ``previous`` to ``fix``, in km/h; ``None`` without both times.

    The distance counted is what lies beyond both accuracy circles, so two honest fixes whose
    circles overlap never imply a jump. Two different positions at the same instant give infinity.
    """
    if previous.time is None or fix.time is None:
        return None
    distance = haversine_m(previous.latitude, previous.longitude, fix.latitude, fix.longitude)
    distance -= (previous.accuracy or 0.0) + (fix.accuracy or 0.0)
    if distance <= 0:
        return 0.0
    seconds = abs((fix.time - previous.time).total_seconds())
    if seconds == 0:
        return math.inf
    return distance / seconds * 3.6


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean Earth sphere (good to 0.5 % for jump checks)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def parse_timestamp(value: Any) -> datetime | None:
    """Milliseconds since the epoch, an ISO 8601 string or a datetime, as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise FixRejected(
                    f"timestamp {value!r} is neither milliseconds since the epoch nor ISO 8601"
                ) from None
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    ms = _number(value, "timestamp")
    if not math.isfinite(ms):
        raise FixRejected(f"timestamp must be finite, got {value!r}")
    try:
        return datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise FixRejected(f"timestamp {value!r} ms is out of range") from None


def _coordinate(value: Any, name: str, limit: float) -> float:
    number = _number(value, name)
    if not math.isfinite(number):
        raise FixRejected(f"{name} must be finite, got {value!r}")
    if not -limit <= number <= limit:
        raise FixRejected(f"{name} {number:g} is outside -{limit:g}..{limit:g}")
    return number


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or value is None:
        raise FixRejected(f"{name} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    try:
        return float(value)  # numpy scalars, Decimal
    except (TypeError, ValueError):
        raise FixRejected(f"{name} must be a number, got {value!r}") from None


def _optional(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None
