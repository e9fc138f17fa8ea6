"""Broadcasts: validation, preview, expansion exactly once (also when resumed), language per recipient, cancel."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from bot import broadcast as broadcasts
from bot.broadcast import (
    BroadcastError,
    UnknownBroadcast,
    cancel_broadcast,
    create_broadcast,
    preview,
    progress,
    start_broadcast,
)
from bot.config import ChannelSettings, Config
from models import PRIORITY_BROADCAST, Broadcast
from models.db import Database
from tests.support.subscribers import add_subscribers, outbox_rows

BROADCASTS = Broadcast.__table__  # type: ignore[attr-defined]
TEXTS = {"es": "Mañana no hay agua de 9 a 12.", "en": "No water tomorrow from 9 to 12."}


def new(database: Database, config: Config, topic: str = "outages", **texts: str) -> int:
    with database.writer.begin() as connection:
        return create_broadcast(connection, config, topic=topic, texts=texts or TEXTS, author="cli")


def test_an_unknown_topic_is_refused_naming_the_known_ones(config: Config, database: Database) -> None:
    with pytest.raises(BroadcastError) as caught:
        new(database, config, topic="weather")
    assert "unknown topic `weather`" in str(caught.value)
    assert "news, jobs, school_menu, outages, culture" in str(caught.value)


def test_both_languages_are_required_and_the_missing_one_is_named(config: Config, database: Database) -> None:
    with pytest.raises(BroadcastError) as caught:
        new(database, config, es="Solo en español", en="   ")
    assert caught.value.missing == ("en",)
    assert "no text in en" in str(caught.value)
    with pytest.raises(BroadcastError) as caught:
        new(database, config, es="hola", en="hello", fr="bonjour")
    assert "no language fr" in str(caught.value)
    with database.reader.connect() as connection:
        assert connection.execute(select(BROADCASTS.c.id)).all() == []  # nothing stored


def test_preview_shows_each_languages_message_and_recipients_per_channel(config: Config, database: Database) -> None:
    add_subscribers(database.writer, 5, topic="outages", channel="web", languages=("es", "en"))
    add_subscribers(database.writer, 2, topic="outages", channel="telegram", languages=("en",), prefix="tg")
    add_subscribers(database.writer, 3, topic="jobs", channel="web", prefix="jobs")  # another topic
    broadcast_id = new(database, config)
    with database.reader.connect() as connection:
        shown = preview(connection, broadcast_id)
    assert shown.recipients == {"telegram": 2, "web": 5}
    assert shown.languages == {"es": 3, "en": 4}
    assert TEXTS["es"] in shown.messages["es"] and "Cortes y avisos" in shown.messages["es"]
    assert TEXTS["en"] in shown.messages["en"] and "Outages" in shown.messages["en"]
    assert shown.public == {}  # neither Mastodon nor X is enabled in the shipped config
    assert shown.total == 7


def test_every_subscriber_gets_one_row_in_their_language_at_broadcast_priority(
    config: Config, database: Database
) -> None:
    chats = add_subscribers(database.writer, 250, topic="outages", languages=("es", "en", "fr"))
    add_subscribers(database.writer, 10, topic="news", prefix="news")
    broadcast_id = new(database, config)
    assert start_broadcast(database.writer, broadcast_id, batch=64) == 250
    rows = outbox_rows(database.writer, broadcast_id)
    assert sorted(str(r["chat_id"]) for r in rows) == sorted(chats)
    assert {r["priority"] for r in rows} == {PRIORITY_BROADCAST}
    assert {r["status"] for r in rows} == {"pending"}
    for n, row in enumerate(sorted(rows, key=lambda r: str(r["chat_id"]))):
        language = ("es", "en", "fr")[n % 3]
        text = row["payload"]["text"]  # type: ignore[index]
        # a French speaker reads the town's default language
        assert (TEXTS["en"] in text) == (language == "en") and (TEXTS["es"] in text) == (language != "en")
    assert start_broadcast(database.writer, broadcast_id) == 0  # running it again writes nothing
    assert len(outbox_rows(database.writer, broadcast_id)) == 250
    with database.reader.connect() as connection:
        done = progress(connection, broadcast_id)
    assert (done.total, done.pending, done.expanded, done.status) == (250, 250, True, "sending")


class Crash(Exception):
    pass


def test_a_crash_mid_expansion_resumes_without_doubling_or_losing_anyone(
    config: Config, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = add_subscribers(database.writer, 1000, topic="outages")
    broadcast_id = new(database, config)
    real = broadcasts._expand_batch
    calls = Counter[str]()

    def crashing(connection, broadcast_id, batch):  # type: ignore[no-untyped-def]
        calls["batch"] += 1
        written = real(connection, broadcast_id, batch)
        if calls["batch"] == 3:
            raise Crash("the process died before this batch committed")
        return written

    monkeypatch.setattr(broadcasts, "_expand_batch", crashing)
    with pytest.raises(Crash):
        start_broadcast(database.writer, broadcast_id, batch=150)
    partial = outbox_rows(database.writer, broadcast_id)
    assert len(partial) == 300  # two committed batches; the third rolled back
    with database.reader.connect() as connection:
        assert progress(connection, broadcast_id).expanded is False
    monkeypatch.setattr(broadcasts, "_expand_batch", real)
    assert start_broadcast(database.writer, broadcast_id, batch=150) == 700
    rows = outbox_rows(database.writer, broadcast_id)
    assert Counter(str(r["chat_id"]) for r in rows) == Counter(chats)  # each exactly once


def test_a_cursor_lost_with_the_rows_kept_still_gives_one_message_each(config: Config, database: Database) -> None:
    """Two expansions of one broadcast (say a second process resuming it): the unique index keeps one row each."""
    chats = add_subscribers(database.writer, 300, topic="outages")
    broadcast_id = new(database, config)
    start_broadcast(database.writer, broadcast_id, batch=100)
    with database.writer.begin() as connection:
        connection.execute(
            update(BROADCASTS).where(BROADCASTS.c.id == broadcast_id).values(expanded_through=0, expanded_at=None)
        )
    assert start_broadcast(database.writer, broadcast_id, batch=100) == 0
    assert sorted(str(r["chat_id"]) for r in outbox_rows(database.writer, broadcast_id)) == sorted(chats)


def test_a_chat_subscribed_twice_gets_one_message(config: Config, database: Database) -> None:
    add_subscribers(database.writer, 3, topic="outages", prefix="same", start=0)
    add_subscribers(database.writer, 3, topic="outages", prefix="same", start=0)  # other residents, same chats
    broadcast_id = new(database, config)
    with database.writer.begin() as connection:
        assert start_broadcast(connection, broadcast_id) == 3


def test_cancel_cancels_pending_rows_keeps_sent_ones_and_stops_the_expansion(
    config: Config, database: Database
) -> None:
    add_subscribers(database.writer, 40, topic="outages")
    broadcast_id = new(database, config)
    with database.writer.begin() as connection:
        broadcasts._start(connection, broadcast_id, 0)
        broadcasts._expand_batch(connection, broadcast_id, 10)
    sent_ids = [r["id"] for r in outbox_rows(database.writer, broadcast_id)[:4]]
    with database.writer.begin() as connection:
        connection.execute(update(broadcasts.OUTBOX).where(broadcasts.OUTBOX.c.id.in_(sent_ids)).values(status="sent"))
        assert cancel_broadcast(connection, broadcast_id) == 6
    assert start_broadcast(database.writer, broadcast_id) == 0  # a cancelled broadcast is not resumed
    statuses = Counter(str(r["status"]) for r in outbox_rows(database.writer, broadcast_id))
    assert statuses == Counter({"cancelled": 6, "sent": 4})
    with database.writer.begin() as connection:
        assert cancel_broadcast(connection, broadcast_id) == 0  # twice is harmless
        shown = progress(connection, broadcast_id)
        assert (shown.status, shown.sent, shown.cancelled, shown.pending) == ("cancelled", 4, 6, 0)
        with pytest.raises(UnknownBroadcast):
            cancel_broadcast(connection, 999)


def test_public_posts_are_queued_first_on_enabled_mastodon_and_x(config: Config, database: Database) -> None:
    channels = dict(config.channels)
    for name in ("mastodon", "x"):
        channels[name] = ChannelSettings(name=name, enabled=True, settings={})
    town = replace(config, channels=channels)
    add_subscribers(database.writer, 3, topic="outages", channel="mastodon", prefix="m")
    broadcast_id = new(database, town)
    start_broadcast(database.writer, broadcast_id)
    rows = outbox_rows(database.writer, broadcast_id)
    public = [r for r in rows if r["chat_id"] == "public"]
    assert [r["channel"] for r in public] == ["mastodon", "x"]
    assert all(r["payload"]["public"] is True for r in public)  # type: ignore[index]
    text = public[0]["payload"]["text"]  # type: ignore[index]
    assert TEXTS["es"] in text and TEXTS["en"] in text and "darse de baja" not in text
    assert rows[:2] == public  # lower ids: the public posts go before the private messages
    assert len(rows) == 5


def test_a_configured_telegram_channel_gets_the_announcement_too(config: Config, database: Database) -> None:
    channels = dict(config.channels)
    channels["telegram"] = ChannelSettings(name="telegram", enabled=True, settings={"channel": "@jun_avisos"})
    town = replace(config, channels=channels)
    add_subscribers(database.writer, 2, topic="outages", channel="telegram", prefix="tg")
    broadcast_id = new(database, town)
    with database.reader.connect() as connection:
        assert set(preview(connection, broadcast_id).public) == {"telegram"}
    start_broadcast(database.writer, broadcast_id)
    rows = outbox_rows(database.writer, broadcast_id)
    assert [(r["channel"], r["chat_id"]) for r in rows] == [
        ("telegram", "@jun_avisos"),
        ("telegram", "tg-000000"),
        ("telegram", "tg-000001"),
    ]
