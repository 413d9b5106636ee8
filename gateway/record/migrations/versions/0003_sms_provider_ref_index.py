"""Delivery receipts find their message by an index on (provider, provider_ref).

Revision ID: 0003_sms_provider_ref_index
Revises: 0002_chain_checkpoints_outbox
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0003_sms_provider_ref_index"
down_revision = "0002_chain_checkpoints_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sms_messages_provider_ref", "sms_messages", ["provider", "provider_ref"])


def downgrade() -> None:
    op.drop_index("ix_sms_messages_provider_ref", table_name="sms_messages")
