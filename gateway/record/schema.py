"""The incident record's tables (SQLAlchemy Core, so SQLite and PostgreSQL share one schema).

This is the schema at the newest migration. Change it only together with a new Alembic revision in
``migrations/versions/`` (on top of the single head) that makes the same change in a database;
``tests/unit/gateway/record/test_migrations.py`` fails while the two differ.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

metadata = MetaData()


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),
    _ts("created_at"),
    _ts("disabled_at", True),
    Column("preferences", Text),  # JSON: per-operator settings such as blurring video until revealed
    # Set for a generated first-start password: it works once, to choose a new one.
    Column("must_change_password", Boolean, nullable=False, default=False, server_default=false()),
)

# Scoped, expiring tokens for the embeddable viewer (a command-and-control screen): each opens the
# live video of one incident and nothing else. Only the hash is kept.
embed_tokens = Table(
    "embed_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False),
    Column("created_by", String(64), nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("revoked_at", True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    _ts("created_at"),
    _ts("revoked_at", True),
    _ts("expires_at", True),  # none: until revoked
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("reference", String(64), nullable=False, unique=True),
    Column("caller_phone", String(20), nullable=False),
    Column("created_by", String(64), nullable=False),
    _ts("created_at"),
    _ts("ended_at", True),
    # Media policy for this incident: automatic snapshots and recording.
    Column("snapshot_interval", Integer),
    Column("scene_change", Boolean, nullable=False, default=True, server_default=true()),
    Column("recording", Boolean, nullable=False, default=False, server_default=false()),
    # Legal hold: while set, the retention purge leaves the incident alone (history in the chain).
    _ts("held_at", True),
    Column("held_by", String(64)),
    Column("hold_reason", String(400)),
    _ts("phone_purged_at", True),  # the caller's number removed by the retention purge
)

links = Table(
    "links",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("device_hash", String(64)),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("opened_at", True),
    Column("language", String(8)),  # the caller page's language, as the handler chose it (None: the phone's)
    # What the caller is asked to share: "video" (camera and location) or "location" (no camera).
    Column("mode", String(16), nullable=False, server_default="video"),
)

link_states = Table(
    "link_states",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("detail", Text),
    _ts("at"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
    Column("user_agent", String(400)),
    _ts("started_at"),
    _ts("ended_at", True),
    Column("ended_by", String(64)),
    Column("end_reason", String(200)),
)

fixes = Table(
    "fixes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    # None for a fix that came from no caller session (an AML message).
    Column("session_id", String(32), ForeignKey("sessions.id")),
    Column("seq", Integer, nullable=False),
    # Once purged: position 0, placement "null", salt None (the record shows them empty); the hash
    # stays (gateway/record/items.py).
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("accuracy", Float),
    Column("altitude", Float),
    Column("heading", Float),
    Column("speed", Float),
    _ts("device_time", True),
    _ts("received_at"),
    Column("placement", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("salt", String(32)),
    _ts("purged_at", True),
    Column("source", String(16)),  # None: the caller's page; "aml": the handset's own AML message
    UniqueConstraint("session_id", "seq", name="uq_fix_session_seq"),
)

snapshots = Table(
    "snapshots",
    metadata,
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
    Column("thumb_sha256", String(64)),
    # How old the frame was when the snapshot was asked for (seconds); shown with a stale frame
    # stored on explicit request, so it is never taken for the scene "now".
    Column("frame_age_seconds", Float),
    _ts("purged_at", True),  # the image and thumbnail deleted by the retention purge
)

recordings = Table(
    "recordings",
    metadata,
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
    _ts("started_at"),
    _ts("ended_at"),
    _ts("purged_at", True),
)

sms_messages = Table(
    "sms_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("link_id", String(32), ForeignKey("links.id")),
    Column("to", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("provider_ref", String(100)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    _ts("created_at"),
    # A delivery receipt names the message only by the provider's reference.
    Index("ix_sms_messages_provider_ref", "provider", "provider_ref"),
    Column("salt", String(32)),
    _ts("purged_at", True),  # number and text removed ("") by the retention purge
)

# Talking without a voice: the handler's instructions to the caller and the caller's silent replies.
caller_messages = Table(
    "caller_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id"), nullable=False, index=True),
    Column("link_id", String(32), ForeignKey("links.id"), nullable=False, index=True),
    Column("direction", String(12), nullable=False),  # "to_caller" or "from_caller"
    Column("kind", String(12), nullable=False),  # "phrase", "text" or "answer" (yes / no)
    Column("phrase", String(40)),  # the phrase-book key, for phrases
    Column("text", Text, nullable=False),  # as the caller saw it, or as the caller wrote it
    Column("language", String(8), nullable=False),
    Column("sent_by", String(64), nullable=False),
    Column("in_reply_to", String(32)),
    Column("client_ref", String(40)),  # the caller page's own id for a reply, so a resend is stored once
    _ts("sent_at"),
    _ts("delivered_at", True),
    _ts("seen_at", True),
    Column("salt", String(32)),
    _ts("purged_at", True),  # text removed ("") by the retention purge
)

# Every operator action and every recorded item, chained by hashes so that a removed or altered
# entry breaks the chain from that point on (formats: gateway/record/chain.py). ``seq`` numbers the
# chain without gaps; the unique ``prev_hash`` is the second line against two writers extending
# the same head (the first is the database lock taken by every write transaction).
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    _ts("at"),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("incident_id", String(32), index=True),
    Column("detail", Text),  # JSON; None once purged (the hash of it stays)
    Column("nonce", String(32)),
    Column("detail_sha256", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    _ts("purged_at", True),
    UniqueConstraint("seq", name="uq_audit_seq"),
    UniqueConstraint("prev_hash", name="uq_audit_prev_hash"),
)

# The chain's head signed with the gateway's Ed25519 key, at an interval and at every export.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    _ts("at"),
    Column("key_id", String(16), nullable=False),
    Column("signature", String(128), nullable=False),  # hex of the 64-byte Ed25519 signature
    Column("reason", String(16), nullable=False),  # "interval", "export", "start"
)

# Webhook deliveries waiting, done or given up, one row per (endpoint, event): the durable outbox a
# restart resumes from. Rows of one incident go out in ``id`` order; a row that keeps failing
# becomes "dead" and holds back that incident's later rows until a supervisor retries it.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("delivery_id", String(40), nullable=False, unique=True),
    Column("endpoint", String(64), nullable=False),
    Column("incident_id", String(32), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(12), nullable=False),  # "pending", "delivered" or "dead"
    Column("attempts", Integer, nullable=False, default=0),
    _ts("created_at"),
    _ts("next_attempt_at"),
    _ts("delivered_at", True),
    Column("last_error", String(300)),
    # The node posting this row now, and until when: with several nodes on one record, one claims a
    # row before posting it, so a row is never posted by two at once (nor out of order).
    Column("lease_owner", String(64)),
    _ts("lease_until", True),
    Index("ix_webhook_outbox_endpoint_state", "endpoint", "state", "incident_id", "id"),
)

# Advanced Mobile Location messages as received: attached to an open incident for the number as a
# fix, or kept (incident_id None) and offered to the handler who opens an incident for it.
aml_reports = Table(
    "aml_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    _ts("received_at"),
    Column("transport", String(8), nullable=False),  # "https" or "sms"
    Column("msisdn", String(20), nullable=False, index=True),  # E.164
    Column("incident_id", String(32), ForeignKey("incidents.id"), index=True),
    Column("fix_id", Integer, ForeignKey("fixes.id")),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("accuracy", Float),
    _ts("device_time", True),
    Column("method", String(12), nullable=False),
    Column("confidence", Float),
    Column("detail", Text, nullable=False),  # JSON: the report's other fields (IMEI, IMSI, network)
    Column("sender", String(64), nullable=False),  # the token that delivered it
)
