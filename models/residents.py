"""Residents and the channel identities (a Telegram user, a web chat session...) they own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["ChannelIdentity", "Resident"]


class Resident(SQLModel, table=True):
    """A person. ``verified`` is set once a clerk checked their ID.

    A resident a clerk registered has ``name`` (as on the ID), ``document_hash``
    (a keyed hash of the ID document's number: never the number itself) and
    maybe ``contact``; residents created for an unknown sender have none of them.
    """

    __tablename__ = "residents"

    id: int | None = Field(default=None, primary_key=True)
    display_name: str | None = Field(default=None, max_length=200)
    language: str = Field(max_length=8)
    verified: bool = Field(default=False)
    name: str | None = Field(default=None, max_length=200)
    document_hash: str | None = Field(default=None, max_length=64, unique=True)
    contact: str | None = Field(default=None, max_length=200)
    verified_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class ChannelIdentity(SQLModel, table=True):
    """One account on one channel; belongs to exactly one resident.

    ``verified`` once the account sent a clerk's code for its resident (then
    the resident is verified too); unlinking clears it and moves the account
    to a resident of its own.
    """

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id", name="uq_identity_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    platform_user_id: str = Field(max_length=200)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    display_name: str | None = Field(default=None, max_length=200)
    verified: bool = Field(default=False)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
