"""Helpers for appointment tests: Jun's local times and the stored appointment rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.appointments import Booking
from models import Appointment
from models.db import Database

MADRID = ZoneInfo("Europe/Madrid")
APPOINTMENTS = Appointment.__table__

NewResident = Callable[..., int]
Book = Callable[..., Booking | None]


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in Jun (Europe/Madrid)."""
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def rows(database: Database) -> list[dict[str, object]]:
    """Every appointment row, in id order."""
    with database.writer.begin() as connection:
        found = connection.execute(select(APPOINTMENTS).order_by(APPOINTMENTS.c.id)).mappings().all()
    return [dict(row) for row in found]
