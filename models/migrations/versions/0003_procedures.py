"""procedures: service requests of every kind (incident, police, procedure, proposal), with a title and details

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="incident"))
        batch_op.add_column(sa.Column("title", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f("ix_service_requests_kind"), ["kind"], unique=False)
    # police reports were told apart by their category until now
    op.execute("UPDATE service_requests SET kind = 'police' WHERE category = 'police'")


def downgrade() -> None:
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_requests_kind"))
        batch_op.drop_column("details")
        batch_op.drop_column("title")
        batch_op.drop_column("kind")
