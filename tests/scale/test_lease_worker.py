"""Lease workers on PostgreSQL, in this process: shared streams, the fence, expired leases, NOTIFY wake-ups."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Connection, text

from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.inbox import accept
from bot.listener import INBOX_CHANNEL, Listener
from bot.metrics import REGISTRY
from bot.worker import Claim, Worker
from models.db import Database
from tests.support.scale import SCRIPT, check_stream, message, pending, rows, send_round
from tests.support.server import wait_for

pytestmark = pytest.mark.postgres


def step_engine(config: Config, database: Database) -> Engine:
    return Engine(config, FlowCatalog(config, database.writer))


def lost() -> float:
    return REGISTRY.get_sample_value("plaza_leases_lost_total") or 0.0


def test_two_workers_share_a_stream_nothing_lost_doubled_or_reordered(
    config: Config, pg: Database, reference: list[str]
) -> None:
    engine = step_engine(config, pg)
    team = [Worker(pg.writer, engine, ["web"], lease_seconds=10, poll_interval=0.1) for _ in range(2)]
    chats = [f"resident-{number:03d}" for number in range(40)]
    for worker in team:
        worker.start()
    try:
        for number in range(len(SCRIPT)):
            send_round(pg, chats, number)
            for worker in team:
                worker.wake()
        wait_for(lambda: pending(pg) == 0, timeout=120, interval=0.1)
    finally:
        for worker in team:
            worker.stop()
    check_stream(pg, chats, reference)
    leases = rows(pg, "SELECT owner, lease_until FROM conversation_leases")
    assert len(leases) == len(chats) and all(tuple(row) == (None, None) for row in leases), "every lease handed back"


def test_a_worker_whose_lease_was_taken_over_fails_its_late_commit(config: Config, pg: Database) -> None:
    """A stalled worker's lease runs out and a successor claims the chat; the stalled one's commit must not land."""
    engine = step_engine(config, pg)
    accept(pg.writer, [message("stalled", 0, "hola"), message("stalled", 1, "1")])
    stolen: list[Claim] = []

    def successor_claims(connection: Connection, claim: Claim) -> None:
        # runs inside the stalled worker's transaction, after its steps, just before its fence check
        if stolen:
            return
        with pg.writer.begin() as other:
            other.execute(
                text(
                    "UPDATE conversation_leases SET owner = 'successor', fence = fence + 1, "
                    "lease_until = clock_timestamp() + interval '60 seconds' "
                    "WHERE channel = :channel AND chat_id = :chat_id"
                ),
                {"channel": claim.channel, "chat_id": claim.chat_id},
            )
        stolen.append(claim)

    stalled = Worker(pg.writer, engine, ["web"], lease_seconds=10, before_fence=successor_claims)
    before = lost()
    stalled.run_once()
    assert stolen, "the worker claimed the chat and ran its steps"
    assert lost() == before + 1
    inbox = rows(pg, "SELECT status, attempts, processed_at FROM inbox ORDER BY id")
    assert [tuple(row) for row in inbox] == [("pending", 0, None)] * 2, "nothing of the late round landed"
    assert rows(pg, "SELECT id FROM conversations") == []
    assert rows(pg, "SELECT id FROM outbox") == []
    (lease,) = rows(pg, "SELECT owner, fence FROM conversation_leases")
    assert tuple(lease) == ("successor", stolen[0].fence + 1), "the successor's lease stands"
    assert stalled.claim() == [], "nobody claims a chat under a live lease"

    # the successor dies too; once its lease runs out, the chat is processed exactly once
    with pg.writer.begin() as connection:
        connection.execute(text("UPDATE conversation_leases SET lease_until = clock_timestamp() - interval '1 second'"))
    assert Worker(pg.writer, engine, ["web"], lease_seconds=10).run_once() == 2
    inbox = rows(pg, "SELECT status, attempts FROM inbox ORDER BY id")
    assert [tuple(row) for row in inbox] == [("done", 1)] * 2
    (conversation,) = rows(pg, "SELECT version FROM conversations")
    assert conversation.version == 2
    assert rows(pg, "SELECT owner FROM conversation_leases")[0].owner is None


def test_a_dead_workers_chats_wait_for_its_lease_then_go_on(config: Config, pg: Database, reference: list[str]) -> None:
    engine = step_engine(config, pg)
    accept(pg.writer, [message("orphan", number, said) for number, said in enumerate(SCRIPT)])
    dead = Worker(pg.writer, engine, ["web"], owner="dead-worker", lease_seconds=1.5)
    (claim,) = dead.claim()  # ...and it dies here, holding the lease
    assert claim.fence == 1
    heir = Worker(pg.writer, engine, ["web"], owner="heir", lease_seconds=10)
    claimed_at = time.monotonic()
    assert heir.run_once() == 0, "the lease is still the dead worker's"
    wait_for(lambda: heir.run_once() > 0, timeout=30, interval=0.2)
    assert time.monotonic() - claimed_at >= 1.0, "taken over only after the lease"
    while heir.run_once():
        pass
    check_stream(pg, ["orphan"], reference)
    (lease,) = rows(pg, "SELECT owner, fence FROM conversation_leases")
    assert lease.owner is None and lease.fence >= 2


def test_a_stream_of_new_chats_under_many_workers_creates_each_conversation_once(config: Config, pg: Database) -> None:
    """Four workers race for chats whose conversation does not exist yet: one resident and conversation each."""
    engine = step_engine(config, pg)
    chats = [f"new-{number:03d}" for number in range(60)]
    accept(pg.writer, [message(chat, number, said) for number, said in enumerate(SCRIPT[:3]) for chat in chats])
    team = [Worker(pg.writer, engine, ["web"], lease_seconds=10, chats_per_round=4) for _ in range(4)]
    results: list[Any] = []

    def drain(worker: Worker) -> None:
        while worker.run_once():
            results.append(worker.owner)

    threads = [threading.Thread(target=drain, args=(worker,)) for worker in team]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert pending(pg) == 0
    assert rows(pg, "SELECT count(*) FROM conversations")[0][0] == len(chats)
    assert rows(pg, "SELECT count(*) FROM channel_identities")[0][0] == len(chats)
    statuses = rows(pg, "SELECT status, attempts, count(*) FROM inbox GROUP BY status, attempts")
    assert [tuple(row) for row in statuses] == [("done", 1, len(chats) * 3)]
    assert len(set(results)) > 1, "the work was shared"


def test_accept_notifies_listeners_after_its_commit(pg: Database) -> None:
    heard: list[str] = []
    listener = Listener(pg.writer, {INBOX_CHANNEL: heard.append})
    listener.start()
    try:
        assert listener.listening.wait(10)
        accept(pg.writer, [message("someone", 0, "hola")])
        wait_for(lambda: heard == ["web"], timeout=10)
        accept(pg.writer, [message("someone", 0, "hola")])  # a redelivery stores nothing and wakes nobody
        time.sleep(0.3)
        assert heard == ["web"]
    finally:
        listener.stop()


def test_workers_need_postgres(config: Config, sqlite: Database) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        Worker(sqlite.writer, step_engine(config, sqlite), ["web"])


def test_a_row_locked_by_a_stalled_transaction_costs_no_attempt(config: Config, pg: Database) -> None:
    """The lock timeout (well under the lease) ends the wait; the message waits for a later round, uncounted."""
    engine = step_engine(config, pg)
    accept(pg.writer, [message("blocked", 0, "hola")])
    worker = Worker(pg.writer, engine, ["web"], lease_seconds=1.2)  # lock_timeout 200 ms
    with pg.writer.connect() as stalled:
        stalled.begin()
        stalled.execute(text("SELECT id FROM inbox FOR UPDATE"))  # a transaction that holds the row and stalls
        assert worker.run_once() == 1
        assert [tuple(row) for row in rows(pg, "SELECT status, attempts, error FROM inbox")] == [("pending", 0, None)]
        assert rows(pg, "SELECT owner FROM conversation_leases")[0].owner is None, "the chat was handed back"
        stalled.rollback()
    assert worker.run_once() == 1
    assert [tuple(row) for row in rows(pg, "SELECT status, attempts FROM inbox")] == [("done", 1)]
