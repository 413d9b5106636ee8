"""AML messages in the record: each message as received, and the fix it became, if it became one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from .database import Database, aware, canonical, inserted_id, iso, utcnow
from .items import item_digest, new_salt
from .rows import fix_row
from .schema import aml_reports, fixes, incidents


def report_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "received_at": iso(row["received_at"]), "transport": row["transport"],
        "msisdn": row["msisdn"], "incident_id": row["incident_id"], "fix_id": row["fix_id"],
        "latitude": row["latitude"], "longitude": row["longitude"], "accuracy": row["accuracy"],
        "device_time": iso(row["device_time"]), "method": row["method"], "confidence": row["confidence"],
    }


class AmlRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, values: Mapping[str, Any], sender: str) -> dict[str, Any]:
        """Keep one message (no incident yet); audited, since it is evidence of where a caller was."""
        row = {
            "received_at": utcnow(), "transport": values["transport"], "msisdn": values["msisdn"],
            "latitude": values.get("latitude"), "longitude": values.get("longitude"),
            "accuracy": values.get("accuracy"), "device_time": values.get("device_time"),
            "method": values["method"], "confidence": values.get("confidence"),
            "detail": canonical(values.get("detail") or {}), "sender": sender[:64],
        }
        async with self.db.begin() as conn:
            result = await conn.execute(aml_reports.insert().values(**row))
            row["id"] = inserted_id(result)
            await self.db.audit(
                conn, sender, "aml.received", None,
                {"report_id": row["id"], "msisdn": row["msisdn"], "transport": row["transport"],
                 "has_fix": row["latitude"] is not None},
            )
        return report_row({**row, "incident_id": None, "fix_id": None})

    async def get(self, report_id: int) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(aml_reports).where(aml_reports.c.id == report_id))).mappings().first()
        return report_row(row) if row else None

    async def open_incident_for(self, msisdn: str, since: datetime) -> str | None:
        """The newest incident for this number that is still open and was opened after ``since``."""
        async with self.db.connect() as conn:
            return (
                await conn.execute(
                    select(incidents.c.id)
                    .where(
                        incidents.c.caller_phone == msisdn, incidents.c.ended_at.is_(None),
                        incidents.c.created_at >= since,
                    )
                    .order_by(incidents.c.created_at.desc())
                    .limit(1)
                )
            ).scalar()

    async def kept_for(self, msisdn: str, since: datetime) -> list[dict[str, Any]]:
        """Messages with a position for this number, received after ``since``, not yet attached."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(aml_reports)
                    .where(
                        aml_reports.c.msisdn == msisdn, aml_reports.c.incident_id.is_(None),
                        aml_reports.c.latitude.is_not(None), aml_reports.c.received_at >= since,
                    )
                    .order_by(aml_reports.c.received_at.desc())
                )
            ).mappings().all()
        return [report_row(r) for r in rows]

    async def attach(
        self, report_id: int, incident_id: str, placement: Mapping[str, Any], actor: str
    ) -> dict[str, Any] | None:
        """Make a kept message a fix of ``incident_id``; None if it is already attached or has no position."""
        async with self.db.begin() as conn:
            report = (
                await conn.execute(select(aml_reports).where(aml_reports.c.id == report_id))
            ).mappings().first()
            if report is None or report["incident_id"] is not None or report["latitude"] is None:
                return None
            values: dict[str, Any] = {
                "incident_id": incident_id, "session_id": None, "seq": report_id,
                "latitude": report["latitude"], "longitude": report["longitude"], "accuracy": report["accuracy"],
                "altitude": None, "heading": None, "speed": None,
                "device_time": aware(report["device_time"]), "received_at": aware(report["received_at"]),
                "placement": canonical(placement), "source": "aml", "salt": new_salt(),
            }
            # Hashed as every fix is (gateway.record.items), so a bundle's verifier finds it in the chain.
            values["sha256"] = item_digest("fix", fix_row({**values, "id": None}))
            result = await conn.execute(fixes.insert().values(**values))
            values["id"] = inserted_id(result)
            await conn.execute(
                update(aml_reports).where(aml_reports.c.id == report_id)
                .values(incident_id=incident_id, fix_id=values["id"])
            )
            await self.db.audit(
                conn, actor, "fix.recorded", incident_id,
                {"source": "aml", "report_id": report_id, "fix_id": values["id"], "sha256": values["sha256"]},
            )
        return fix_row(values)


def report_detail(report: Any) -> dict[str, Any]:
    """The parts of a parsed report worth keeping that have no column of their own."""
    data = report.to_dict()
    return {k: data[k] for k in ("emergency_number", "imei", "imsi", "mcc", "mnc", "call_time") if data.get(k)} | (
        {"extras": dict(report.extras)} if report.extras else {}
    )

