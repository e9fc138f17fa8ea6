"""Who hears about a service request besides its reporter, and the history of its status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["RequestFollower", "RequestUpdate"]


class RequestFollower(SQLModel, table=True):
    """A resident who found their problem already reported and chose to follow that request.

    Status changes go to them on ``channel``/``chat_id`` in ``language``, as
    to the reporter. Private requests (police) never have followers.
    """

    __tablename__ = "request_followers"
    __table_args__ = (UniqueConstraint("request_id", "resident_id", name="uq_request_follower"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_requests.id", index=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    language: str = Field(max_length=8)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )


class RequestUpdate(SQLModel, table=True):
    """One status change of a service request (``old_status`` -> ``status``), with the official's note."""

    __tablename__ = "request_updates"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="service_requests.id", index=True)
    old_status: str = Field(max_length=32)
    status: str = Field(max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
