"""Advanced Mobile Location (AML): the position a handset sends by itself when it dials 999.

Two transports carry the same content (ETSI TS 103 625 V1.3.1, 2023-03, "Transporting Handset
Location to PSAPs for Emergency Communications - Advanced Mobile Location"; the field names below are
those of its SMS and HTTPS annexes, which Android's Emergency Location Service follows as "ELS V1"):

* the SMS text form, ``A"ML=1;lt=+51.53321;lg=-0.12601;rd=14;top=20220131171748;lc=68;pm=W;...;ml=126``:
  ``;``-separated ``key=value`` pairs, the last one ``ml``, the length of the whole message
  (header and ``ml`` included) so that a truncated or concatenated text is caught;
* the HTTPS form, an ``application/x-www-form-urlencoded`` POST with ``location_latitude``,
  ``location_longitude``, ``location_accuracy`` (metres), ``location_time`` (milliseconds since
  the epoch), ``location_source``, ``location_confidence`` (0..1), ``device_number``,
  ``emergency_number``, ``device_imei``, ``device_imsi`` and more.

Both become one ``AmlReport``. A message without a usable position (``rd=N``, ``pm=N``, missing or
zero latitude/longitude) is a report with ``fix`` None: it still says that the number rang 999.
Pure: text in, values out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gis.fixes import Fix, FixRejected

SMS_HEADER = 'A"ML='
MAX_SMS_LENGTH = 1024  # a real AML text is about 130 characters; anything far longer is not AML

# SMS ``pm`` and HTTPS ``location_source`` in one vocabulary.
_SMS_METHODS = {"G": "gnss", "W": "wifi", "C": "cell", "N": "none"}
_HTTPS_METHODS = {"gps": "gnss", "gnss": "gnss", "wifi": "wifi", "cell": "cell", "unknown": "unknown"}
_DIGITS = re.compile(r"^\+?[0-9]{1,20}$")


class AmlError(ValueError):
    """A message that is not AML, or is damaged (wrong length, unreadable field)."""


@dataclass(frozen=True)
class AmlReport:
    """One AML message, whichever way it came.

    ``fix`` is the position (accuracy is ETSI's radius at ``confidence`` per cent; None when the
    handset had no position). ``msisdn`` is the caller's number when the message carries it
    (HTTPS ``device_number``); an SMS carries none in its text: the receiver takes it from the SMS
    envelope. Identifiers (IMEI, IMSI) are kept as sent so an operator can match a handset, never
    shown on the map.
    """

    transport: str  # "sms" or "https"
    fix: Fix | None
    method: str  # "gnss", "wifi", "cell", "none" or "unknown"
    confidence: float | None = None  # per cent
    msisdn: str | None = None
    emergency_number: str | None = None
    imei: str | None = None
    imsi: str | None = None
    mcc: str | None = None
    mnc: str | None = None
    call_time: datetime | None = None
    extras: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "transport": self.transport,
            "fix": None if self.fix is None else self.fix.to_dict(),
            "method": self.method,
            "confidence": self.confidence,
            "msisdn": self.msisdn,
            "emergency_number": self.emergency_number,
            "imei": self.imei,
            "imsi": self.imsi,
            "mcc": self.mcc,
            "mnc": self.mnc,
            "call_time": None if self.call_time is None else self.call_time.isoformat(),
        }


def parse_sms(text: str) -> AmlReport:
    """Parse the AML SMS text form. Raises ``AmlError`` for anything that is not whole AML."""
    if not isinstance(text, str):
        raise AmlError("an AML text must be a string")
    text = text.strip("\r\n")
    if len(text) > MAX_SMS_LENGTH:
        raise AmlError(f"too long for an AML text ({len(text)} characters)")
    if not text.startswith(SMS_HEADER):
        raise AmlError('not an AML text: it does not start with A"ML=')
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            raise AmlError(f"field {part[:20]!r} has no '='")
        if key in pairs:
            raise AmlError(f"field {key!r} appears twice")
        pairs[key] = value
    version = pairs.pop('A"ML')
    if version != "1":
        raise AmlError(f"unsupported AML version {version!r}")
    if "ml" not in pairs:
        raise AmlError("the message length field ml is missing (the text may be cut short)")
    declared = _int(pairs.pop("ml"), "ml")
    if declared != len(text):
        raise AmlError(f"the text is {len(text)} characters but ml says {declared}: damaged or cut short")
    method = _SMS_METHODS.get(pairs.pop("pm", "N").upper(), "unknown")
    radius = pairs.pop("rd", "N")
    lat, lon = pairs.pop("lt", ""), pairs.pop("lg", "")
    confidence = _optional_float(pairs.pop("lc", ""), "lc")
    when = _sms_time(pairs.pop("top", ""))
    fix = None
    if method != "none" and radius.upper() != "N" and lat and lon:
        latitude, longitude = _float(lat, "lt"), _float(lon, "lg")
        if not (latitude == 0 and longitude == 0):
            fix = _fix(latitude, longitude, _float(radius, "rd"), when)
    return AmlReport(
        transport="sms", fix=fix, method=method,
        confidence=confidence, imei=_ident(pairs.pop("ei", None)), imsi=_ident(pairs.pop("si", None)),
        mcc=_ident(pairs.pop("mcc", None)), mnc=_ident(pairs.pop("mnc", None)), extras=pairs,
    )


def parse_https(form: Mapping[str, str]) -> AmlReport:
    """Parse the AML HTTPS form fields (already URL-decoded). Raises ``AmlError`` when damaged.

    Every field is optional in the specification; a message with no latitude or longitude is a
    report without a fix. A present but unreadable number is an error, not a silent omission.
    """
    def get(name: str) -> str | None:
        value = form.get(name)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    lat, lon = get("location_latitude"), get("location_longitude")
    source = (get("location_source") or "unknown").lower()
    method = _HTTPS_METHODS.get(source, "unknown")
    confidence = _optional_float(get("location_confidence") or "", "location_confidence")
    if confidence is not None:
        if not 0 <= confidence <= 1:
            raise AmlError(f"location_confidence must be between 0 and 1, got {confidence:g}")
        confidence = round(confidence * 100, 2)
    fix = None
    if lat is not None and lon is not None:
        accuracy = _optional_float(get("location_accuracy") or "", "location_accuracy")
        fix = _fix(
            _float(lat, "location_latitude"), _float(lon, "location_longitude"), accuracy,
            _millis(get("location_time"), "location_time"),
            altitude=_optional_float(get("location_altitude") or "", "location_altitude"),
            heading=_optional_float(get("location_bearing") or "", "location_bearing"),
            speed=_optional_float(get("location_speed") or "", "location_speed"),
        )
    number = get("device_number")
    if number is not None and not _DIGITS.match(number.replace(" ", "")):
        raise AmlError("device_number is not a telephone number")
    known = {
        "location_latitude", "location_longitude", "location_source", "location_confidence",
        "location_accuracy", "location_time", "location_altitude", "location_bearing", "location_speed",
        "device_number", "emergency_number", "device_imei", "device_imsi", "cell_network_mcc",
        "cell_network_mnc", "time",
    }
    extras = {k: str(v)[:200] for k, v in form.items() if k not in known and len(k) <= 64}
    return AmlReport(
        transport="https", fix=fix, method=method, confidence=confidence,
        msisdn=None if number is None else number.replace(" ", ""),
        emergency_number=_ident(get("emergency_number")), imei=_ident(get("device_imei")),
        imsi=_ident(get("device_imsi")), mcc=_ident(get("cell_network_mcc")),
        mnc=_ident(get("cell_network_mnc")), call_time=_millis(get("time"), "time"), extras=extras,
    )


# -- helpers --------------------------------------------------------------------------------------

def _fix(
    latitude: float, longitude: float, accuracy: float | None, when: datetime | None,
    altitude: float | None = None, heading: float | None = None, speed: float | None = None,
) -> Fix:
    try:
        return Fix(latitude, longitude, accuracy, when, altitude, heading, speed)
    except FixRejected as exc:
        raise AmlError(f"unusable position: {exc.reason}") from None


def _float(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise AmlError(f"{name} is not a number: {value[:20]!r}") from None
    if not math.isfinite(number):
        raise AmlError(f"{name} is not a finite number")
    return number


def _optional_float(value: str, name: str) -> float | None:
    return None if value == "" else _float(value, name)


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise AmlError(f"{name} is not a whole number: {value[:20]!r}")
    return int(value)


def _sms_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise AmlError(f"top is not a yyyyMMddHHmmss time: {value[:20]!r}") from None


def _millis(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    millis = _float(value, name)
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise AmlError(f"{name} is out of range") from None


def _ident(value: str | None) -> str | None:
    if value is None:
        return None
    return value[:32]
