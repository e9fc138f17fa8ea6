"""Residents talk to the bot by direct mention on mastodon-mock; Plaza answers by direct status."""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import select, update

from adapters.mastodon import MastodonChannel
from adapters.mastodon_html import status_text
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from bot.config import Config
from bot.runtime import Plaza
from models import InboxItem, OutboxItem

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


async def post(server: MastodonServer, username: str, text: str, visibility: str = "direct", **kwargs: Any) -> Any:
    client = server.client(username)
    return await anyio.to_thread.run_sync(lambda: client.status_post(text, visibility=visibility, **kwargs))


async def replies(server: MastodonServer, username: str, count: int) -> list[Any]:
    return await anyio.to_thread.run_sync(lambda: server.wait_replies(username, count))


def plain(status: Any) -> str:
    return status_text(status["content"])


def queued(database: Any) -> bool:
    with database.reader.connect() as connection:
        return connection.execute(select(OUTBOX.c.id)).first() is not None


def all_sent(database: Any) -> bool:
    with database.reader.connect() as connection:
        statuses = connection.execute(select(OUTBOX.c.status).where(OUTBOX.c.channel == "mastodon")).scalars().all()
    return bool(statuses) and set(statuses) == {"sent"}


def menu_reply(statuses: list[Any]) -> Any:
    return next(s for s in statuses if "1." in plain(s))


async def test_a_direct_mention_gets_the_greeting_and_menu_as_direct_statuses(
    server: MastodonServer, plaza: Plaza
) -> None:
    assert server.policy()["for_private_mentions"] == "filter"  # as real Mastodon starts
    asked = await post(server, "maria", "@jun hola")
    got = await replies(server, "maria", 1)

    assert server.policy()["for_private_mentions"] == "accept"
    for status in got:
        assert status["visibility"] == "direct"
        assert plain(status).startswith("@maria ")
        assert [m["acct"] for m in status["mentions"]] == ["maria"]
    assert got[0]["in_reply_to_id"] == asked["id"]  # threaded under the resident's message
    menu = plain(menu_reply(got))
    assert "1. Avisar de una incidencia" in menu
    assert "8. Cómo funciona" in menu


async def test_the_resident_answers_with_a_number(server: MastodonServer, plaza: Plaza) -> None:
    await post(server, "maria", "@jun hola")
    before = len(await replies(server, "maria", 1))
    await post(server, "maria", "@jun 2")
    after = await replies(server, "maria", before + 1)
    assert any("cita" in plain(s).lower() for s in after[before:])


async def test_a_remote_resident_is_mentioned_with_their_domain(server: MastodonServer, plaza: Plaza) -> None:
    await post(server, "ana", "@jun hello")
    got = await replies(server, "ana", 1)
    for status in got:
        # Mastodon shows a mention as @ana and links it to her own server.
        assert status["content"].startswith(
            '<p><span class="h-card" translate="no"><a href="https://other.example/@ana"'
        )
        assert [m["acct"] for m in status["mentions"]] == ["ana@other.example"]


async def test_a_public_mention_is_not_a_conversation(server: MastodonServer, plaza: Plaza, sqlite: Any) -> None:
    public = await post(server, "pepe", "@jun ¡qué bien arreglaron la farola!", visibility="public")
    direct = await post(server, "pepe", "@jun hola")
    got = await replies(server, "pepe", 1)
    assert got[0]["in_reply_to_id"] == direct["id"]
    assert all(s["in_reply_to_id"] != public["id"] for s in got)
    with sqlite.reader.connect() as connection:
        stored = connection.execute(select(INBOX.c.platform_message_id).where(INBOX.c.channel == "mastodon")).all()
    assert [row[0] for row in stored] == [str(direct["id"])]


async def test_the_same_mention_read_three_times_is_answered_once(
    server: MastodonServer, plaza: Plaza, channel: MastodonChannel, sqlite: Any
) -> None:
    # The read marker cannot move twice: the poller reads the same mention three times (the stream
    # that may have brought it first drops, so that the channel polls).
    with server.fault(path="/api/v1/markers", status=500, count=2):
        asked = await post(server, "maria", "@jun hola")
        await anyio.to_thread.run_sync(server.drop_streams)
        got = await replies(server, "maria", 1)
        deadline = time.monotonic() + 20
        while channel._cursor is None or int(channel._cursor) < int(asked["id"]):
            assert time.monotonic() < deadline, "the cursor never moved past the mention"
            await anyio.sleep(0.05)
    assert await plaza.settle("mastodon", str(asked["account"]["id"]))
    with sqlite.reader.connect() as connection:
        stored = connection.execute(select(INBOX.c.id).where(INBOX.c.channel == "mastodon")).all()
    assert len(stored) == 1
    now = await anyio.to_thread.run_sync(lambda: server.replies_to("maria"))
    assert [s["id"] for s in now] == [s["id"] for s in got]
    assert sum(1 for s in now if s["in_reply_to_id"] == asked["id"]) == 1


async def test_mentions_sent_before_the_bot_started_are_answered_and_a_rate_limit_is_waited_out(
    server: MastodonServer, config: Config, sqlite: Any, channel: MastodonChannel
) -> None:
    asked = await post(server, "maria", "@jun hola")  # filtered: the policy is still Mastodon's default
    # The reset lies far enough ahead to still be ahead when the reply is first tried on a slow machine.
    reset = int(time.time()) + 6
    headers = {"X-RateLimit-Reset": str(reset), "Retry-After": "6"}
    with server.fault(path="/api/v1/statuses", status=429, count=1, headers=headers):
        async with Plaza(config, [channel], database=sqlite, poll_interval=0.05, reload_interval=None):
            got = await anyio.to_thread.run_sync(lambda: server.wait_replies("maria", 1, timeout=60))
            # the status is on the server a moment before its row is marked sent: wait for that too
            deadline = time.monotonic() + 20
            while not all_sent(sqlite):
                assert time.monotonic() < deadline, "the replies were never marked sent"
                await anyio.sleep(0.05)
    assert got[0]["in_reply_to_id"] == asked["id"]
    assert time.time() >= reset - 1  # the bot waited for the reset before posting again
    with sqlite.reader.connect() as connection:
        outcome = connection.execute(
            select(OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.last_error).where(OUTBOX.c.channel == "mastodon")
        ).all()
    assert {row.status for row in outcome} == {"sent"}
    assert any(row.last_error and "rate" in row.last_error.lower() for row in outcome)


async def test_a_reply_whose_sent_mark_was_lost_is_not_posted_twice(
    server: MastodonServer, plaza: Plaza, sqlite: Any
) -> None:
    asked = await post(server, "maria", "@jun hola")
    got = await replies(server, "maria", 1)
    chat = str(asked["account"]["id"])
    assert await plaza.settle("mastodon", chat)
    # As if the process had died after Mastodon accepted the status and before the row was marked sent.
    with sqlite.writer.begin() as connection:
        connection.execute(
            update(OUTBOX).where(OUTBOX.c.channel == "mastodon").values(status="pending", platform_message_ids=None)
        )
    plaza.dispatchers["mastodon"].wake()
    assert await plaza.settle("mastodon", chat)
    with sqlite.reader.connect() as connection:
        rows = connection.execute(select(OUTBOX.c.status, OUTBOX.c.platform_message_ids)).all()
    assert [(row.status, row.platform_message_ids) for row in rows] == [("sent", [str(s["id"]) for s in got])]
    now = await anyio.to_thread.run_sync(lambda: server.replies_to("maria"))
    assert [s["id"] for s in now] == [s["id"] for s in got]


async def test_a_reply_sent_after_a_restart_still_threads_under_the_residents_message(
    server: MastodonServer, config: Config, sqlite: Any, channel: MastodonChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = await post(server, "maria", "@jun hola")
    monkeypatch.setenv("PLAZA_TEST_HOLD_DISPATCHER", "1")  # the reply is committed, never sent: then a restart
    async with Plaza(config, [channel], database=sqlite, poll_interval=0.05, reload_interval=None):
        deadline = time.monotonic() + 20
        while not queued(sqlite):
            assert time.monotonic() < deadline, "the reply was never queued"
            await anyio.sleep(0.05)
    monkeypatch.delenv("PLAZA_TEST_HOLD_DISPATCHER")
    fresh = MastodonChannel(JUN_TOKEN, server.base_url, poll_interval=0.1)  # knows nothing of Maria yet
    async with Plaza(config, [fresh], database=sqlite, poll_interval=0.05, reload_interval=None):
        [reply] = await replies(server, "maria", 1)
    assert reply["in_reply_to_id"] == asked["id"]
    assert status_text(reply["content"]).startswith("@maria ")
