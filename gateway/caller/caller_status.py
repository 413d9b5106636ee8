"""The caller's side as their page reports it: browser, permissions, network, battery, and what it
is sharing and how (the fallback ladder's step).

The page sends ``{"type": "status", ...}`` over the data channel, or ``POST /c/{token}/status``
when the channel is down. Only known fields of known types are kept, each bounded. The latest
report of each incident is held in memory and published as ``caller.status``; a change of sharing
mode or of a permission also goes into the audit chain, since it says what the record can hold.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ..events import EventBus
from ..i18n import LANGUAGES
from ..record import Database
from ..record.database import iso, utcnow

log = logging.getLogger(__name__)

# What the page is sending: live video (full or reduced), still photos over HTTPS, location only,
# or nothing yet ("starting") or for now ("offline").
CAMERA_STATES = ("live", "muted", "ended")
MODES = ("starting", "video", "video_low", "stills", "location", "offline")
TRANSPORTS = ("webrtc", "https", "none")
PERMISSION_STATES = ("granted", "denied", "prompt", "unknown", "unsupported")
FACINGS = ("user", "environment")
_REMEMBERED = 1000


class BadStatus(ValueError):
    pass


def _text(value: Any, limit: int) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or not low <= value <= high:  # NaN or out of range
        return None
    return value


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _section(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def clean(report: Any) -> dict[str, Any]:
    """The report's known fields, typed and bounded; :class:`BadStatus` when it is not a report."""
    if not isinstance(report, Mapping):
        raise BadStatus("a status report is a JSON object")
    mode = _choice(report.get("mode"), MODES)
    if mode is None:
        raise BadStatus(f"mode must be one of {', '.join(MODES)}")
    browser = _section(report.get("browser"))
    permissions = _section(report.get("permissions"))
    network = _section(report.get("network"))
    battery = _section(report.get("battery"))
    camera = _section(report.get("camera"))
    return {
        "mode": mode,
        "transport": _choice(report.get("transport"), TRANSPORTS),
        "browser": {
            "name": _text(browser.get("name"), 40), "version": _text(browser.get("version"), 24),
            "os": _text(browser.get("os"), 40), "in_app": _text(browser.get("in_app"), 40),
            "live_view": _flag(browser.get("live_view")),
        },
        "permissions": {
            "camera": _choice(permissions.get("camera"), PERMISSION_STATES),
            "geolocation": _choice(permissions.get("geolocation"), PERMISSION_STATES),
        },
        "network": {
            "online": _flag(network.get("online")),
            "type": _text(network.get("type"), 20),
            "effective_type": _text(network.get("effective_type"), 10),
            "downlink_mbps": _number(network.get("downlink_mbps"), 0, 100_000),
            "rtt_ms": _number(network.get("rtt_ms"), 0, 600_000),
            "save_data": _flag(network.get("save_data")),
            # The media path's own round trip (RTCP / ICE), not the data channel's.
            "media_rtt_ms": _number(network.get("media_rtt_ms"), 0, 600_000),
        },
        "battery": {
            "level": _number(battery.get("level"), 0, 1),
            "charging": _flag(battery.get("charging")),
        } if battery else None,
        "camera": {
            "facing": _choice(camera.get("facing"), FACINGS),
            "torch": _flag(camera.get("torch")),
            "torch_supported": _flag(camera.get("torch_supported")),
            "width": _number(camera.get("width"), 0, 10_000),
            "height": _number(camera.get("height"), 0, 10_000),
            "frame_rate": _number(camera.get("frame_rate"), 0, 240),
            # "live", "muted" (the phone paused it) or "ended" (it stopped; the page tries again)
            "state": _choice(camera.get("state"), CAMERA_STATES),
            "cameras": _number(camera.get("cameras"), 0, 16),
        },
        "language": _choice(report.get("language"), LANGUAGES),
        "discreet": _flag(report.get("discreet")),
        "pending_fixes": _number(report.get("pending_fixes"), 0, 1_000_000),
    }


class CallerStatuses:
    def __init__(self, db: Database, events: EventBus) -> None:
        self.db = db
        self.events = events
        self._latest: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def latest(self, incident_id: str) -> dict[str, Any] | None:
        return self._latest.get(incident_id)

    def language(self, incident_id: str) -> str | None:
        status = self._latest.get(incident_id)
        return status.get("language") if status else None

    async def report(self, incident_id: str, link_id: str, report: Any, via: str) -> dict[str, Any]:
        """Keep and publish one report from the caller's page (``via`` "webrtc" or "https")."""
        status = clean(report)
        status.update(link_id=link_id, via=via, at=iso(utcnow()))
        previous = self._latest.get(incident_id)
        self._latest[incident_id] = status
        self._latest.move_to_end(incident_id)
        while len(self._latest) > _REMEMBERED:
            self._latest.popitem(last=False)
        self.events.publish("caller.status", incident_id, status)
        if previous is None or _essentials(previous) != _essentials(status):
            await self.db.record_action("caller", "caller.mode", incident_id, **_essentials(status), link_id=link_id)
        return status

    def forget(self, incident_id: str) -> None:
        self._latest.pop(incident_id, None)


def _essentials(status: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mode": status["mode"], "transport": status["transport"],
        "camera": status["permissions"]["camera"], "geolocation": status["permissions"]["geolocation"],
        # A camera that stopped changes what the record can hold, as a refused one does.
        "camera_state": status["camera"]["state"],
    }
