"""What becomes of an AML message: a fix of the caller's open incident, or a position kept for later.

A message whose number has an incident that is open and was opened within ``window_seconds`` becomes
a fix of that incident (source ``aml``), placed against the boundaries and published like any other
fix, so it appears on the dispatcher's map at once. Otherwise it is kept, and offered to the handler
who opens an incident for that number within the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gis import Fix, Placer
from gis.aml import AmlReport

from ..events import EventBus
from ..record.aml import AmlRecords, report_detail
from ..record.database import utcnow
from .phones import PhoneError, normalise_mobile

DEFAULT_WINDOW_SECONDS = 3600


class AmlRefused(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AmlOutcome:
    outcome: str  # "attached", "kept" or "no_fix"
    report: dict[str, Any]
    incident_id: str | None = None
    fix: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome, "report_id": self.report["id"], "incident_id": self.incident_id,
            "fix_id": None if self.fix is None else self.fix["id"],
        }


class AmlIntake:
    def __init__(self, records: AmlRecords, events: EventBus, placer: Placer, window_seconds: int) -> None:
        self.records = records
        self.events = events
        self.placer = placer
        self.window = timedelta(seconds=window_seconds)

    async def receive(self, report: AmlReport, envelope_number: str | None, sender: str) -> AmlOutcome:
        raw = report.msisdn or envelope_number
        if not raw:
            raise AmlRefused("no_number", "the message carries no caller number (device_number, or the SMS sender)")
        try:
            msisdn = normalise_mobile(raw)
        except PhoneError as exc:
            raise AmlRefused("invalid_number", f"the caller number is unusable: {exc}") from None
        fix = report.fix
        stored = await self.records.add(
            {
                "transport": report.transport, "msisdn": msisdn, "method": report.method,
                "confidence": report.confidence, "detail": report_detail(report),
                **({} if fix is None else {
                    "latitude": fix.latitude, "longitude": fix.longitude, "accuracy": fix.accuracy,
                    "device_time": fix.time,
                }),
            },
            sender,
        )
        if fix is None:
            return AmlOutcome("no_fix", stored)
        incident_id = await self.records.open_incident_for(msisdn, utcnow() - self.window)
        if incident_id is None:
            return AmlOutcome("kept", stored)
        attached = await self.attach(stored["id"], incident_id, sender)
        return AmlOutcome("attached" if attached else "kept", stored, incident_id if attached else None, attached)

    async def attach(self, report_id: int, incident_id: str, actor: str) -> dict[str, Any] | None:
        """Make a kept message a fix of the incident, placed and published; None if it cannot be."""
        report = await self.records.get(report_id)
        if report is None or report["latitude"] is None:
            return None
        when = report["device_time"]
        fix = Fix(
            report["latitude"], report["longitude"], report["accuracy"],
            datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
        )
        placement = self.placer.place(fix).to_dict()
        stored = await self.records.attach(report_id, incident_id, placement, actor)
        if stored is not None:
            self.events.publish("fix", incident_id, stored)
        return stored

    async def offers(self, msisdn: str) -> list[dict[str, Any]]:
        """Kept positions for this number, newest first, that a handler may add to a new incident."""
        return await self.records.kept_for(msisdn, utcnow() - self.window)
