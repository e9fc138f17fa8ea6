"""media.source_ref: a platform photo archived in Plaza's own store (Telegram file id, Mastodon URL)

Revision ID: 0013m
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("source_ref", sa.String(length=1000), nullable=True))
    op.create_index("ix_media_source", "media", ["channel", "source_ref"])


def downgrade() -> None:
    op.drop_index("ix_media_source", table_name="media")
    with op.batch_alter_table("media") as batch:
        batch.drop_column("source_ref")
