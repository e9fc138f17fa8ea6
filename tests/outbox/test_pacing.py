"""Pacing: the platform never sees more than its limits, overall and per chat; a 429 pauses the account."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from itertools import pairwise

from sqlalchemy import select

from adapters.base import Dispatch, Limits
from bot.errors import PartlySent
from bot.messages import OutboundMessage, SentReceipt
from bot.outbox import Dispatcher, Reply, enqueue
from bot.pacing import Pacer
from models import OutboxItem
from models.db import Database

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


class TimedChannel:
    """Plaza's Channel protocol, recording when each send reached it (monotonic seconds)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.sends: list[tuple[float, str]] = []

    @property
    def name(self) -> str:
        return "timed"

    @property
    def limits(self) -> Limits:
        return self._limits

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.sends.append((time.monotonic(), message.chat_id))
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))


def test_the_pacer_spaces_sends_overall_and_per_chat() -> None:
    now = [100.0]
    pacer = Pacer(Limits(max_text=10, max_options=1, per_chat_per_s=1.0, overall_per_s=25.0), lambda: now[0])
    assert pacer.ready_at() <= now[0] and pacer.chat_ready_at("ana") <= now[0]
    pacer.sent("ana")
    assert pacer.ready_at() == 100.04
    assert pacer.chat_ready_at("ana") == 101.0
    assert pacer.chat_ready_at("bea") <= now[0]
    pacer.pause(30)
    assert pacer.paused() and pacer.ready_at() == 130.0 and pacer.chat_ready_at("bea") == 130.0
    now[0] = 130.5
    assert not pacer.paused()


async def test_a_burst_is_paced_overall_and_per_chat(database: Database) -> None:
    limits = Limits(max_text=100, max_options=10, per_chat_per_s=5.0, overall_per_s=40.0)
    channel = TimedChannel(limits)
    chats = ["ana", "bea", "carmen"]
    with database.writer.begin() as connection:
        for n in range(8):
            for chat in chats:
                enqueue(connection, channel="timed", chat_id=chat, replies=[Reply(text=f"{chat} {n}")])

    def statuses() -> set[str]:
        with database.reader.connect() as connection:
            return set(connection.execute(select(OUTBOX.c.status)).scalars())

    dispatcher = Dispatcher(database.writer, channel, poll_interval=0.05)
    await dispatcher.start()
    try:
        for _ in range(600):  # up to 30 s on a loaded machine; pacing alone needs about 1.4 s
            if statuses() == {"sent"}:
                break
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
    assert statuses() == {"sent"}
    assert len(channel.sends) == 24
    times = [at for at, _ in channel.sends]
    assert min(b - a for a, b in pairwise(times)) >= 1 / 40 - 0.002  # overall spacing
    for chat in chats:
        own = [at for at, to in channel.sends if to == chat]
        assert min(b - a for a, b in pairwise(own)) >= 1 / 5 - 0.002  # per-chat spacing


class SplittingChannel(TimedChannel):
    """Takes a message as ``parts`` platform messages, one per send, as the Telegram adapter does."""

    def __init__(self, limits: Limits, parts: int) -> None:
        super().__init__(limits)
        self._parts = parts
        self._done: dict[int, int] = {}
        self.parts: list[tuple[str, str, int]] = []

    async def send(self, message: OutboundMessage) -> SentReceipt:
        done = self._done.get(message.id, 0) + 1
        self.parts.append((message.chat_id, message.text, done))
        if message.text.startswith("largo") and done < self._parts:
            self._done[message.id] = done
            raise PartlySent("timed", 1.0 / self.limits.per_chat_per_s, done, self._parts)
        return SentReceipt(platform_message_ids=(str(message.id),), sent_at=datetime.now(UTC))


async def test_the_parts_of_a_split_message_wait_their_chats_turn_while_other_chats_go(database: Database) -> None:
    now = [0.0]
    channel = SplittingChannel(Limits(max_text=10, max_options=1, per_chat_per_s=1.0, overall_per_s=100.0), parts=3)
    with database.writer.begin() as connection:
        enqueue(connection, channel="timed", chat_id="ana", replies=[Reply("largo"), Reply("después")])
        enqueue(connection, channel="timed", chat_id="bea", replies=[Reply("hola")])
    dispatcher = Dispatcher(database.writer, channel, clock=lambda: now[0])

    assert await dispatcher.dispatch_once() == 1  # Ana's first part, and Bea's message
    assert channel.parts == [("ana", "largo", 1), ("bea", "hola", 1)]
    with database.reader.connect() as connection:
        first = connection.execute(select(OUTBOX.c.status, OUTBOX.c.attempts).order_by(OUTBOX.c.id)).first()
    assert first is not None and tuple(first) == ("pending", 0)  # not a failure: no attempt counted
    assert await dispatcher.dispatch_once() == 0  # Ana's chat waits its second
    assert len(channel.parts) == 2
    for _ in range(3):
        now[0] += 1.0
        await dispatcher.dispatch_once()
    assert channel.parts[2:] == [("ana", "largo", 2), ("ana", "largo", 3), ("ana", "después", 1)]
