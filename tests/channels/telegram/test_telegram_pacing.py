"""A long reply's parts go to their chat at Telegram's per-chat pace, in order, and other chats are not held up.

The outbox dispatcher sends through the real Telegram adapter to the fake Bot
API; its record of the messages it received shows the parts of one reply (and
the reply after it) reaching the chat at least the per-chat interval apart,
in order, and another chat's reply going in between rather than after them.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from sqlalchemy import select

from adapters.telegram import TelegramChannel
from adapters.testing.telegram_server import FakeTelegram
from bot.outbox import Dispatcher, Reply, enqueue
from models import OutboxItem
from models.db import Database

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
TRANSIT = 0.25
"""What a request's own trip may seem to take off the interval: the fake stamps arrivals, the pacer departures."""


def statuses(database: Database) -> list[str]:
    with database.reader.connect() as connection:
        return list(connection.execute(select(OUTBOX.c.status).order_by(OUTBOX.c.id)).scalars())


async def test_the_parts_of_a_long_reply_are_paced_per_chat_while_other_chats_go_on(
    fake: FakeTelegram, sqlite: Database
) -> None:
    ana, bea = fake.user(201, "Ana"), fake.user(202, "Bea")
    parts = [letter * 4000 for letter in "abc"]
    with sqlite.writer.begin() as connection:
        enqueue(connection, channel="telegram", chat_id=str(ana.id), replies=[Reply("\n\n".join(parts))])
        enqueue(connection, channel="telegram", chat_id=str(ana.id), replies=[Reply("¿Algo más?")])
        enqueue(connection, channel="telegram", chat_id=str(bea.id), replies=[Reply("Hola, Bea")])
    channel = TelegramChannel(fake.token, api_base_url=fake.base_url, mode="webhook", webhook_secret="s3cret")
    dispatcher = Dispatcher(sqlite.writer, channel, poll_interval=0.05)
    await dispatcher.start()
    try:
        deadline = time.monotonic() + 30
        while statuses(sqlite) != ["sent"] * 3:
            assert time.monotonic() < deadline, statuses(sqlite)
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
        await channel.stop()

    to_ana = fake.sent_to(ana.id)
    assert [s.text for s in to_ana] == [*parts, "¿Algo más?"]  # in order, each part once
    interval = 1.0 / channel.limits.per_chat_per_s
    assert all(later.at - earlier.at >= interval - TRANSIT for earlier, later in itertools.pairwise(to_ana))
    [to_bea] = fake.sent_to(bea.id)
    assert to_bea.at < to_ana[1].at  # Bea's reply did not wait behind Ana's parts
    with sqlite.reader.connect() as connection:
        [(ids, attempts)] = connection.execute(
            select(OUTBOX.c.platform_message_ids, OUTBOX.c.attempts).order_by(OUTBOX.c.id).limit(1)
        ).all()
    assert ids == [str(s.message_id) for s in to_ana[:3]]  # the row's receipt names every part
    assert attempts == 1  # pacing is not failing
