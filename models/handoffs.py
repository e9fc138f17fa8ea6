"""Handoff requests: a resident asked to talk to a person of a department (or a named official)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["HANDOFF_STATUSES", "HandoffRequest"]

HANDOFF_STATUSES = ("waiting", "taken", "resolved", "released", "cancelled")
"""``waiting`` for an official; ``taken`` by one (``official_id``); ``resolved`` by the official or
``released`` back to the bot unanswered; ``cancelled`` by the resident."""


class HandoffRequest(SQLModel, table=True):
    """One request to hand a conversation over to a person.

    ``department`` is a key of config.yaml's ``departments`` (for a named
    person, their department); ``person`` a key of ``people`` or None;
    ``text`` what the resident wrote about it, if anything. A conversation
    has at most one ``waiting`` request (the action that stores it checks).
    """

    __tablename__ = "handoff_requests"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    department: str = Field(max_length=64, index=True)
    person: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="waiting", max_length=16, index=True)
    language: str = Field(max_length=8)
    official_id: int | None = Field(default=None, foreign_key="officials.id", index=True)
    taken_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
