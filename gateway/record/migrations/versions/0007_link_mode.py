"""Links say what the caller is asked to share: ``links.mode``, "video" or "location".

Revision ID: 0007_link_mode
Revises: 0006_aml_and_webhook_leases
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_link_mode"
down_revision = "0006_aml_and_webhook_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("links")}
    if "mode" not in columns:
        # Every link made before this revision asked for camera and location.
        with op.batch_alter_table("links") as batch:
            batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="video"))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("mode")
