"""Fixtures for appointment tests: residents to book for, and bookings at a chosen "now"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from bot.appointments import Booking, book
from bot.config import Config
from models import Resident
from models.db import Database
from tests.support.appointments import Book, NewResident

RESIDENTS = Resident.__table__


@pytest.fixture
def new_resident(database: Database) -> NewResident:
    """Create a resident; returns their id."""

    def create(language: str = "es") -> int:
        with database.writer.begin() as connection:
            return int(
                connection.execute(
                    insert(RESIDENTS)
                    .values(language=language, verified=False, created_at=datetime.now(UTC))
                    .returning(RESIDENTS.c.id)
                ).scalar_one()
            )

    return create


@pytest.fixture
def booking(config: Config, database: Database, new_resident: NewResident) -> Book:
    """Book ``service`` at ``starts_at`` for a new resident (or ``resident_id``), as seen at ``now``."""

    def make(
        service: str, starts_at: datetime, now: datetime, resident_id: int | None = None, language: str = "es"
    ) -> Booking | None:
        who = resident_id if resident_id is not None else new_resident(language)
        with database.writer.begin() as connection:
            return book(
                connection,
                config=config,
                service=config.services[service],
                starts_at=starts_at,
                now=now,
                resident_id=who,
                channel="test",
                chat_id=f"chat-{who}",
                language=language,
            )

    return make
