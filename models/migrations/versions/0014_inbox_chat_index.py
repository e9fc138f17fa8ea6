"""inbox: an index on (channel, chat_id, processed_at), for the per-chat rate limit

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_chat_processed", "inbox", ["channel", "chat_id", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_chat_processed", table_name="inbox")
