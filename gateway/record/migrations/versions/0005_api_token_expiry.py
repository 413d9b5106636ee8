"""API tokens may expire: ``api_tokens.expires_at`` (none: until revoked).

Revision ID: 0005_api_token_expiry
Revises: 0004_items_retention_hold
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_api_token_expiry"
down_revision = "0004_items_retention_hold"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("api_tokens")}
    if "expires_at" not in columns:
        with op.batch_alter_table("api_tokens") as batch:
            batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
