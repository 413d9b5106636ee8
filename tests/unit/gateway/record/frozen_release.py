"""The record as releases before migrations left it on disk: frozen here, never to be edited.

Those releases made their tables with ``metadata.create_all`` and no ``alembic_version``. The
newest of them had exactly the tables below; a data directory begun with the first one (commit
6eac76a) and carried on with later ones lacks the columns that came later (``create_all`` never
altered a table), and one never started by a later release lacks their tables too.

:func:`fill` writes real rows as those releases wrote them, with the audit chain hashed as they
hashed it (``prev|at|actor|action|incident|detail``), so an upgraded database must still show
every row and still verify.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# What a data directory begun with the first release and carried on with later ones lacks.
LATE_COLUMNS = {
    "operators": ("preferences", "must_change_password"),
    "incidents": ("snapshot_interval", "scene_change", "recording"),
    "links": ("language",),
    "snapshots": ("thumb_sha256",),
}
LATE_INDEXES = {("sessions", "link_id")}
# What one never started by a release after the first lacks on top of that.
LATE_TABLES = ("embed_tokens", "recordings", "caller_messages")

STAGES = ("last release", "first release, later started", "first release")


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def release_metadata(stage: str) -> MetaData:
    """The tables a data directory at ``stage`` (one of :data:`STAGES`) has."""
    late_columns = stage != "last release"
    late_tables = stage == "first release"
    m = MetaData()

    def table(name: str, *items: Any) -> None:
        if late_tables and name in LATE_TABLES:
            return
        keep = []
        for item in items:
            if isinstance(item, Column):
                if late_columns and item.name in LATE_COLUMNS.get(name, ()):
                    continue
                if late_columns and (name, item.name) in LATE_INDEXES:
                    item.index = None
            keep.append(item)
        Table(name, m, *keep)

    table("operators",
          Column("id", Integer, primary_key=True),
          Column("username", String(64), nullable=False, unique=True),
          Column("role", String(16), nullable=False),
          Column("password_hash", String(200), nullable=False),
          _ts("created_at"), _ts("disabled_at", True),
          Column("preferences", Text),
          Column("must_change_password", Boolean, nullable=False, default=False))
    table("embed_tokens",
          Column("token_hash", String(64), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False),
          Column("created_by", String(64), nullable=False),
          _ts("created_at"), _ts("expires_at"), _ts("revoked_at", True))
    table("api_tokens",
          Column("id", Integer, primary_key=True),
          Column("name", String(64), nullable=False, unique=True),
          Column("role", String(16), nullable=False),
          Column("token_hash", String(64), nullable=False, unique=True),
          _ts("created_at"), _ts("revoked_at", True))
    table("web_sessions",
          Column("id_hash", String(64), primary_key=True),
          Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
          Column("csrf_token", String(64), nullable=False),
          _ts("created_at"), _ts("expires_at"))
    table("incidents",
          Column("id", String(32), primary_key=True),
          Column("reference", String(64), nullable=False, unique=True),
          Column("caller_phone", String(20), nullable=False),
          Column("created_by", String(64), nullable=False),
          _ts("created_at"), _ts("ended_at", True),
          Column("snapshot_interval", Integer),
          Column("scene_change", Boolean, nullable=False, default=True),
          Column("recording", Boolean, nullable=False, default=False))
    table("links",
          Column("id", String(32), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("token_hash", String(64), nullable=False, unique=True),
          Column("state", String(16), nullable=False),
          Column("device_hash", String(64)),
          _ts("created_at"), _ts("expires_at"), _ts("opened_at", True),
          Column("language", String(8)))
    table("link_states",
          Column("id", Integer, primary_key=True),
          Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
          Column("state", String(16), nullable=False),
          Column("detail", Text),
          _ts("at"))
    table("sessions",
          Column("id", String(32), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
          Column("user_agent", String(400)),
          _ts("started_at"), _ts("ended_at", True),
          Column("ended_by", String(64)),
          Column("end_reason", String(200)))
    table("fixes",
          Column("id", Integer, primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
          Column("seq", Integer, nullable=False),
          Column("latitude", Float, nullable=False),
          Column("longitude", Float, nullable=False),
          Column("accuracy", Float), Column("altitude", Float), Column("heading", Float), Column("speed", Float),
          _ts("device_time", True), _ts("received_at"),
          Column("placement", Text, nullable=False),
          Column("sha256", String(64), nullable=False),
          UniqueConstraint("session_id", "seq", name="uq_fix_session_seq"))
    table("snapshots",
          Column("id", String(32), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("session_id", String(32), ForeignKey("sessions.id")),
          Column("sha256", String(64), nullable=False),
          Column("width", Integer, nullable=False),
          Column("height", Integer, nullable=False),
          Column("bytes", Integer, nullable=False),
          _ts("taken_at"),
          Column("taken_by", String(64), nullable=False),
          Column("reason", String(32), nullable=False),
          Column("fix_id", Integer, ForeignKey("fixes.id")),
          Column("thumb_sha256", String(64)))
    table("recordings",
          Column("id", Integer, primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("session_id", String(32), ForeignKey("sessions.id"), nullable=False),
          Column("segment", Integer, nullable=False),
          Column("sha256", String(64), nullable=False),
          Column("bytes", Integer, nullable=False),
          Column("frames", Integer, nullable=False),
          Column("width", Integer, nullable=False),
          Column("height", Integer, nullable=False),
          Column("codec", String(16), nullable=False),
          _ts("started_at"), _ts("ended_at"))
    table("sms_messages",
          Column("id", String(32), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("link_id", String(32), ForeignKey("links.id")),
          Column("to", String(20), nullable=False),
          Column("body", Text, nullable=False),
          Column("provider", String(32), nullable=False),
          Column("provider_ref", String(100)),
          Column("status", String(16), nullable=False),
          Column("error", Text),
          _ts("created_at"))
    table("caller_messages",
          Column("id", String(32), primary_key=True),
          Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
          Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
          Column("direction", String(12), nullable=False),
          Column("kind", String(12), nullable=False),
          Column("phrase", String(40)),
          Column("text", Text, nullable=False),
          Column("language", String(8), nullable=False),
          Column("sent_by", String(64), nullable=False),
          Column("in_reply_to", String(32)),
          Column("client_ref", String(40)),
          _ts("sent_at"), _ts("delivered_at", True), _ts("seen_at", True))
    table("audit",
          Column("id", Integer, primary_key=True),
          _ts("at"),
          Column("actor", String(64), nullable=False),
          Column("action", String(64), nullable=False),
          Column("incident_id", String(32), index=True),
          Column("detail", Text, nullable=False),
          Column("prev_hash", String(64), nullable=False),
          Column("hash", String(64), nullable=False))
    return m


# -- rows, as those releases wrote them ------------------------------------------------------------

T0 = datetime(2026, 11, 20, 14, 30, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _release_hash(prev: str, at: datetime, actor: str, action: str, incident: str | None, detail: str) -> str:
    return hashlib.sha256("|".join([prev, _iso(at), actor, action, incident or "", detail]).encode()).hexdigest()


def fill(conn: Any, m: MetaData) -> dict[str, Any]:
    """Write an incident with everything the release recorded (a sync connection); returns what
    was written, for the test to find again after the upgrade."""
    t = m.tables
    chain: list[dict[str, Any]] = []

    def audit(minute: float, actor: str, action: str, incident: str | None, detail: dict[str, Any]) -> None:
        at = T0 + timedelta(minutes=minute)
        prev = chain[-1]["hash"] if chain else "0" * 64
        body = _canonical(detail)
        row = {"at": at, "actor": actor, "action": action, "incident_id": incident, "detail": body,
               "prev_hash": prev, "hash": _release_hash(prev, at, actor, action, incident, body)}
        conn.execute(t["audit"].insert().values(**row))
        chain.append(row)

    inc, lnk, ses = "inc_0123456789abcdef0123", "lnk_0123456789abcdef0123", "ses_0123456789abcdef0123"
    operator_id = conn.execute(t["operators"].insert().values(
        username="handler1", role="handler", password_hash="$argon2id$frozen", created_at=T0)).inserted_primary_key[0]
    audit(0, "cli", "operator.added", None, {"username": "handler1", "role": "handler"})
    conn.execute(t["api_tokens"].insert().values(
        name="cad", role="handler", token_hash="c" * 64, created_at=T0))
    conn.execute(
        t["web_sessions"]
        .insert()
        .values(
            id_hash="w" * 64,
            operator_id=operator_id,
            csrf_token="x" * 64,
            created_at=T0,
            expires_at=T0 + timedelta(hours=8),
        )
    )
    conn.execute(t["incidents"].insert().values(
        id=inc, reference="WYP-20261120-0042", caller_phone="+447700900123", created_by="handler1", created_at=T0))
    audit(1, "handler1", "incident.created", inc, {"reference": "WYP-20261120-0042", "caller_phone": "+447700900123"})
    conn.execute(t["links"].insert().values(
        id=lnk, incident_id=inc, token_hash="a" * 64, state="opened", device_hash="d" * 64,
        created_at=T0 + timedelta(minutes=1), expires_at=T0 + timedelta(minutes=31),
        opened_at=T0 + timedelta(minutes=2)))
    for n, state in enumerate(("created", "sent", "delivered", "opened")):
        conn.execute(t["link_states"].insert().values(
            link_id=lnk, state=state, at=T0 + timedelta(minutes=1 + n / 4), detail=None if n < 3 else "first device"))
    audit(1.1, "handler1", "link.created", inc, {"link_id": lnk, "expires_at": _iso(T0 + timedelta(minutes=31))})
    conn.execute(t["sms_messages"].insert().values(
        id="sms_0123456789abcdef0123", incident_id=inc, link_id=lnk, to="+447700900123",
        body="West Yorkshire Police: tap to share your location and camera https://gw.example/c/abc",
        provider="twilio", provider_ref="SM0123456789abcdef", status="delivered", created_at=T0 + timedelta(minutes=1)))
    audit(
        1.2,
        "handler1",
        "sms.queued",
        inc,
        {"sms_id": "sms_0123456789abcdef0123", "to": "+447700900123", "provider": "twilio"},
    )
    conn.execute(t["sessions"].insert().values(
        id=ses, incident_id=inc, link_id=lnk, user_agent="Mozilla/5.0 (Linux; Android 14)",
        started_at=T0 + timedelta(minutes=2), ended_at=T0 + timedelta(minutes=9), ended_by="handler1",
        end_reason="handler ended"))
    audit(2, "caller", "session.started", inc, {"session_id": ses, "link_id": lnk})
    fixes = []
    for seq in (1, 2, 3):
        fix = {"incident_id": inc, "session_id": ses, "seq": seq, "latitude": 53.79 + seq / 1000,
               "longitude": -1.54, "accuracy": 8.0 * seq, "altitude": None, "heading": 90.0, "speed": 1.5,
               "device_time": T0 + timedelta(minutes=3, seconds=seq),
               "received_at": T0 + timedelta(minutes=3, seconds=seq, milliseconds=250),
               "placement": _canonical({"layers": {"district": "Leeds"}}), "sha256": f"{seq}" * 64}
        fix["id"] = conn.execute(t["fixes"].insert().values(**fix)).inserted_primary_key[0]
        audit(3 + seq / 100, "caller", "fix.recorded", inc, {"session_id": ses, "seq": seq, "sha256": fix["sha256"]})
        fixes.append(fix)
    snapshot = {"id": "snp_0123456789abcdef0123", "incident_id": inc, "session_id": ses, "sha256": "5" * 64,
                "width": 1280, "height": 720, "bytes": 123456, "taken_at": T0 + timedelta(minutes=4),
                "taken_by": "handler1", "reason": "manual", "fix_id": fixes[-1]["id"]}
    conn.execute(t["snapshots"].insert().values(**snapshot))
    audit(4, "handler1", "snapshot.taken", inc, {"snapshot_id": snapshot["id"], "sha256": "5" * 64, "reason": "manual"})
    written: dict[str, Any] = {"incident": inc, "link": lnk, "session": ses, "fixes": fixes, "snapshot": snapshot}
    if "caller_messages" in t:
        message = {"id": "msg_0123456789abcdef0123", "incident_id": inc, "link_id": lnk, "direction": "to_caller",
                   "kind": "phrase", "phrase": "stay_safe", "text": "Stay where you are if it is safe.",
                   "language": "en", "sent_by": "handler1", "client_ref": None, "in_reply_to": None,
                   "sent_at": T0 + timedelta(minutes=5), "delivered_at": T0 + timedelta(minutes=5, seconds=1),
                   "seen_at": None}
        conn.execute(t["caller_messages"].insert().values(**message))
        audit(5, "handler1", "message.sent", inc, {"message_id": message["id"], "link_id": lnk, "kind": "phrase"})
        written["message"] = message
    if "recordings" in t:
        conn.execute(t["recordings"].insert().values(
            incident_id=inc, session_id=ses, segment=0, sha256="r" * 64, bytes=999, frames=150,
            width=640, height=480, codec="h264", started_at=T0 + timedelta(minutes=3),
            ended_at=T0 + timedelta(minutes=4)))
        audit(
            6, "gateway", "recording.segment", inc, {"session_id": ses, "segment": 0, "sha256": "r" * 64, "bytes": 999}
        )
    if "embed_tokens" in t:
        conn.execute(t["embed_tokens"].insert().values(
            token_hash="e" * 64, incident_id=inc, created_by="handler1", created_at=T0,
            expires_at=T0 + timedelta(days=3650)))
    audit(8, "handler1", "incident.ended", inc, {})
    conn.execute(t["incidents"].update().values(ended_at=T0 + timedelta(minutes=9)))
    written["chain"] = chain
    return written
