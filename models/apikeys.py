"""API keys: who may create service requests through Open311 (a civic app, the town's website)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["ApiKey"]


class ApiKey(SQLModel, table=True):
    """One named key. Only the SHA-256 of the key is stored; the key itself is shown once, at creation.

    A revoked key (``revoked_at`` set) is kept, so audit rows naming it still
    say who it was, and its name is never given to another key.
    """

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
