"""A running Plaza queues due reminders by itself, also those that fell due while it was down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bot.config import Config
from bot.runtime import Plaza
from models import Appointment, OutboxItem
from models.db import Database
from tests.support.appointments import NewResident, rows

APPOINTMENTS = Appointment.__table__
OUTBOX = OutboxItem.__table__


async def test_plaza_sends_a_reminder_that_fell_due_while_it_was_stopped(
    config: Config, database: Database, new_resident: NewResident
) -> None:
    now = datetime.now(UTC)
    resident = new_resident("en")
    with database.writer.begin() as connection:
        connection.execute(
            insert(APPOINTMENTS).values(
                reference="JUN-C-000042",
                service="doctor",
                department="salud",
                starts_at=now + timedelta(hours=2),  # due since the day before, at 10:00
                seat=1,
                status="booked",
                resident_id=resident,
                channel="web",
                chat_id="w-1",
                language="en",
                created_at=now - timedelta(days=3),
            )
        )
    plaza = Plaza(config, [], database=database, reload_interval=None, reminder_interval=0.05)
    async with plaza:
        for _ in range(100):
            if rows(database)[0]["reminder_sent_at"] is not None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a few more rounds: still one reminder
    assert rows(database)[0]["reminder_sent_at"] is not None
    with database.writer.begin() as connection:
        sent = connection.execute(select(OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload)).all()
    assert len(sent) == 1
    assert (sent[0].channel, sent[0].chat_id) == ("web", "w-1")
    assert sent[0].payload["text"].startswith("A reminder of your appointment: Family doctor, on ")
    assert "JUN-C-000042" in sent[0].payload["text"]
