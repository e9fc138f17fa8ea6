"""Mentions come by the user stream, and by polling when the stream is down, never lost, never doubled.

Against mastodon-mock's real server-sent events: a mention that arrives while
the channel polls only every minute is answered (so it came by the stream;
the server's request log shows no notifications read in between); with
streaming switched off the channel polls and tries the stream again; a stream
that goes silent is given up; a stream that comes back first catches up by
polling, so a mention posted while it was down is read; every resident's
message is stored and answered once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import select

from adapters.mastodon import MastodonChannel, from_config
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from bot.config import Config
from bot.errors import ConfigError
from bot.runtime import Plaza
from models import InboxItem, OutboxItem
from models.db import Database
from tests.support.dispatch import Inbox

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
STREAM = "/api/v1/streaming/user"
NOTIFICATIONS = "/api/v1/notifications"
RARELY = 600.0
"""A poll interval no test waits for: what arrives came by the stream or by a catch-up."""


async def until(predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)
    return value


async def post(server: MastodonServer, username: str, text: str) -> Any:
    client = server.client(username)
    return await anyio.to_thread.run_sync(lambda: client.status_post(text, visibility="direct"))


async def replies(server: MastodonServer, username: str, count: int) -> list[Any]:
    return await anyio.to_thread.run_sync(lambda: server.wait_replies(username, count))


def polls(server: MastodonServer) -> list[tuple[float, int]]:
    """The bot's reads of its notifications (the resident clients of the tests read theirs too)."""
    return server.requests_to("GET", NOTIFICATIONS, JUN_TOKEN)


def stream_connects(server: MastodonServer) -> list[tuple[float, int]]:
    return server.requests_to("GET", STREAM, JUN_TOKEN)


def streaming(server: MastodonServer, channel: MastodonChannel) -> bool:
    """Streaming, and caught up (the catch-up poll after connecting answered)."""
    connected = [at for at, status in stream_connects(server) if status == 200]
    return (
        channel.stream_status == "streaming"
        and server.streams_open() == 1
        and bool(connected)
        and any(at > connected[-1] for at, _ in polls(server))
    )


def settled(database: Database) -> bool:
    """Every reply queued so far is sent."""
    with database.reader.connect() as connection:
        statuses = connection.execute(select(OUTBOX.c.status).where(OUTBOX.c.channel == "mastodon")).scalars().all()
    return bool(statuses) and set(statuses) == {"sent"}


def plaza_with(config: Config, database: Database, channel: MastodonChannel) -> Plaza:
    return Plaza(config, [channel], database=database, poll_interval=0.05, reload_interval=None, reminder_interval=None)


def channel_with(server: MastodonServer, **kwargs: Any) -> MastodonChannel:
    settings: dict[str, Any] = {"poll_interval": RARELY, "stream_retry": 0.2, "stream_retry_max": 0.4}
    return MastodonChannel(JUN_TOKEN, server.base_url, **(settings | kwargs))


@pytest.fixture
async def receiving(server: MastodonServer) -> AsyncIterator[tuple[MastodonChannel, Inbox]]:
    """The channel receiving into an :class:`Inbox`, polling only every 10 minutes, streaming and caught up."""
    channel = channel_with(server, stream_timeout=2.0)
    inbox = Inbox()
    await channel.start(inbox)
    try:
        await until(lambda: streaming(server, channel), "the stream is open")
        yield channel, inbox
    finally:
        await channel.stop()


async def test_a_mention_comes_by_the_stream_and_is_answered(
    config: Config, sqlite: Database, server: MastodonServer
) -> None:
    channel = channel_with(server)
    async with plaza_with(config, sqlite, channel):
        await until(lambda: streaming(server, channel), "the stream is open")
        polled = len(polls(server))
        asked = await post(server, "maria", "@jun hola")
        got = await replies(server, "maria", 1)
        assert polls(server)[polled:] == []  # nothing was polled: the mention came by the stream
        assert got[0]["in_reply_to_id"] == asked["id"]
        assert got[0]["visibility"] == "direct"
        assert len(stream_connects(server)) == 1


async def test_streaming_off_falls_back_to_polling_and_streams_again_losing_and_doubling_nothing(
    config: Config, sqlite: Database, server: MastodonServer
) -> None:
    channel = channel_with(server, poll_interval=0.2)
    async with plaza_with(config, sqlite, channel):
        await until(lambda: streaming(server, channel), "the stream is open")
        await post(server, "maria", "@jun hola")
        await replies(server, "maria", 1)
        await until(lambda: settled(sqlite), "the whole answer is sent")
        answer = len(await replies(server, "maria", 1))

        with server.streaming_off():
            refused = len(stream_connects(server))
            await until(lambda: channel.stream_status.startswith("polling"), "the channel polls")
            await post(server, "pepe", "@jun hola")
            assert len(await replies(server, "pepe", answer)) == answer
            await until(
                lambda: [s for _, s in stream_connects(server)[refused:]].count(404) >= 2,
                "the stream is tried again (and refused)",
            )

        await until(lambda: streaming(server, channel), "the stream is open again")
        await post(server, "ana", "@jun hola")
        assert len(await replies(server, "ana", answer)) == answer

        # Every catch-up read the mentions again from the cursor: still one row and one answer each.
        with sqlite.reader.connect() as connection:
            stored = connection.execute(select(INBOX.c.chat_id).where(INBOX.c.channel == "mastodon")).all()
        assert len(stored) == 3
        assert [len(await anyio.to_thread.run_sync(server.replies_to, who)) for who in ("maria", "pepe", "ana")] == [
            answer
        ] * 3


async def test_a_stream_that_comes_back_first_catches_up_what_was_posted_meanwhile(
    server: MastodonServer, receiving: tuple[MastodonChannel, Inbox]
) -> None:
    _, inbox = receiving
    polled = len(polls(server))
    with server.streaming_off():
        await until(lambda: len(polls(server)) > polled, "the fallback poll right after the stream ended")
        posted_at = time.monotonic()
        asked = await post(server, "maria", "@jun ¿sigue abierto el registro?")
        assert inbox.messages == []
    [message] = await until(lambda: inbox.messages, "the mention posted while the stream was down")
    assert message.platform_message_id == str(asked["id"])
    back = next(at for at, status in stream_connects(server) if status == 200 and at > posted_at)
    read = [at for at, _ in polls(server) if at > posted_at]
    assert read and read[0] > back  # read by the catch-up of the new stream, not by a poll before it


async def test_a_silent_stream_is_given_up_and_nothing_it_missed_is_lost(
    server: MastodonServer, receiving: tuple[MastodonChannel, Inbox]
) -> None:
    channel, inbox = receiving
    connects = len(stream_connects(server))
    with server.hush_streams():
        asked = await post(server, "pepe", "@jun hola")
        await until(lambda: len(stream_connects(server)) > connects, "the silent stream given up, a new one tried")
    await until(lambda: inbox.messages, "the mention the silent stream never delivered")
    await until(lambda: streaming(server, channel), "streaming again")
    await post(server, "pepe", "@jun 1")
    await until(lambda: len(inbox.messages) == 2, "the next mention, by the new stream")
    assert inbox.messages[0].platform_message_id == str(asked["id"])
    assert [m.text for m in inbox.messages] == ["hola", "1"]


async def test_a_refused_stream_is_retried_with_growing_waits(server: MastodonServer) -> None:
    channel = channel_with(server, stream_retry=0.1, stream_retry_max=0.8)
    with server.fault(path=STREAM, status=503, count=4):
        await channel.start(Inbox())
        try:
            await until(lambda: server.streams_open() == 1, "the stream, once the server accepts it")
        finally:
            await channel.stop()
    attempts = [at for at, _ in stream_connects(server)]
    assert [status for _, status in stream_connects(server)] == [503] * 4 + [200]
    assert attempts[-1] - attempts[-2] >= 0.7  # the wait doubled up to 0.8 s: backing off, not hammering


def test_streaming_is_configured_as_true_or_false() -> None:
    env = {"MASTODON_ACCESS_TOKEN": "t", "MASTODON_API_BASE_URL": "https://social.jun.example"}
    assert from_config({}, env).streaming is True
    polling_only = from_config({"streaming": False, "poll_interval": 5}, env)
    assert polling_only.streaming is False
    assert polling_only.limits.overall_per_s > from_config({"poll_interval": 5}, env).limits.overall_per_s
    with pytest.raises(ConfigError, match="streaming: true"):
        from_config({"streaming": "sometimes"}, env)
