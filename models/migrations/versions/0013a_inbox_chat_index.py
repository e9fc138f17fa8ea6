"""inbox: an index on (channel, chat_id, processed_at), for the per-chat rate limit

Revision ID: 0013a
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op


revision = "0013a"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_chat_processed", "inbox", ["channel", "chat_id", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_chat_processed", table_name="inbox")
