"""The outbox: every message Plaza will send, written in the step's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["PRIORITY_BROADCAST", "PRIORITY_REPLY", "OutboxItem"]

PRIORITY_REPLY = 0
PRIORITY_BROADCAST = 10


class OutboxItem(SQLModel, table=True):
    """One message to send. ``status``: pending, sending, sent, failed, cancelled.

    ``official_id`` is the official who wrote it (None: the bot). A
    dispatcher claims a row (``sending``) before the platform call, so an
    official's takeover, which cancels the bot's ``pending`` rows, and the
    send can never both win.

    A row is marked ``sent`` exactly once (``UPDATE ... WHERE status =
    'pending'``); its id is the idempotency key for platforms that take one.
    Lower ``priority`` goes first: replies before broadcasts. ``broadcast_id``
    ties a row to the broadcast it announces (no foreign key, so the column is
    added without rebuilding the table; indexed by the unique
    ``(broadcast_id, channel, chat_id)`` index, which lets no recipient get
    one broadcast twice; rows of no broadcast have NULL there and never clash).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "channel", "priority", "next_attempt_at"),
        Index("ix_outbox_chat", "channel", "chat_id", "id"),
        # one message per recipient and broadcast, however often its expansion resumes
        Index("uq_outbox_broadcast_recipient", "broadcast_id", "channel", "chat_id", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    inbox_id: int | None = Field(default=None, foreign_key="inbox.id", index=True)
    official_id: int | None = Field(default=None, foreign_key="officials.id")
    broadcast_id: int | None = Field(default=None)
    payload: dict[str, Any] = Field(sa_column=json_column())
    priority: int = Field(default=PRIORITY_REPLY)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    platform_message_ids: list[str] = Field(default_factory=list, sa_column=json_column())
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
