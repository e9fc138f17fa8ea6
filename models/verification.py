"""Verification codes a clerk gives a resident, and the wrong codes each channel account sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["VerificationCode", "VerificationFailure"]


class VerificationCode(SQLModel, table=True):
    """One code, for one resident, used at most once.

    ``code_hash`` is a keyed hash of the six digits (never the digits);
    ``official_id``/``actor`` say who issued it. A code is live until
    ``expires_at``, while ``used_at`` is NULL and ``failures`` (wrong codes
    sent while it was live) is under the limit. ``identity_id`` is the channel
    account it linked.
    """

    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_live", "used_at", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    code_hash: str = Field(max_length=64)
    official_id: int | None = Field(default=None, foreign_key="officials.id")
    actor: str = Field(max_length=64)
    failures: int = Field(default=0)
    identity_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class VerificationFailure(SQLModel, table=True):
    """One wrong code sent by one channel account (for the lockout: so many in a window, then wait)."""

    __tablename__ = "verification_failures"
    __table_args__ = (Index("ix_verification_failures_account", "channel", "platform_user_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    platform_user_id: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow))
