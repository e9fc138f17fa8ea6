"""Booking a seat: the database decides a race for the last one; cancelling frees it."""

from __future__ import annotations

import threading
from datetime import datetime

from bot.appointments import Booking, book, cancel
from bot.config import Config
from models.db import Database
from tests.support.appointments import Book, NewResident, local, rows

NOW = local(2026, 11, 28, 12)
SLOT = local(2026, 11, 30, 9, 20)


def race(config: Config, database: Database, residents: list[int], service: str, starts_at: datetime) -> list[object]:
    """Each resident books the same slot at the same moment, in their own thread and connection."""
    barrier = threading.Barrier(len(residents))
    results: list[object] = [None] * len(residents)

    def attempt(index: int) -> None:
        try:
            with database.writer.connect() as connection:
                barrier.wait(timeout=10)
                with connection.begin():
                    results[index] = book(
                        connection,
                        config=config,
                        service=config.services[service],
                        starts_at=starts_at,
                        now=NOW,
                        resident_id=residents[index],
                        channel="test",
                        chat_id=f"chat-{residents[index]}",
                        language="es",
                    )
        except BaseException as error:  # the assertion below shows it
            results[index] = error

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(residents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_residents_racing_for_the_last_seat_exactly_one_gets_it(
    config: Config, database: Database, new_resident: NewResident
) -> None:
    for _ in range(5):  # several rounds: the race must hold every time, not by luck of timing
        residents = [new_resident(), new_resident()]
        results = race(config, database, residents, "doctor", SLOT)
        assert all(r is None or isinstance(r, Booking) for r in results), results
        winners = [r for r in results if isinstance(r, Booking)]
        assert len(winners) == 1, results
        stored = [row for row in rows(database) if row["starts_at"] == SLOT and row["seat"] is not None]
        assert len(stored) == 1
        assert stored[0]["resident_id"] == winners[0].resident_id
        assert stored[0]["reference"] == winners[0].reference
        database_cancel(database, winners[0])  # free the slot for the next round


def database_cancel(database: Database, booking: Booking) -> None:
    with database.writer.begin() as connection:
        assert cancel(connection, booking.id, booking.resident_id, NOW)


def test_three_residents_racing_for_a_slot_of_two_two_get_it(
    config: Config, database: Database, new_resident: NewResident
) -> None:
    residents = [new_resident() for _ in range(3)]
    results = race(config, database, residents, "nursing", local(2026, 11, 30, 8, 30))
    winners = [r for r in results if isinstance(r, Booking)]
    assert len(winners) == 2, results
    assert results.count(None) == 1
    assert sorted(row["seat"] for row in rows(database)) == [1, 2]


def test_a_booking_is_stored_with_its_reference(config: Config, database: Database, booking: Book) -> None:
    made = booking("doctor", SLOT, NOW, language="en")
    assert made is not None
    (row,) = rows(database)
    assert row["reference"] == made.reference == f"JUN-C-{row['id']:06d}"
    assert row["service"] == "doctor"
    assert row["department"] == "salud"
    assert row["starts_at"] == SLOT
    assert row["status"] == "booked"
    assert row["seat"] == 1
    assert row["language"] == "en"
    assert row["reminder_sent_at"] is None


def test_cancelling_frees_the_seat(
    config: Config, database: Database, booking: Book, new_resident: NewResident
) -> None:
    first = booking("doctor", SLOT, NOW)
    assert first is not None
    assert booking("doctor", SLOT, NOW) is None
    stranger = new_resident()
    with database.writer.begin() as connection:
        assert not cancel(connection, first.id, stranger, NOW)  # only one's own
        assert cancel(connection, first.id, first.resident_id, NOW)
        assert not cancel(connection, first.id, first.resident_id, NOW)  # once
    second = booking("doctor", SLOT, NOW)
    assert second is not None
    cancelled, booked = rows(database)
    assert (cancelled["status"], cancelled["seat"]) == ("cancelled", None)
    assert cancelled["cancelled_at"] == NOW
    assert (booked["status"], booked["seat"], booked["id"]) == ("booked", 1, second.id)


def test_past_times_and_times_that_are_not_slots_are_refused(config: Config, database: Database, booking: Book) -> None:
    assert booking("doctor", local(2026, 11, 30, 9, 5), NOW) is None  # not a slot start
    assert booking("doctor", local(2026, 11, 30, 14, 0), NOW) is None  # closing time
    assert booking("doctor", local(2026, 11, 28, 9, 0), NOW) is None  # a Saturday
    assert booking("doctor", local(2026, 11, 30, 9, 0), local(2026, 11, 30, 9, 0)) is None  # starting now
    assert rows(database) == []
