"""Baseline: the record's schema as the releases before migrations made it.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-02

Those releases made their tables with ``metadata.create_all``, which creates missing tables but
never alters an existing one: a data directory begun with an early release has every table, yet
lacks the columns added later (``operators.preferences`` and ``must_change_password``,
``incidents``' media policy, ``links.language``, ``snapshots.thumb_sha256``) and the index on
``sessions.link_id``. So this revision does not assume an empty database: it creates what is
missing (every table, on a new database), adds what an older database lacks, and leaves alone what
is already there. Its table definitions are frozen here, never imported from ``schema.py``, so
that later revisions can change the live schema without changing what this one did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tables() -> sa.MetaData:
    m = sa.MetaData()
    sa.Table(
        "operators", m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("disabled_at", True),
        sa.Column("preferences", sa.Text),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    sa.Table(
        "embed_tokens", m,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("revoked_at", True),
    )
    sa.Table(
        "api_tokens", m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _ts("created_at"),
        _ts("revoked_at", True),
    )
    sa.Table(
        "web_sessions", m,
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
    )
    sa.Table(
        "incidents", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("reference", sa.String(64), nullable=False, unique=True),
        sa.Column("caller_phone", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("ended_at", True),
        sa.Column("snapshot_interval", sa.Integer),
        sa.Column("scene_change", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("recording", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    sa.Table(
        "links", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("device_hash", sa.String(64)),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("opened_at", True),
        sa.Column("language", sa.String(8)),
    )
    sa.Table(
        "link_states", m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("link_id", sa.String(32), sa.ForeignKey("links.id"), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        _ts("at"),
    )
    sa.Table(
        "sessions", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("link_id", sa.String(32), sa.ForeignKey("links.id"), nullable=False, index=True),
        sa.Column("user_agent", sa.String(400)),
        _ts("started_at"),
        _ts("ended_at", True),
        sa.Column("ended_by", sa.String(64)),
        sa.Column("end_reason", sa.String(200)),
    )
    sa.Table(
        "fixes", m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("accuracy", sa.Float),
        sa.Column("altitude", sa.Float),
        sa.Column("heading", sa.Float),
        sa.Column("speed", sa.Float),
        _ts("device_time", True),
        _ts("received_at"),
        sa.Column("placement", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("session_id", "seq", name="uq_fix_session_seq"),
    )
    sa.Table(
        "snapshots", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id")),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        _ts("taken_at"),
        sa.Column("taken_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("fix_id", sa.Integer, sa.ForeignKey("fixes.id")),
        sa.Column("thumb_sha256", sa.String(64)),
    )
    sa.Table(
        "recordings", m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("segment", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        _ts("started_at"),
        _ts("ended_at"),
    )
    sa.Table(
        "sms_messages", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("link_id", sa.String(32), sa.ForeignKey("links.id")),
        sa.Column("to", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_ref", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        _ts("created_at"),
    )
    sa.Table(
        "caller_messages", m,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id"), nullable=False, index=True),
        sa.Column("link_id", sa.String(32), sa.ForeignKey("links.id"), nullable=False, index=True),
        sa.Column("direction", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("phrase", sa.String(40)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=False),
        sa.Column("in_reply_to", sa.String(32)),
        sa.Column("client_ref", sa.String(40)),
        _ts("sent_at"),
        _ts("delivered_at", True),
        _ts("seen_at", True),
    )
    sa.Table(
        "audit", m,
        sa.Column("id", sa.Integer, primary_key=True),
        _ts("at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(32), index=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    return m


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in _tables().sorted_tables:
        if table.name not in existing:
            table.create(bind)
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            # A NOT NULL column added here has a server default (what the release that added
            # it wrote for every new row), which the rows already there take.
            op.add_column(table.name, column._copy())
        indexed = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:
                index.create(bind)


def downgrade() -> None:
    # There is nothing before the baseline to go back to; dropping the record is not a downgrade.
    raise NotImplementedError("the baseline cannot be downgraded")
