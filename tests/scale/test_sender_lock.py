"""One sender per channel account: dispatchers take turns on a PostgreSQL advisory lock.

In this process (two dispatchers on two connections: advisory locks are per
session, so this is what two processes see) and across two real ``plaza
worker`` processes sending through the fake Telegram Bot API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.base import Dispatch, Limits
from adapters.testing.telegram_server import serve_fake_telegram
from bot.listener import OUTBOX_CHANNEL, notify
from bot.messages import OutboundMessage, SentReceipt
from bot.outbox import Dispatcher, Reply, enqueue
from bot.senderlock import SenderLock, lock_key
from models.db import Database
from tests.support.databases import PostgresSchema
from tests.support.scale import WorkerProcess, rows, schema_url, town_with
from tests.support.server import wait_for

pytestmark = pytest.mark.postgres

NAME = "loud"


class Recorder:
    """A channel that records what it sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        return Limits(max_text=1000, max_options=10, per_chat_per_s=1000.0, overall_per_s=1000.0)

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.sent.append(message.text)
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))


def put(database: Database, channel: str, texts: list[str], chats: int = 3) -> None:
    with database.writer.begin() as connection:
        for number, said in enumerate(texts):
            enqueue(connection, channel=channel, chat_id=f"chat-{number % chats}", replies=[Reply(text=said)])
        notify(connection, OUTBOX_CHANNEL, channel)


def unsent(database: Database, channel: str) -> int:
    query = "SELECT count(*) FROM outbox WHERE channel = :channel AND status <> 'sent'"
    return int(rows(database, query, channel=channel)[0][0])


async def until(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_the_lock_is_per_schema_channel_and_account(pg: Database) -> None:
    first, second = SenderLock(pg.writer, NAME), SenderLock(pg.writer, NAME)
    other_channel = SenderLock(pg.writer, "quiet")
    try:
        assert first.acquire() and first.acquire(), "acquiring twice is harmless"
        assert not second.acquire()
        assert other_channel.acquire()
        assert first.held() and not second.held()
        first.release()
        assert second.acquire()
    finally:
        for lock in (first, second, other_channel):
            lock.release()
    assert lock_key("a", NAME, "default") != lock_key("b", NAME, "default")
    assert lock_key("a", NAME, "default") != lock_key("a", NAME, "other")


async def test_only_the_holder_sends_the_other_stands_by_then_recovers_and_takes_over(pg: Database) -> None:
    first, second = Recorder(), Recorder()
    holder = Dispatcher(pg.writer, first, poll_interval=0.2, lock=SenderLock(pg.writer, NAME), standby_interval=0.2)
    await holder.start()
    await until(lambda: holder.sending)
    standby = Dispatcher(pg.writer, second, poll_interval=0.2, lock=SenderLock(pg.writer, NAME), standby_interval=0.2)
    await standby.start()
    try:
        put(pg, NAME, [f"first {n}" for n in range(6)])
        holder.wake()
        standby.wake()
        await until(lambda: unsent(pg, NAME) == 0)
        assert sorted(first.sent) == sorted(f"first {n}" for n in range(6))
        assert second.sent == [] and not standby.sending

        # a row the holder is sending right now: the standby must not put it back while the holder lives
        put(pg, NAME, ["in flight"])
        with pg.writer.begin() as connection:
            connection.execute(text("UPDATE outbox SET status = 'sending' WHERE payload->>'text' = 'in flight'"))
        await asyncio.sleep(1.0)  # several standby rounds
        assert rows(pg, "SELECT status FROM outbox WHERE payload->>'text' = 'in flight'")[0][0] == "sending"

        await holder.stop()  # the holder goes away (a dead process's connection closes the same way)
        put(pg, NAME, [f"second {n}" for n in range(4)])
        await until(lambda: unsent(pg, NAME) == 0)
        assert sorted(second.sent) == sorted(["in flight", *(f"second {n}" for n in range(4))])
        assert len(first.sent) == 6
        assert standby.sending
    finally:
        await holder.stop()
        await standby.stop()


@pytest.mark.slow
def test_two_worker_processes_one_telegram_sender(
    tmp_path: Path, schema: PostgresSchema, pg: Database, workers: list[WorkerProcess]
) -> None:
    with serve_fake_telegram() as fake:
        users = [fake.user(7000 + number, f"U{number}") for number in range(5)]
        town = town_with(tmp_path, telegram=True)
        env = {
            "PLAZA_DATABASE_URL": schema_url(schema),
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "PTB_TIMEDELTA": "true",
            "PLAZA_LOG_LEVEL": "INFO",
        }
        one, two = WorkerProcess(town, env), WorkerProcess(town, env)
        workers.extend([one, two])
        one.wait_ready()
        two.wait_ready()

        def sends(worker: WorkerProcess) -> float:
            return worker.metrics().get(("plaza_send_seconds_count", (("channel", "telegram"),)), 0.0)

        def enqueue_for_users(label: str) -> list[str]:
            texts = [f"{label} {number}" for number in range(10)]
            with pg.writer.begin() as connection:
                for number, said in enumerate(texts):
                    user = users[number % len(users)]
                    enqueue(connection, channel="telegram", chat_id=str(user.id), replies=[Reply(text=said)])
                notify(connection, OUTBOX_CHANNEL, "telegram")
            return texts

        first = enqueue_for_users("aviso")
        wait_for(lambda: unsent(pg, "telegram") == 0, timeout=60, interval=0.1)
        counts = {one: sends(one), two: sends(two)}
        assert sorted(counts.values()) == [0.0, 10.0], "one process sent everything, the other none"
        sender = one if counts[one] else two
        standby = two if sender is one else one
        assert "standing by" in standby.output()

        sender.kill()
        second = enqueue_for_users("segundo aviso")
        wait_for(lambda: unsent(pg, "telegram") == 0, timeout=60, interval=0.1)
        assert sends(standby) == 10.0, "the standby took over after the sender died"
        texts = sorted(sent.text or "" for sent in fake.sent())
        assert texts == sorted(first + second), "each message sent exactly once"
        statuses = rows(pg, "SELECT status, attempts, count(*) FROM outbox GROUP BY status, attempts")
        assert [tuple(row) for row in statuses] == [("sent", 1, 20)]
