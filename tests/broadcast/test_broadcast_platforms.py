"""Broadcasts over real protocols: public posts reach mastodon-mock and the fake X, DMs go to who opted in,
and an account the platform says is gone (or that blocked the bot on Telegram) is reported and unsubscribed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import anyio.to_thread
import pytest
from sqlalchemy import select

from adapters.base import Limits
from adapters.mastodon import MastodonChannel
from adapters.telegram import TelegramChannel
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from adapters.testing.telegram_server import serve_fake_telegram
from adapters.testing.x_server import ACCESS_TOKEN, ACCESS_TOKEN_SECRET, CONSUMER_KEY, CONSUMER_SECRET, FakeX
from adapters.x import MAX_TWEET, XChannel, XCredentials
from bot.broadcast import create_broadcast, forget_gone, progress, start_broadcast, undelivered
from bot.config import ChannelSettings, Config
from bot.outbox import Dispatcher
from models import Subscription
from models.db import Database
from tests.support.server import AppServer
from tests.support.subscribers import add_subscribers

SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
FAST = Limits(max_text=10_000, max_options=20, per_chat_per_s=1000.0, overall_per_s=1000.0)
TEXTS = {"es": "Fiestas de San Miguel: programa en la web.", "en": "San Miguel festival: programme on the website."}


def enabled(config: Config, *names: str) -> Config:
    channels = dict(config.channels)
    for name in names:
        channels[name] = ChannelSettings(name=name, enabled=True, settings={})
    return replace(config, channels=channels)


def jumping_clock() -> itertools.count[float]:
    """A monotonic clock that moves 1,000 s per reading, so pacing never makes a test wait."""
    return itertools.count(1000.0, 1000.0)


async def send_all(database: Database, dispatcher: Dispatcher, broadcast_id: int) -> None:
    for _ in range(20):
        await dispatcher.dispatch_once()
        with database.reader.connect() as connection:
            if progress(connection, broadcast_id).pending == 0:
                return
    raise AssertionError("the broadcast did not finish sending")


def subscriptions(database: Database, channel: str) -> list[str]:
    with database.reader.connect() as connection:
        query = select(SUBSCRIPTIONS.c.chat_id).where(SUBSCRIPTIONS.c.channel == channel)
        return sorted(connection.execute(query).scalars())


@pytest.fixture
def mastodon() -> Iterator[MastodonServer]:
    with MastodonServer() as running:
        yield running


async def test_mastodon_gets_a_public_status_and_opted_in_residents_a_direct_one(
    config: Config, sqlite: Database, mastodon: MastodonServer
) -> None:
    maria = await anyio.to_thread.run_sync(lambda: mastodon.client("maria").account_verify_credentials())
    add_subscribers(sqlite.writer, 0, topic="culture", channel="mastodon", chat_ids=[str(maria["id"]), "987654321"])
    town = enabled(config, "mastodon")
    with sqlite.writer.begin() as connection:
        broadcast_id = create_broadcast(connection, town, topic="culture", texts=TEXTS, author="cli")
    start_broadcast(sqlite.writer, broadcast_id)
    channel = MastodonChannel(JUN_TOKEN, mastodon.base_url)
    dispatcher = Dispatcher(sqlite.writer, channel, on_gone=forget_gone, clock=jumping_clock().__next__)
    await send_all(sqlite, dispatcher, broadcast_id)

    statuses = await anyio.to_thread.run_sync(mastodon.bot_statuses)
    public = [s for s in statuses if s["visibility"] == "public"]
    assert len(public) == 1
    assert "@" not in public[0]["content"]  # nobody is mentioned
    assert "San Miguel festival" in public[0]["content"] and "Fiestas de San Miguel" in public[0]["content"]
    direct = await anyio.to_thread.run_sync(mastodon.replies_to, "maria")
    assert len(direct) == 1 and direct[0]["visibility"] == "direct"
    assert "Fiestas de San Miguel" in direct[0]["content"]  # maria reads Spanish, the resident's language

    with sqlite.reader.connect() as connection:
        done = progress(connection, broadcast_id)
        failed = undelivered(connection, broadcast_id)
    assert (done.sent, done.failed, done.total, done.status) == (2, 1, 3, "done")
    assert [(f.channel, f.chat_id) for f in failed] == [("mastodon", "987654321")]
    assert "gone" in failed[0].reason
    assert subscriptions(sqlite, "mastodon") == [str(maria["id"])]  # the gone account is unsubscribed


@pytest.fixture
def fake_x() -> Iterator[tuple[FakeX, str]]:
    api = FakeX()
    with AppServer(api.app) as server:
        yield api, server.base_url


async def test_x_gets_a_tweet_thread_and_a_gone_user_is_unsubscribed(
    config: Config, sqlite: Database, fake_x: tuple[FakeX, str]
) -> None:
    api, base_url = fake_x
    add_subscribers(sqlite.writer, 0, topic="news", channel="x", chat_ids=["111", "222"], languages=("en",))
    long = {language: text + " " + "Más detalles pronto. " * 12 for language, text in TEXTS.items()}
    town = enabled(config, "x")
    with sqlite.writer.begin() as connection:
        broadcast_id = create_broadcast(connection, town, topic="news", texts=long, author="cli")
    start_broadcast(sqlite.writer, broadcast_id)
    api.fail_next(404)  # the first DM (to 111): the user no longer exists
    channel = XChannel(
        XCredentials(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET), base_url=base_url, limits=FAST
    )
    dispatcher = Dispatcher(sqlite.writer, channel, on_gone=forget_gone, clock=jumping_clock().__next__)
    await send_all(sqlite, dispatcher, broadcast_id)

    assert len(api.tweets) > 1  # too long for one tweet: a thread
    assert all(len(t.text) <= MAX_TWEET for t in api.tweets)
    assert api.tweets[0].in_reply_to is None
    assert [t.in_reply_to for t in api.tweets[1:]] == [t.tweet_id for t in api.tweets[:-1]]
    thread = " ".join(t.text for t in api.tweets)
    assert "Fiestas de San Miguel" in thread and "San Miguel festival" in thread
    assert [dm.participant_id for dm in api.sent] == ["222"]
    assert "San Miguel festival" in api.sent[0].text and "Fiestas" not in api.sent[0].text
    assert subscriptions(sqlite, "x") == ["222"]
    with sqlite.reader.connect() as connection:
        assert [f.chat_id for f in undelivered(connection, broadcast_id)] == ["111"]


async def test_a_telegram_user_who_blocked_the_bot_is_reported_and_unsubscribed(
    config: Config, sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # python-telegram-bot would warn otherwise (warnings are errors)
    with serve_fake_telegram() as fake:
        ana, pepe = fake.user(701, "Ana"), fake.user(702, "Pepe", language_code="en")
        fake.block(ana)
        add_subscribers(
            sqlite.writer, 0, topic="news", channel="telegram", chat_ids=["701", "702"], languages=("es", "en")
        )
        with sqlite.writer.begin() as connection:
            broadcast_id = create_broadcast(connection, config, topic="news", texts=TEXTS, author="cli")
        start_broadcast(sqlite.writer, broadcast_id)
        channel = TelegramChannel(fake.token, api_base_url=fake.base_url)
        try:
            dispatcher = Dispatcher(sqlite.writer, channel, on_gone=forget_gone, clock=jumping_clock().__next__)
            await send_all(sqlite, dispatcher, broadcast_id)
        finally:
            await channel.stop()
        assert fake.sent_to(ana.id) == []
        (to_pepe,) = fake.sent_to(pepe.id)
        assert to_pepe.text is not None and "San Miguel festival" in to_pepe.text
    with sqlite.reader.connect() as connection:
        failed = undelivered(connection, broadcast_id)
    assert [(f.chat_id, f.reason) for f in failed] == [("701", "Forbidden: bot was blocked by the user")]
    assert subscriptions(sqlite, "telegram") == ["702"]
