"""Conversation leases: which worker may process a chat's inbox rows, until when, under which fence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime

__all__ = ["ConversationLease"]


class ConversationLease(SQLModel, table=True):
    """The lease on one chat, keyed like the inbox rows it covers: ``(channel, chat_id)``.

    Keyed on the chat rather than the conversation, so a chat's first
    messages (no conversation row yet) are claimed as safely as later ones.
    ``owner`` holds it until ``lease_until`` (the database's clock);
    ``fence`` grows by one at every claim, and a worker commits its steps only
    while the row still carries its owner id and fence. A free lease has no
    owner and no ``lease_until``. Used on PostgreSQL (scale-out); the embedded
    SQLite processor needs none.
    """

    __tablename__ = "conversation_leases"

    channel: str = Field(max_length=32, primary_key=True)
    chat_id: str = Field(max_length=200, primary_key=True)
    owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    fence: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False, default=0))
