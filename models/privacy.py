"""One-time links a resident gets to download their own data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["ExportToken"]


class ExportToken(SQLModel, table=True):
    """A download link's token, stored hashed (SHA-256), for one resident; used once, before ``expires_at``."""

    __tablename__ = "export_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
