"""Officials (the town's people who answer residents), their linked messenger accounts, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["OFFICIAL_ROLES", "AuditEntry", "ConversationNote", "Official", "OfficialIdentity"]

OFFICIAL_ROLES = ("official", "lead", "clerk", "admin")
"""``official`` answers for a department; ``lead`` also broadcasts and transfers; ``clerk`` also
verifies residents; ``admin`` (the town admin) sees and does everything in every department."""


class Official(SQLModel, table=True):
    """An official's account. ``password_hash`` is an argon2 hash; ``disabled`` accounts cannot log in."""

    __tablename__ = "officials"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    department: str = Field(max_length=64, index=True)
    role: str = Field(default="official", max_length=16)
    password_hash: str = Field(max_length=200)
    language: str = Field(default="es", max_length=8)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class OfficialIdentity(SQLModel, table=True):
    """An official's own messenger account (Telegram, Mastodon), where handoffs are relayed."""

    __tablename__ = "official_identities"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id", name="uq_official_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    official_id: int = Field(foreign_key="officials.id", index=True)
    channel: str = Field(max_length=32)
    platform_user_id: str = Field(max_length=200)
    chat_id: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class AuditEntry(SQLModel, table=True):
    """Who did what, when, to which conversation or request. Rows are only ever added.

    ``official_id`` is None for actions from the command line or the system;
    ``actor`` then says which (``cli``, ``system``).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    official_id: int | None = Field(default=None, foreign_key="officials.id", index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    conversation_id: int | None = Field(default=None, index=True)
    request_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow))


class ConversationNote(SQLModel, table=True):
    """An internal note officials leave on a conversation; residents never see it."""

    __tablename__ = "conversation_notes"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    official_id: int = Field(foreign_key="officials.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
