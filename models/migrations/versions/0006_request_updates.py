"""request updates: followers of a service request, and its status history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "request_followers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "resident_id", name="uq_request_follower"),
    )
    with op.batch_alter_table("request_followers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_followers_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_request_followers_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "request_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("old_status", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_updates_request_id"), ["request_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("request_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_updates_request_id"))

    op.drop_table("request_updates")
    with op.batch_alter_table("request_followers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_followers_resident_id"))
        batch_op.drop_index(batch_op.f("ix_request_followers_request_id"))

    op.drop_table("request_followers")
