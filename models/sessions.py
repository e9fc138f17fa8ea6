"""Officials' web sessions and login attempts (for throttling)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["LoginAttempt", "OfficialSession"]


class OfficialSession(SQLModel, table=True):
    """One logged-in browser. Only the SHA-256 of the cookie's token is stored, never the token.

    ``csrf_token`` is the value every form of this session must send back.
    A session ends at ``expires_at``, at logout, or when its official is disabled.
    """

    __tablename__ = "official_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    official_id: int = Field(foreign_key="officials.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow))


class LoginAttempt(SQLModel, table=True):
    """One try to log in: for which username, from which client address, and whether it succeeded."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    client: str = Field(max_length=64)
    succeeded: bool = Field(default=False)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow))
