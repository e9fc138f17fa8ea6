"""Appointments: a resident's seat in one slot of a service (config.yaml ``services``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow

__all__ = ["Appointment"]


class Appointment(SQLModel, table=True):
    """One booking. ``status``: booked or cancelled.

    A slot holds ``capacity`` residents: each booking takes a ``seat`` from 1
    to the capacity, and ``(service, starts_at, seat)`` is unique, so two
    residents racing for the last seat cannot both get it; the database
    refuses the second. A cancelled booking keeps its row with ``seat`` NULL
    (NULLs never collide), which frees the seat. ``reference`` is what the
    resident is told (``JUN-C-000123``); ``reminder_sent_at`` is set once, in
    the transaction that queues the reminder.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("service", "starts_at", "seat", name="uq_appointment_seat"),
        Index("ix_appointments_due", "status", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, max_length=40, unique=True)
    service: str = Field(max_length=64)
    department: str = Field(max_length=64)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    seat: int | None = Field(default=None)
    status: str = Field(default="booked", max_length=16)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    channel: str = Field(max_length=32)
    chat_id: str = Field(max_length=200)
    language: str = Field(max_length=8)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    reminder_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, default=utcnow)
    )
