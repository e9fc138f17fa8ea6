"""Reminders: the day before, in the resident's language, through the outbox, once."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from sqlalchemy import select

from bot.appointments import cancel
from bot.config import Config
from bot.flows import load_messages
from bot.reminders import send_due_reminders
from models import OutboxItem
from models.db import Database
from tests.support.appointments import Book, local, rows

OUTBOX = OutboxItem.__table__
Wording = Mapping[str, Mapping[str, str]]
BOOKED_AT = local(2026, 11, 27, 18)  # a Friday
TUESDAY_9 = local(2026, 12, 1, 9)


@pytest.fixture
def messages(config: Config) -> Wording:
    return load_messages(config.flows_dir / "messages.yaml", config.languages)


def outbox(database: Database) -> list[tuple[str, str, str]]:
    with database.writer.begin() as connection:
        found = connection.execute(
            select(OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload, OUTBOX.c.status).order_by(OUTBOX.c.id)
        ).all()
    assert all(status == "pending" for *_, status in found)
    return [(channel, chat_id, payload["text"]) for channel, chat_id, payload, _ in found]


def test_a_reminder_goes_out_the_day_before_once(
    config: Config, database: Database, booking: Book, messages: Wording
) -> None:
    made = booking("doctor", TUESDAY_9, BOOKED_AT)
    assert made is not None
    remind = send_due_reminders
    assert remind(database.writer, config, messages, local(2026, 11, 30, 9, 59)) == 0
    assert outbox(database) == []
    assert remind(database.writer, config, messages, local(2026, 11, 30, 10, 0)) == 1
    assert remind(database.writer, config, messages, local(2026, 11, 30, 10, 1)) == 0
    assert remind(database.writer, config, messages, local(2026, 12, 1, 8, 0)) == 0
    assert outbox(database) == [
        (
            "test",
            made.chat_id,
            f"Le recuerdo su cita: Médico de cabecera, el martes 01/12 a las 09:00. Referencia {made.reference}."
            " Si no puede venir, anúlela desde «Pedir o cambiar una cita».",
        )
    ]
    assert rows(database)[0]["reminder_sent_at"] == local(2026, 11, 30, 10, 0)


def test_a_server_down_the_day_before_still_reminds_before_the_appointment(
    config: Config, database: Database, booking: Book, messages: Wording
) -> None:
    assert booking("doctor", TUESDAY_9, BOOKED_AT) is not None
    assert send_due_reminders(database.writer, config, messages, local(2026, 12, 1, 8, 30)) == 1
    assert send_due_reminders(database.writer, config, messages, local(2026, 12, 1, 9, 0)) == 0


def test_the_reminder_is_in_the_residents_language(
    config: Config, database: Database, booking: Book, messages: Wording
) -> None:
    made = booking("nursing", local(2026, 12, 1, 8, 45), BOOKED_AT, language="en")
    assert made is not None
    assert send_due_reminders(database.writer, config, messages, local(2026, 11, 30, 12)) == 1
    ((_, _, text),) = outbox(database)
    assert text.startswith("A reminder of your appointment: Nursing, on Tuesday 01/12 at 08:45.")
    assert made.reference in text


def test_no_reminder_for_a_cancelled_appointment_or_one_booked_after_the_reminder_time(
    config: Config, database: Database, booking: Book, messages: Wording
) -> None:
    cancelled = booking("doctor", TUESDAY_9, BOOKED_AT)
    assert cancelled is not None
    with database.writer.begin() as connection:
        assert cancel(connection, cancelled.id, cancelled.resident_id, BOOKED_AT)
    late = booking("doctor", local(2026, 12, 1, 9, 20), local(2026, 11, 30, 11))  # booked after 10:00 the day before
    assert late is not None
    assert send_due_reminders(database.writer, config, messages, local(2026, 11, 30, 12)) == 0
    assert outbox(database) == []


def test_two_schedulers_at_once_remind_once(
    config: Config, database: Database, booking: Book, messages: Wording
) -> None:
    for minute in (0, 20, 40):
        assert booking("doctor", local(2026, 12, 1, 9, minute), BOOKED_AT) is not None
    barrier = threading.Barrier(2)
    counts: list[object] = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            counts[index] = send_due_reminders(database.writer, config, messages, local(2026, 11, 30, 10))
        except BaseException as error:  # shown by the assertion below
            counts[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(c, int) for c in counts), counts
    assert sum(c for c in counts if isinstance(c, int)) == 3, counts
    assert len(outbox(database)) == 3
    assert len({chat_id for _, chat_id, _ in outbox(database)}) == 3
