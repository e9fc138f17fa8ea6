"""The outbox dispatcher: in order per chat, marked sent once, retried with backoff, failures kept visible.

The channel here is a recording implementation of Plaza's own Channel
protocol (not a platform fake): it stands for any adapter and lets each test
decide what the next send does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from adapters.base import Dispatch, Limits
from bot.errors import RetryLater, Undeliverable
from bot.messages import OutboundMessage, SentReceipt
from bot.outbox import Dispatcher, Reply, enqueue
from models import OutboxItem
from models.db import Database

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


class RecordingChannel:
    """Sends by appending to ``sent``; ``failures`` decides, per call, to raise instead."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.failures: list[Callable[[OutboundMessage], None]] = []

    @property
    def name(self) -> str:
        return "rec"

    @property
    def limits(self) -> Limits:
        return Limits(max_text=100, max_options=10, per_chat_per_s=100.0, overall_per_s=100.0)

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        if self.failures:
            self.failures.pop(0)(message)
        self.sent.append(message)
        return SentReceipt(platform_message_ids=(f"p{message.id}",), sent_at=datetime.now(UTC))


def put(database: Database, chat: str, *texts: str) -> None:
    with database.writer.begin() as connection:
        enqueue(connection, channel="rec", chat_id=chat, replies=[Reply(text=t) for t in texts])


def rows(database: Database) -> list[dict[str, object]]:
    with database.reader.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def make_due(database: Database) -> None:
    with database.writer.begin() as connection:
        connection.execute(update(OUTBOX).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


async def test_sends_in_order_and_marks_each_row_sent_once(database: Database) -> None:
    channel = RecordingChannel()
    put(database, "ana", "uno", "dos", "tres")
    put(database, "bea", "a", "b")
    dispatcher = Dispatcher(database.writer, channel)
    assert await dispatcher.dispatch_once() == 5
    assert [m.text for m in channel.sent if m.chat_id == "ana"] == ["uno", "dos", "tres"]
    assert [m.text for m in channel.sent if m.chat_id == "bea"] == ["a", "b"]
    stored = rows(database)
    assert all(r["status"] == "sent" and r["attempts"] == 1 and r["sent_at"] for r in stored)
    assert [r["platform_message_ids"] for r in stored] == [[f"p{r['id']}"] for r in stored]
    assert await dispatcher.dispatch_once() == 0  # nothing is sent twice
    assert len(channel.sent) == 5


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_retry_later_pauses_the_account_and_holds_the_chats_later_messages(database: Database) -> None:
    channel = RecordingChannel()

    def rate_limited(message: OutboundMessage) -> None:
        raise RetryLater("rec", 30.0, "429 Too Many Requests")

    channel.failures.append(rate_limited)
    put(database, "ana", "first", "second")
    put(database, "bea", "other chat")
    clock = Clock()
    dispatcher = Dispatcher(database.writer, channel, clock=clock)
    assert await dispatcher.dispatch_once() == 0
    assert channel.sent == []  # the 429 pauses the whole account, not only ana's chat
    first, second, third = rows(database)
    assert first["status"] == "pending" and first["attempts"] == 1 and "429" in str(first["last_error"])
    assert first["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=25)  # type: ignore[operator]
    assert second["status"] == "pending" and second["attempts"] == 0
    assert third["status"] == "pending" and third["attempts"] == 0
    clock.now += 29
    assert await dispatcher.dispatch_once() == 0  # still paused
    clock.now += 2
    assert await dispatcher.dispatch_once() == 1  # bea's message goes; ana's first is not due yet in the db
    make_due(database)
    assert await dispatcher.dispatch_once() == 2
    assert [m.text for m in channel.sent] == ["other chat", "first", "second"]  # ana's second never overtook


async def test_undeliverable_fails_the_row_with_its_reason(database: Database) -> None:
    channel = RecordingChannel()

    def blocked(message: OutboundMessage) -> None:
        raise Undeliverable("rec", "Forbidden: bot was blocked by the user")

    channel.failures.append(blocked)
    put(database, "ana", "hola", "¿sigue ahí?")
    await Dispatcher(database.writer, channel).dispatch_once()
    first, second = rows(database)
    assert first["status"] == "failed" and first["last_error"] == "Forbidden: bot was blocked by the user"
    assert second["status"] == "sent"


@pytest.mark.parametrize("max_attempts", [3])
async def test_unexpected_errors_back_off_then_give_up(database: Database, max_attempts: int) -> None:
    channel = RecordingChannel()

    def broken(message: OutboundMessage) -> None:
        raise ConnectionResetError("connection reset by peer")

    channel.failures.extend([broken] * max_attempts)
    put(database, "ana", "hola")
    dispatcher = Dispatcher(database.writer, channel, max_attempts=max_attempts)
    delays = []  # (at least, at most): the failure happened between `before` and `after`
    for _ in range(max_attempts):
        make_due(database)
        before = datetime.now(UTC)
        await dispatcher.dispatch_once()
        after = datetime.now(UTC)
        (row,) = rows(database)
        due = row["next_attempt_at"]
        delays.append(((due - after).total_seconds(), (due - before).total_seconds()))  # type: ignore[operator]
    # 1 s then 2 s (±25 % jitter), however slow the machine; the last attempt gives up instead of waiting
    for (least, most), base in zip(delays, (1.0, 2.0), strict=False):
        assert least <= 1.25 * base and most >= 0.75 * base, (least, most, base)
    assert delays[1][1] > delays[0][0]  # it grew
    (row,) = rows(database)
    assert row["status"] == "failed" and row["attempts"] == max_attempts
    assert "gave up after 3 attempts" in str(row["last_error"]) and "connection reset" in str(row["last_error"])
    assert channel.sent == []


async def test_a_platform_in_trouble_is_retried_with_growing_waits_past_max_attempts(database: Database) -> None:
    """5xx, timeouts, closed connections (RetryLater, not a rate limit): no reply is lost to a count of
    attempts; the waits grow; only a row still refused a day after it was written is given up."""
    channel = RecordingChannel()

    def down(message: OutboundMessage) -> None:
        raise RetryLater("rec", 5.0, "502 Bad Gateway")

    channel.failures.extend([down] * 6)
    put(database, "ana", "hola")
    clock = Clock()
    dispatcher = Dispatcher(database.writer, channel, clock=clock, max_attempts=3)
    waits: list[float] = []
    for _ in range(6):
        before = datetime.now(UTC)
        assert await dispatcher.dispatch_once() == 0
        [row] = rows(database)
        assert row["status"] == "pending"
        waits.append((row["next_attempt_at"] - before).total_seconds())  # type: ignore[operator]
        clock.now += 400
        make_due(database)
    assert waits[0] >= 4.9 and waits[-1] > 20, waits  # at least what the platform said, then backing off
    assert await dispatcher.dispatch_once() == 1
    [row] = rows(database)
    assert (row["status"], row["attempts"]) == ("sent", 7)
    assert [m.text for m in channel.sent] == ["hola"]

    channel.failures.append(down)
    put(database, "bea", "adiós")
    with database.writer.begin() as connection:
        connection.execute(
            update(OUTBOX).where(OUTBOX.c.chat_id == "bea").values(created_at=datetime.now(UTC) - timedelta(days=1))
        )
    clock.now += 400
    await dispatcher.dispatch_once()
    late = rows(database)[-1]
    assert late["status"] == "failed" and str(late["last_error"]).startswith("gave up after 1 attempts: ")


class SlowChannel(RecordingChannel):
    """A send that takes a while: ``started`` is set once the platform call is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.started.set()
        await asyncio.sleep(0.3)
        return await super().send(message)


async def test_stopping_finishes_the_send_in_flight_and_claims_no_more(database: Database) -> None:
    """A clean stop (SIGTERM) must not leave a row ``sending``: the next start would send it again."""
    channel = SlowChannel()
    put(database, "ana", "uno", "dos", "tres")
    dispatcher = Dispatcher(database.writer, channel, poll_interval=0.05)
    await dispatcher.start()
    await asyncio.wait_for(channel.started.wait(), timeout=30)
    await dispatcher.stop()
    statuses = [r["status"] for r in rows(database)]
    assert statuses == ["sent", "pending", "pending"], statuses
    assert [m.text for m in channel.sent] == ["uno"]
