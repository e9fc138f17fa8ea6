"""Photos and files residents uploaded through Plaza's own channels (web chat), officials' photos,
and platform photos archived in Plaza's own store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["MediaItem"]


class MediaItem(SQLModel, table=True):
    """Bytes of one upload, stored in the same transaction as the message that carried it.

    Referred to from messages as ``media:<id>``. Only the chat that uploaded
    it (``channel``, ``chat_id``) may read it back through the chat API.
    ``source_ref`` is the platform's reference (a Telegram file id, a
    Mastodon attachment URL) when the bytes were fetched from the platform
    and archived here, so the evidence outlives the platform's copy.
    """

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_source", "channel", "source_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200, index=True)
    mime_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    source_ref: str | None = Field(default=None, max_length=1000)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
