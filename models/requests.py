"""Service requests: incident reports, procedures and proposals, routed to a department (Open311's unit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_column, utcnow

__all__ = ["ServiceRequest"]


class ServiceRequest(SQLModel, table=True):
    """A reported incident. ``ticket`` is what the resident is told (``JUN-2026-000123``).

    ``status`` is the internal one (received, acknowledged, in_progress,
    fixed, duplicate, not_ours, closed; for proposals also accepted,
    rejected, scheduled); Open311 sees open/closed.
    ``private`` requests (police, social services) are never public.
    ``kind`` says what the resident asked for: ``incident`` and ``police``
    reports, ``procedure`` (a certificate, a pickup, a sign-up) and
    ``proposal`` (for the plenary agenda). Only incidents are for public
    listings: procedures and proposals carry personal ``details`` (the
    collected answers, JSON) and ``title`` (a proposal's own title).
    """

    __tablename__ = "service_requests"

    id: int | None = Field(default=None, primary_key=True)
    ticket: str | None = Field(default=None, max_length=40, unique=True)
    kind: str = Field(
        default="incident", sa_column=Column(String(16), nullable=False, server_default="incident", index=True)
    )
    category: str = Field(max_length=64, index=True)
    department: str = Field(max_length=64, index=True)
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    details: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    photo_ref: str | None = Field(default=None, max_length=500)
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = Field(default=None, max_length=500)
    status: str = Field(default="received", max_length=32, index=True)
    private: bool = Field(default=False)
    language: str = Field(max_length=8)
    channel: str = Field(max_length=32)
    resident_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
