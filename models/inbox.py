"""The inbox: every accepted inbound message, stored before anything else happens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["InboxItem"]


class InboxItem(SQLModel, table=True):
    """One inbound message; unique on ``(channel, platform_message_id)``.

    ``status`` is ``pending`` until a step processed it (``done``) or the step
    failed for good (``failed``, with ``error``). ``payload`` is the normalized
    message; ``raw`` the platform's payload, for audit only.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "platform_message_id", name="uq_inbox_channel_message"),
        Index("ix_inbox_pending", "status", "channel", "id"),
        # a chat's messages processed in the rate limit's window (bot.throttle)
        Index("ix_inbox_chat_processed", "channel", "chat_id", "processed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    platform_message_id: str = Field(max_length=200)
    chat_id: str = Field(max_length=200)
    sender_id: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_column=json_column())
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
