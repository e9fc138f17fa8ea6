"""The issue's test: a broadcast to 10,000 subscribers through a running Plaza (web chat channel).

Every subscriber gets exactly one message, and a resident who writes while
it is being sent gets the bot's replies before the rest of the broadcast: the
order is asserted (the replies come right after the one broadcast message
that was in flight when they were committed), never a time.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import anyio.to_thread
from sqlalchemy import select

from adapters.web import WebChannel
from bot.broadcast import create_broadcast, progress, start_broadcast
from bot.config import Config
from bot.messages import OutboundMessage
from bot.runtime import Plaza
from models import InboxItem
from models.db import Database
from tests.support.subscribers import add_subscribers

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
SUBSCRIBERS = 10_000
RESIDENT = "resident-writing-during-the-broadcast"
WRITES_AT = 2_000
"""The resident writes while the 2,000th broadcast message is being sent."""


async def test_ten_thousand_subscribers_each_get_one_message_and_replies_are_not_delayed(
    config: Config, pooled: Database
) -> None:
    database = pooled
    chats = add_subscribers(database.writer, SUBSCRIBERS, topic="news", channel="web")
    with database.writer.begin() as connection:
        broadcast_id = create_broadcast(
            connection,
            config,
            topic="news",
            texts={"es": "Mañana, mercado en la plaza.", "en": "Market in the square tomorrow."},
            author="cli",
        )
    assert start_broadcast(database.writer, broadcast_id) == SUBSCRIBERS

    order: list[OutboundMessage] = []
    done = asyncio.Event()
    plaza: Plaza

    def processed() -> bool:
        with database.reader.connect() as connection:
            status = connection.execute(select(INBOX.c.status).where(INBOX.c.chat_id == RESIDENT)).scalar()
        return status not in (None, "pending")

    async def on_send(message: OutboundMessage) -> None:
        order.append(message)
        if len(order) == WRITES_AT:  # hold this send until the resident's step is committed and has woken us
            await plaza.accept([web.message(RESIDENT, {"text": "hola"})])
            dispatcher = plaza.dispatchers["web"]
            for _ in range(3000):
                if await anyio.to_thread.run_sync(processed) and dispatcher._wakeup.is_set():
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the resident's message was not processed, or the dispatcher was not woken")
        if len(order) >= SUBSCRIBERS + 1 and not done.is_set():
            done.set()

    web = WebChannel(on_send=on_send)
    plaza = Plaza(config, [web], database=database, poll_interval=0.05, reload_interval=None, reminder_interval=None)
    async with plaza:
        await asyncio.wait_for(done.wait(), timeout=600)  # a bound against a hang, not a performance figure
        assert await plaza.settle("web", RESIDENT)

    broadcast = [m for m in order if m.chat_id != RESIDENT]
    assert Counter(m.chat_id for m in broadcast) == Counter(chats)  # each subscriber exactly once
    positions = [n for n, m in enumerate(order) if m.chat_id == RESIDENT]
    assert positions and positions[0] == WRITES_AT  # right after the message in flight
    assert positions == list(range(WRITES_AT, WRITES_AT + len(positions)))  # all replies before the rest
    assert len(order) - positions[-1] - 1 == SUBSCRIBERS - WRITES_AT  # ... of the 8,000 still to go
    with database.reader.connect() as connection:
        shown = progress(connection, broadcast_id)
    assert (shown.status, shown.sent, shown.failed, shown.total) == ("done", SUBSCRIBERS, 0, SUBSCRIBERS)
