"""AML in (messages kept, fixes with a source and no session) and leases on webhook deliveries.

Revision ID: 0006_aml_and_webhook_leases
Revises: 0005_api_token_expiry
Create Date: 2026-12-02

``fixes.session_id`` becomes nullable (a fix from an AML message belongs to no caller session) and
``fixes.source`` says where a fix came from (null: the caller's page, as every earlier fix did).
``aml_reports`` keeps every AML message received. ``webhook_outbox`` gets the lease columns that
let several nodes share one outbox. Each step checks what is there first, like the earlier ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_aml_and_webhook_leases"
down_revision = "0005_api_token_expiry"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    fix_columns = {c["name"]: c for c in inspector.get_columns("fixes")}
    if "source" not in fix_columns or not fix_columns["session_id"]["nullable"]:
        with op.batch_alter_table("fixes") as batch:
            if "source" not in fix_columns:
                batch.add_column(sa.Column("source", sa.String(16)))
            if not fix_columns["session_id"]["nullable"]:
                batch.alter_column("session_id", existing_type=sa.String(32), nullable=True)

    outbox_columns = {c["name"] for c in inspector.get_columns("webhook_outbox")}
    if not {"lease_owner", "lease_until"} <= outbox_columns:
        with op.batch_alter_table("webhook_outbox") as batch:
            if "lease_owner" not in outbox_columns:
                batch.add_column(sa.Column("lease_owner", sa.String(64)))
            if "lease_until" not in outbox_columns:
                batch.add_column(_ts("lease_until", True))

    if "aml_reports" not in tables:
        op.create_table(
            "aml_reports",
            sa.Column("id", sa.Integer, primary_key=True),
            _ts("received_at"),
            sa.Column("transport", sa.String(8), nullable=False),
            sa.Column("msisdn", sa.String(20), nullable=False),
            sa.Column("incident_id", sa.String(32), sa.ForeignKey("incidents.id")),
            sa.Column("fix_id", sa.Integer, sa.ForeignKey("fixes.id")),
            sa.Column("latitude", sa.Float),
            sa.Column("longitude", sa.Float),
            sa.Column("accuracy", sa.Float),
            _ts("device_time", True),
            sa.Column("method", sa.String(12), nullable=False),
            sa.Column("confidence", sa.Float),
            sa.Column("detail", sa.Text, nullable=False),
            sa.Column("sender", sa.String(64), nullable=False),
        )
        op.create_index("ix_aml_reports_msisdn", "aml_reports", ["msisdn"])
        op.create_index("ix_aml_reports_incident_id", "aml_reports", ["incident_id"])


def downgrade() -> None:
    raise NotImplementedError("the record is not downgraded: restore the backup taken before upgrading")
