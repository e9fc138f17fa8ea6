"""Conversations (where a resident is in which flow) and the flow versions they are pinned to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["Conversation", "FlowVersion"]


class Conversation(SQLModel, table=True):
    """One chat with the town on one channel.

    ``flow`` at ``flow_version`` in ``state`` is where the resident is;
    ``data`` holds the saved answers, the way back, and a pending question of
    the engine's own (such as the language choice). ``mode`` is ``bot`` while
    the bot answers, ``waiting`` while a handoff waits for an official (the bot
    still answers), ``official`` while an official has it (the bot is silent). ``version`` grows
    by one with every step: a writer that read an older version lost the race.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_id", name="uq_conversation_channel_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    flow: str = Field(max_length=100)
    flow_version: str = Field(max_length=32)
    state: str = Field(max_length=100)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    language: str = Field(max_length=8)
    mode: str = Field(default="bot", max_length=16)
    version: int = Field(default=0)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class FlowVersion(SQLModel, table=True):
    """The text of every flow version a conversation ever started on."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_flow_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    version: str = Field(max_length=32)
    path: str = Field(max_length=500)
    source: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
