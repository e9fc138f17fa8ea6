"""Free days and times: closed days, full slots and times already past are never offered."""

from __future__ import annotations

from datetime import date, datetime

from bot.appointments import free_days, free_times
from bot.config import Config
from models.db import Database
from tests.support.appointments import MADRID, Book, NewResident, local

# 2026-11-28 is a Saturday; 2026-11-30 a Monday.


def days(
    config: Config, database: Database, service: str, now_: datetime, resident_id: int | None = None
) -> list[date]:
    with database.writer.begin() as connection:
        return free_days(connection, config.services[service], MADRID, now_, resident_id)


def times(config: Config, database: Database, service: str, day: date, now_: datetime) -> list[str]:
    with database.writer.begin() as connection:
        found = free_times(connection, config.services[service], day, MADRID, now_)
    return [f"{start:%H:%M}" for start in found]


def test_closed_days_are_skipped_and_days_ahead_counts_open_days(config: Config, database: Database) -> None:
    found = days(config, database, "doctor", local(2026, 11, 28, 12))
    assert found[0] == date(2026, 11, 30)
    assert len(found) == 7  # days_ahead: seven days with free slots, weekends left out
    assert all(day.weekday() < 5 for day in found)
    assert found[-1] == date(2026, 12, 8)
    social = days(config, database, "social_worker", local(2026, 11, 28, 12))
    assert social == [date(2026, 12, 1), date(2026, 12, 3), date(2026, 12, 8), date(2026, 12, 10)]


def test_times_already_past_today_are_not_offered(config: Config, database: Database) -> None:
    monday = date(2026, 11, 30)
    assert times(config, database, "doctor", monday, local(2026, 11, 30, 10, 5))[:2] == ["10:20", "10:40"]
    assert times(config, database, "doctor", monday, local(2026, 11, 30, 10, 20))[0] == "10:40"
    assert times(config, database, "doctor", monday, local(2026, 11, 29, 20))[0] == "09:00"
    # after closing time, today is no longer a free day
    assert days(config, database, "doctor", local(2026, 11, 30, 13, 40))[0] == date(2026, 12, 1)
    assert days(config, database, "doctor", local(2026, 11, 30, 13, 39))[0] == monday


def test_a_full_slot_and_a_full_day_are_not_offered(config: Config, database: Database, booking: Book) -> None:
    now = local(2026, 11, 28, 12)
    monday = date(2026, 11, 30)
    assert booking("doctor", local(2026, 11, 30, 9, 20), now) is not None
    assert times(config, database, "doctor", monday, now)[:2] == ["09:00", "09:40"]
    for hour, minute in [(h, m) for h in range(9, 14) for m in (0, 20, 40)]:
        booking("doctor", local(2026, 11, 30, hour, minute), now)
    assert times(config, database, "doctor", monday, now) == []
    assert days(config, database, "doctor", now)[0] == date(2026, 12, 1)


def test_a_slot_for_two_stays_free_until_both_seats_are_taken(
    config: Config, database: Database, booking: Book
) -> None:
    now = local(2026, 11, 28, 12)
    monday = date(2026, 11, 30)
    first = booking("nursing", local(2026, 11, 30, 8, 30), now)
    assert first is not None
    assert times(config, database, "nursing", monday, now)[0] == "08:30"
    second = booking("nursing", local(2026, 11, 30, 8, 30), now)
    assert second is not None
    assert times(config, database, "nursing", monday, now)[0] == "08:45"
    assert booking("nursing", local(2026, 11, 30, 8, 30), now) is None  # a third resident: full


def test_a_resident_is_not_offered_a_slot_they_already_hold(
    config: Config, database: Database, booking: Book, new_resident: NewResident
) -> None:
    now = local(2026, 11, 28, 12)
    resident = new_resident()
    assert booking("nursing", local(2026, 11, 30, 8, 30), now, resident_id=resident) is not None
    with database.writer.begin() as connection:
        mine = free_times(connection, config.services["nursing"], date(2026, 11, 30), MADRID, now, resident)
    assert f"{mine[0]:%H:%M}" == "08:45"
    assert booking("nursing", local(2026, 11, 30, 8, 30), now, resident_id=resident) is None
