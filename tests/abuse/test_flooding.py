"""A resident flooding the bot is slowed down, told once, loses nothing, and never delays anybody else.

The limit (config.yaml ``limits:``) is counted from the inbox, so the same
tests run against the embedded processor on SQLite and the lease workers on
PostgreSQL. Order is checked through outbox row ids (what the dispatcher
sends first), never through timing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.catalog import FlowCatalog
from bot.config import Config, LimitSettings
from bot.engine import Engine
from bot.inbox import accept
from bot.processor import Processor
from bot.worker import Worker
from models.db import Database
from models.rawsql import from_db_json
from tests.support.scale import message, rows

FLOOD = 500


def limited(config: Config, per_window: int) -> Config:
    return dataclasses.replace(config, limits=LimitSettings(messages_per_window=per_window, window_seconds=60))


def runner(config: Config, database: Database, per_chat: int = 8) -> Callable[[], int]:
    """One batch of the database's own kind of processing: the processor (SQLite) or a lease worker."""
    engine = Engine(config, FlowCatalog(config, database.writer))
    if database.sqlite:
        return Processor(database.writer, engine, ["web"], per_chat=per_chat).run_once
    return Worker(database.writer, engine, ["web"], lease_seconds=30, rows_per_chat=per_chat).run_once


def drain(run: Callable[[], int]) -> None:
    for _ in range(1000):
        if not run():
            return
    raise AssertionError("the inbox never ran dry")


def flood(database: Database) -> None:
    accept(database.writer, [message("flooder", number, "hola") for number in range(FLOOD)])
    accept(database.writer, [message("neighbour", 0, "hola")])


def statuses(database: Database, chat_id: str) -> dict[str, int]:
    found = rows(
        database, "SELECT status, count(*) AS n FROM inbox WHERE chat_id = :chat GROUP BY status", chat=chat_id
    )
    return {row.status: int(row.n) for row in found}


def outbox(database: Database, chat_id: str) -> list[tuple[int, dict[str, object]]]:
    found = rows(database, "SELECT id, payload FROM outbox WHERE chat_id = :chat ORDER BY id", chat=chat_id)
    return [(int(row.id), from_db_json(row.payload)) for row in found]


def notices(database: Database, chat_id: str) -> list[str]:
    return [str(payload["text"]) for _, payload in outbox(database, chat_id) if payload.get("notice") == "slow_down"]


def test_a_flooder_gets_the_limit_one_notice_and_the_rest_later(config: Config, database: Database) -> None:
    run = runner(limited(config, 20), database)
    flood(database)
    drain(run)

    assert statuses(database, "flooder") == {"done": 20, "pending": FLOOD - 20}, "20 processed, the rest wait"
    assert statuses(database, "neighbour") == {"done": 1}, "the neighbour is answered"
    told = notices(database, "flooder")
    assert len(told) == 1 and "deprisa" in told[0], told
    assert notices(database, "neighbour") == []

    drain(run)  # still within the window: nothing more, and no second notice
    assert statuses(database, "flooder")["pending"] == FLOOD - 20
    assert len(notices(database, "flooder")) == 1

    # the window moves on: the next 20 are taken, in order, and the same burst is not told again
    with database.writer.begin() as connection:
        connection.execute(
            text("UPDATE inbox SET processed_at = :then WHERE chat_id = 'flooder' AND status = 'done'"),
            {"then": datetime.now(UTC) - timedelta(seconds=61)},
        )
    drain(run)
    assert statuses(database, "flooder") == {"done": 40, "pending": FLOOD - 40}
    done = rows(
        database, "SELECT platform_message_id FROM inbox WHERE chat_id = 'flooder' AND status = 'done' ORDER BY id"
    )
    assert [row.platform_message_id for row in done] == [f"flooder:{number}" for number in range(40)], "in order"
    assert len(notices(database, "flooder")) == 1


def test_a_backlog_never_delays_another_residents_message(config: Config, database: Database) -> None:
    """Without any limit in the way, the neighbour's one message is served before the flooder's backlog."""
    run = runner(limited(config, 10_000), database)
    flood(database)
    run()  # one batch

    assert statuses(database, "neighbour") == {"done": 1}, "served in the first batch"
    neighbour_first = outbox(database, "neighbour")[0][0]
    flooder_before = [row_id for row_id, _ in outbox(database, "flooder") if row_id < neighbour_first]
    flooder_done = statuses(database, "flooder")["done"]
    assert flooder_done <= 8, "the flooder took at most its share of the batch"
    assert len(flooder_before) <= 8 * 4, "the neighbour's reply is queued before the flooder's backlog"

    drain(runner(limited(config, 10_000), database, per_chat=FLOOD))  # the rest in big batches, to save time
    assert statuses(database, "flooder") == {"done": FLOOD}, "nothing of the flood is lost"
    assert notices(database, "flooder") == []


def test_messages_after_the_allowance_is_used_are_told_once_too(config: Config, database: Database) -> None:
    """The allowance is used up by messages that were all answered; the ones that come next wait, told once."""
    run = runner(limited(config, 20), database)
    accept(database.writer, [message("flooder", number, "hola") for number in range(20)])
    drain(run)
    assert statuses(database, "flooder") == {"done": 20} and notices(database, "flooder") == []
    accept(database.writer, [message("flooder", number, "hola") for number in range(20, 25)])
    drain(run)
    drain(run)
    assert statuses(database, "flooder") == {"done": 20, "pending": 5}
    assert len(notices(database, "flooder")) == 1


def test_a_resident_with_an_official_is_neither_held_back_nor_told_by_the_bot(
    config: Config, database: Database
) -> None:
    """With an official the bot is silent (not even "slow down"), and the messages go to the official at once."""
    run = runner(limited(config, 20), database)
    accept(database.writer, [message("flooder", 0, "hola")])
    drain(run)
    with database.writer.begin() as connection:
        connection.execute(text("UPDATE conversations SET mode = 'official' WHERE chat_id = 'flooder'"))
    before = len(outbox(database, "flooder"))
    accept(database.writer, [message("flooder", number, "¿hay alguien?") for number in range(1, 60)])
    drain(run)

    assert statuses(database, "flooder") == {"done": 60}, "none held back"
    assert notices(database, "flooder") == []
    assert len(outbox(database, "flooder")) == before, "the bot said nothing"
