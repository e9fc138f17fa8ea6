"""verification: residents' name, ID hash and contact; verification codes, wrong codes, export links

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("document_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("contact", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_residents_document_hash", ["document_hash"])

    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["official_id"], ["officials.id"]),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.create_index("ix_verification_codes_live", ["used_at", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_verification_codes_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "verification_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("platform_user_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verification_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_verification_failures_account", ["channel", "platform_user_id", "at"], unique=False
        )

    op.create_table(
        "export_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("export_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_tokens_resident_id"), ["resident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_tokens_resident_id"))
    op.drop_table("export_tokens")

    with op.batch_alter_table("verification_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_verification_failures_account")
    op.drop_table("verification_failures")

    with op.batch_alter_table("verification_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_codes_resident_id"))
        batch_op.drop_index("ix_verification_codes_live")
    op.drop_table("verification_codes")

    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_constraint("uq_residents_document_hash", type_="unique")
        batch_op.drop_column("verified_at")
        batch_op.drop_column("contact")
        batch_op.drop_column("document_hash")
        batch_op.drop_column("name")
