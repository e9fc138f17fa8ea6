"""Broadcasts: an announcement to a topic's subscribers, in every language, and how far it got.

One :class:`Broadcast` row per announcement; its recipients are outbox rows
carrying its id (``outbox.broadcast_id``), unique per ``(broadcast_id,
channel, chat_id)`` so that nobody can get the same broadcast twice however
often the expansion is resumed. The queries live in :mod:`bot.broadcast`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["BROADCAST_STATUSES", "Broadcast"]

BROADCAST_STATUSES = ("draft", "sending", "done", "cancelled")
"""draft -> sending -> done; draft or sending -> cancelled."""


class Broadcast(SQLModel, table=True):
    """One announcement to the subscribers of ``topic`` (a key of config.yaml's ``topics``).

    ``texts`` maps each of the town's languages to the announcement in it.
    ``rendered`` is what will be sent, fixed when it is created so that what
    the official previewed is what goes out even if the wording or the
    channels change before a resumed expansion: ``{"private": {language:
    text}, "public": {channel: text}, "public_chats": {channel: chat id},
    "default": language}``.
    ``author`` is the official's username, or ``"cli"`` for ``plaza broadcast``.
    ``total`` is how many outbox rows it has (recipients plus public posts):
    an estimate from the subscriber count while it expands, exact once
    ``expanded_at`` is set. ``expanded_through`` is the last subscription id
    already written to the outbox: the expansion resumes after it.
    """

    __tablename__ = "broadcasts"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=64, index=True)
    texts: dict[str, str] = Field(sa_column=json_column())
    rendered: dict[str, Any] = Field(sa_column=json_column())
    author: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=16, index=True)
    total: int = Field(default=0)
    expanded_through: int = Field(default=0)
    expanded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
