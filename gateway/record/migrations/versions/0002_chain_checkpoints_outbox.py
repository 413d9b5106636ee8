"""The canonical audit chain, signed checkpoints, the webhook outbox, snapshots' frame age.

Revision ID: 0002_chain_checkpoints_outbox
Revises: 0001_baseline
Create Date: 2026-12-02

Entries already in the chain were written in format version 1 (``gateway/record/chain.py``); they
keep it, and get their position in the chain (1, 2, ... in ``id`` order) as ``seq``. New entries
are version 2. ``seq`` and ``prev_hash`` become unique: the second line against two writers
extending the same head.

Like the baseline, each step checks what is there first, so a database that a development build
made with ``create_all`` after these tables changed is upgraded without error.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0002_chain_checkpoints_outbox"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

log = logging.getLogger("scenelink.migrations")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())

    if "frame_age_seconds" not in {c["name"] for c in inspector.get_columns("snapshots")}:
        op.add_column("snapshots", sa.Column("frame_age_seconds", sa.Float))

    _audit(bind, inspector)

    if "checkpoints" not in tables:
        op.create_table(
            "checkpoints",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("seq", sa.Integer, nullable=False),
            sa.Column("hash", sa.String(64), nullable=False),
            _ts("at"),
            sa.Column("key_id", sa.String(16), nullable=False),
            sa.Column("signature", sa.String(128), nullable=False),
            sa.Column("reason", sa.String(16), nullable=False),
        )
    if "webhook_outbox" not in tables:
        op.create_table(
            "webhook_outbox",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("delivery_id", sa.String(40), nullable=False, unique=True),
            sa.Column("endpoint", sa.String(64), nullable=False),
            sa.Column("incident_id", sa.String(32), nullable=False),
            sa.Column("event_type", sa.String(32), nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("state", sa.String(12), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            _ts("created_at"),
            _ts("next_attempt_at"),
            _ts("delivered_at", True),
            sa.Column("last_error", sa.String(300)),
        )
        op.create_index(
            "ix_webhook_outbox_endpoint_state", "webhook_outbox", ["endpoint", "state", "incident_id", "id"]
        )


def _audit(bind: sa.Connection, inspector: sa.Inspector) -> None:
    columns = {c["name"]: c for c in inspector.get_columns("audit")}
    uniques = {u["name"] for u in inspector.get_unique_constraints("audit")}
    if ({"seq", "version", "nonce", "detail_sha256", "purged_at"} <= set(columns) and columns["detail"]["nullable"]
            and {"uq_audit_seq", "uq_audit_prev_hash"} <= uniques):
        return
    with op.batch_alter_table("audit") as batch:
        for name, type_ in (("seq", sa.Integer), ("version", sa.Integer), ("nonce", sa.String(32)),
                            ("detail_sha256", sa.String(64)), ("purged_at", sa.DateTime(timezone=True))):
            if name not in columns:
                batch.add_column(sa.Column(name, type_, nullable=True))
    audit = sa.table(
        "audit", sa.column("id", sa.Integer), sa.column("seq", sa.Integer), sa.column("version", sa.Integer)
    )
    # Positions in the chain for the entries written before sequence numbers.
    numbered = sa.select(
        audit.c.id, sa.func.row_number().over(order_by=audit.c.id).label("position")
    ).where(audit.c.seq.is_(None)).subquery()
    offset = bind.execute(sa.select(sa.func.coalesce(sa.func.max(audit.c.seq), 0))).scalar_one()
    bind.execute(
        audit.update()
        .where(audit.c.id == numbered.c.id)
        .values(seq=numbered.c.position + offset)
    )
    bind.execute(audit.update().where(audit.c.version.is_(None)).values(version=1))
    forked = bind.execute(
        sa.text("SELECT prev_hash FROM audit GROUP BY prev_hash HAVING COUNT(*) > 1")
    ).first()
    with op.batch_alter_table("audit") as batch:
        batch.alter_column("seq", existing_type=sa.Integer, nullable=False)
        batch.alter_column("version", existing_type=sa.Integer, nullable=False)
        batch.alter_column("detail", existing_type=sa.Text, nullable=True)
        if "uq_audit_seq" not in uniques:
            batch.create_unique_constraint("uq_audit_seq", ["seq"])
        if "uq_audit_prev_hash" not in uniques:
            if forked is None:
                batch.create_unique_constraint("uq_audit_prev_hash", ["prev_hash"])
            else:
                # A chain forked by the earlier releases' race: keep it as evidence of itself (its
                # verification reports the break) rather than refuse to start.
                log.warning("audit chain already forked at prev_hash %s: not adding uq_audit_prev_hash", forked[0])


def downgrade() -> None:
    raise NotImplementedError("the record is not downgraded: restore the backup taken before upgrading")
