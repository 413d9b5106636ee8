"""Item digests, retention tombstones and legal holds.

Revision ID: 0004_items_retention_hold
Revises: 0003_sms_provider_ref_index
Create Date: 2026-12-02

Fixes, SMS and conversation messages get the ``salt`` their digest covers (gateway/record/items.py);
rows made before have none and are tied to the chain by their identifiers. Every purgeable row
gets ``purged_at`` (the retention purge leaves a tombstone that keeps its hashes). A purged fix
keeps 0 in its position columns rather than making them nullable: on SQLite that would mean
rebuilding ``fixes``, which ``snapshots`` refers to, inside the migration's transaction. Incidents
get their legal hold and the time the caller's number was purged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_items_retention_hold"
down_revision = "0003_sms_provider_ref_index"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


ADDED: dict[str, list[sa.Column]] = {
    "incidents": [_ts("held_at"), sa.Column("held_by", sa.String(64)), sa.Column("hold_reason", sa.String(400)),
                  _ts("phone_purged_at")],
    "fixes": [sa.Column("salt", sa.String(32)), _ts("purged_at")],
    "snapshots": [_ts("purged_at")],
    "recordings": [_ts("purged_at")],
    "sms_messages": [sa.Column("salt", sa.String(32)), _ts("purged_at")],
    "caller_messages": [sa.Column("salt", sa.String(32)), _ts("purged_at")],
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in ADDED.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        missing = [c for c in columns if c.name not in have]
        if missing:
            with op.batch_alter_table(table) as batch:
                for column in missing:
                    batch.add_column(column)


def downgrade() -> None:
    raise NotImplementedError("the record is not downgraded: restore the backup taken before upgrading")
