"""A broadcast through the dispatcher: replies overtake it, a cancel stops it, progress and ETA, resuming."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from adapters.base import Dispatch, Limits
from adapters.web import WebChannel
from bot import broadcast as broadcasts
from bot.broadcast import OUTBOX, cancel_broadcast, create_broadcast, eta_text, progress, start_broadcast
from bot.config import Config
from bot.messages import OutboundMessage, SentReceipt
from bot.outbox import Dispatcher, Reply, enqueue
from bot.runtime import Plaza
from models.db import Database
from tests.support.server import wait_for
from tests.support.subscribers import add_subscribers, outbox_rows

TEXTS = {"es": "Se abre el plazo de la bolsa de empleo.", "en": "The job pool is open for applications."}


class Recorder:
    """A channel (Plaza's Channel protocol) that records sends and can run a hook on the n-th one."""

    def __init__(self, name: str = "rec") -> None:
        self._name = name
        self.sent: list[OutboundMessage] = []
        self.hooks: dict[int, object] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def limits(self) -> Limits:
        return Limits(max_text=10_000, max_options=10, per_chat_per_s=1000.0, overall_per_s=100_000.0)

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.sent.append(message)
        hook = self.hooks.pop(len(self.sent), None)
        if callable(hook):
            hook()
        return SentReceipt(platform_message_ids=(f"p{message.id}",), sent_at=datetime.now(UTC))


def broadcast(database: Database, config: Config, subscribers: int) -> tuple[int, list[str]]:
    chats = add_subscribers(database.writer, subscribers, topic="jobs", channel="rec")
    with database.writer.begin() as connection:
        broadcast_id = create_broadcast(connection, config, topic="jobs", texts=TEXTS, author="cli")
    start_broadcast(database.writer, broadcast_id, batch=100)
    return broadcast_id, chats


async def drain(dispatcher: Dispatcher) -> None:
    while await dispatcher.dispatch_once():
        pass


async def test_a_reply_committed_mid_round_goes_before_the_rest_of_the_broadcast(
    config: Config, pooled: Database
) -> None:
    database = pooled
    _, chats = broadcast(database, config, 600)
    channel = Recorder()
    dispatcher = Dispatcher(database.writer, channel, batch=200)

    def resident_writes() -> None:  # the engine commits a reply, then wakes the dispatcher
        with database.writer.begin() as connection:
            enqueue(connection, channel="rec", chat_id="resident", replies=[Reply("Su cita es el martes.")])
        dispatcher.wake()

    channel.hooks[50] = resident_writes  # while the 50th broadcast message is in flight
    await drain(dispatcher)
    order = [m.chat_id for m in channel.sent]
    assert order.index("resident") == 50  # right after the message in flight, before the other 550
    assert Counter(order) == Counter([*chats, "resident"])  # and the broadcast still reached everyone once


async def test_cancel_stops_sending_at_once_and_keeps_what_was_sent(config: Config, pooled: Database) -> None:
    database = pooled
    broadcast_id, _ = broadcast(database, config, 300)
    channel = Recorder()

    def official_cancels() -> None:
        with database.writer.begin() as connection:
            cancel_broadcast(connection, broadcast_id)

    channel.hooks[40] = official_cancels
    await drain(Dispatcher(database.writer, channel, batch=200))
    assert len(channel.sent) == 40  # rows read in the same round were not sent after the cancel
    statuses = Counter(str(r["status"]) for r in outbox_rows(database.writer, broadcast_id))
    # the 40th was in flight (claimed, `sending`) when the cancel committed: it went out and counts as sent
    assert statuses == Counter({"sent": 40, "cancelled": 260})
    with database.reader.connect() as connection:
        shown = progress(connection, broadcast_id)
    assert (shown.status, shown.sent, shown.pending, shown.eta_seconds) == ("cancelled", 40, 0, None)


def test_progress_counts_and_estimates_from_the_observed_rate(config: Config, database: Database) -> None:
    broadcast_id, _ = broadcast(database, config, 30)
    rows = outbox_rows(database.writer, broadcast_id)
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with database.writer.begin() as connection:
        for n, row in enumerate(rows[:11]):  # 11 sent, one per 2 seconds: 0.5 messages/s
            connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == row["id"])
                .values(status="sent", sent_at=start + timedelta(seconds=2 * n))
            )
        connection.execute(update(OUTBOX).where(OUTBOX.c.id == rows[11]["id"]).values(status="failed"))
        shown = progress(connection, broadcast_id)
    assert (shown.total, shown.sent, shown.failed, shown.pending, shown.status) == (30, 11, 1, 18, "sending")
    assert shown.rate == 0.5
    assert shown.eta_seconds == 36.0  # 18 left at 0.5/s
    assert eta_text(shown.eta_seconds) == "36s" and eta_text(3725) == "1h 02m" and eta_text(None) == "?"


async def test_a_broadcast_with_everything_settled_reads_done(config: Config, database: Database) -> None:
    broadcast_id, _ = broadcast(database, config, 5)
    await asyncio.wait_for(drain(Dispatcher(database.writer, Recorder())), timeout=30)
    with database.writer.begin() as connection:
        shown = progress(connection, broadcast_id)
        assert (shown.status, shown.sent, shown.total, shown.eta_seconds) == ("done", 5, 5, 0.0)
        assert shown.finished_at is not None


async def test_plaza_finishes_queueing_a_broadcast_whose_send_was_interrupted(
    config: Config, database: Database
) -> None:
    chats = add_subscribers(database.writer, 120, topic="jobs", channel="web")
    with database.writer.begin() as connection:
        broadcast_id = create_broadcast(connection, config, topic="jobs", texts=TEXTS, author="cli")
    with database.writer.begin() as connection:  # `plaza broadcast send` died after its first batch
        broadcasts._start(connection, broadcast_id, 0)
        broadcasts._expand_batch(connection, broadcast_id, 50)
    assert len(outbox_rows(database.writer, broadcast_id)) == 50

    def finished() -> bool:
        with database.reader.connect() as connection:
            return progress(connection, broadcast_id).status == "done"

    web = WebChannel()
    async with Plaza(config, [web], database=database, poll_interval=0.05, reload_interval=None):
        await asyncio.to_thread(wait_for, finished, 60)
    rows = outbox_rows(database.writer, broadcast_id)
    assert Counter(str(r["chat_id"]) for r in rows) == Counter(chats)
    assert {r["status"] for r in rows} == {"sent"}
