"""Login throttling by username and by client address, with explicit clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sessions import MAX_CLIENT_FAILURES, MAX_FAILURES, WINDOW, locked_for, record_attempt
from models.db import Database

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_a_username_is_locked_after_its_failures_until_they_age_out(database: Database) -> None:
    with database.writer.begin() as connection:
        for minute in range(MAX_FAILURES):
            assert locked_for(connection, "marta", "10.0.0.1", now=T0 + timedelta(minutes=minute)) is None
            record_attempt(connection, "marta", f"10.0.0.{minute}", False, now=T0 + timedelta(minutes=minute))
        now = T0 + timedelta(minutes=MAX_FAILURES)
        wait = locked_for(connection, "Marta", "192.168.1.1", now=now)
        assert wait is not None and timedelta(0) < wait <= WINDOW
        assert locked_for(connection, "pablo", "192.168.1.1", now=now) is None
        assert locked_for(connection, "marta", "192.168.1.1", now=now + wait + timedelta(seconds=1)) is None


def test_a_success_clears_the_count(database: Database) -> None:
    with database.writer.begin() as connection:
        for second in range(MAX_FAILURES - 1):
            record_attempt(connection, "marta", "10.0.0.1", False, now=T0 + timedelta(seconds=second))
        record_attempt(connection, "marta", "10.0.0.1", True, now=T0 + timedelta(seconds=10))
        record_attempt(connection, "marta", "10.0.0.1", False, now=T0 + timedelta(seconds=20))
        assert locked_for(connection, "marta", "10.0.0.1", now=T0 + timedelta(seconds=30)) is None


def test_one_address_trying_many_usernames_is_locked(database: Database) -> None:
    with database.writer.begin() as connection:
        for number in range(MAX_CLIENT_FAILURES):
            record_attempt(connection, f"user{number}", "203.0.113.9", False, now=T0 + timedelta(seconds=number))
        later = T0 + timedelta(minutes=1)
        assert locked_for(connection, "someone-new", "203.0.113.9", now=later) is not None
        assert locked_for(connection, "someone-new", "203.0.113.10", now=later) is None
