"""The channel itself over real HTTP to mastodon-mock: receiving, sending, splitting, errors, idempotency."""

from __future__ import annotations

import io
import itertools
import time
from typing import Any

import anyio.to_thread
import httpx
import pytest

from adapters.mastodon import MastodonChannel, from_config
from adapters.mastodon_html import status_text
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from bot.errors import ConfigError, RetryLater, Undeliverable
from bot.messages import Option, OutboundMessage, Photo
from tests.support.dispatch import Inbox
from tests.support.server import tiny_png


async def as_resident(server: MastodonServer, username: str, call: str, *args: Any, **kwargs: Any) -> Any:
    client = server.client(username)
    return await anyio.to_thread.run_sync(lambda: getattr(client, call)(*args, **kwargs))


async def chat_of(server: MastodonServer, username: str) -> str:
    me = await as_resident(server, username, "account_verify_credentials")
    return str(me["id"])


def outbound(chat_id: str, text: str, id: int = 1, **kwargs: Any) -> OutboundMessage:
    return OutboundMessage(id=id, channel="mastodon", chat_id=chat_id, text=text, **kwargs)


async def bot_statuses(server: MastodonServer) -> list[Any]:
    return await anyio.to_thread.run_sync(server.bot_statuses)


async def test_check_names_the_account_and_whether_it_streams(server: MastodonServer, channel: MastodonChannel) -> None:
    assert await channel.check() == "@jun@jun.example (streaming)"
    with server.streaming_off():
        unavailable = await channel.check()
    assert unavailable.startswith("@jun@jun.example (polling: streaming is unavailable")
    assert "Not Found" in unavailable
    only_polling = MastodonChannel(JUN_TOKEN, server.base_url, streaming=False)
    assert await only_polling.check() == "@jun@jun.example (polling; streaming is off in config.yaml)"


async def test_a_photo_from_a_resident_is_a_photo_with_its_url(
    server: MastodonServer, channel: MastodonChannel
) -> None:
    media = await as_resident(server, "maria", "media_post", io.BytesIO(tiny_png()), mime_type="image/png")
    await as_resident(server, "maria", "status_post", "@jun mire", media_ids=[media["id"]], visibility="direct")
    inbox = Inbox()
    await channel.prepare()
    await channel.poll_once(inbox)
    [message] = inbox.messages
    assert message.text == "mire"
    assert [photo.ref for photo in message.photos] == [media["url"]]
    assert httpx.get(message.photos[0].ref).content == tiny_png()


async def test_a_voice_note_is_unsupported_content(server: MastodonServer, channel: MastodonChannel) -> None:
    media = await as_resident(server, "maria", "media_post", io.BytesIO(b"OggS" + bytes(64)), mime_type="audio/ogg")
    await as_resident(server, "maria", "status_post", "@jun", media_ids=[media["id"]], visibility="direct")
    inbox = Inbox()
    await channel.prepare()
    await channel.poll_once(inbox)
    [message] = inbox.messages
    assert (message.text, message.photos, message.unsupported) == (None, (), "voice")


async def test_the_cursor_survives_a_restart(server: MastodonServer, channel: MastodonChannel) -> None:
    await as_resident(server, "maria", "status_post", "@jun uno", visibility="direct")
    first = Inbox()
    await channel.prepare()
    await channel.poll_once(first)
    assert [m.text for m in first.messages] == ["uno"]
    await as_resident(server, "maria", "status_post", "@jun dos", visibility="direct")
    restarted = MastodonChannel(JUN_TOKEN, server.base_url, poll_interval=0.1)
    second = Inbox()
    await restarted.prepare()
    await restarted.poll_once(second)
    assert [m.text for m in second.messages] == ["dos"]


async def test_options_are_numbered_lines(server: MastodonServer, channel: MastodonChannel) -> None:
    chat = await chat_of(server, "maria")
    options = (Option("yes", "Sí"), Option("no", "No"))
    await channel.send(outbound(chat, "¿Lo enviamos?", options=options))
    [status] = await bot_statuses(server)
    assert status_text(status["content"]) == "@maria ¿Lo enviamos?\n\n1. Sí\n2. No"
    assert status["visibility"] == "direct"


async def test_a_long_reply_arrives_whole_in_order_each_part_within_the_limit(
    server: MastodonServer, channel: MastodonChannel
) -> None:
    await channel.prepare()
    asked = await as_resident(server, "ana", "status_post", "@jun info", visibility="direct")
    await channel.poll_once(Inbox())
    words = [f"palabra{n:03d}" for n in range(200)]
    text = " ".join(words)  # about 2,000 characters
    receipt = await channel.send(outbound(str(asked["account"]["id"]), text))
    statuses = await bot_statuses(server)
    assert [str(s["id"]) for s in statuses] == list(receipt.platform_message_ids)
    assert len(statuses) >= 5
    bot = server.client("jun")
    sources = [await anyio.to_thread.run_sync(bot.status_source, s["id"]) for s in statuses]
    posted = [str(source["text"]) for source in sources]  # what was posted, mention included
    assert all(len(text) <= 500 and text.startswith("@ana@other.example ") for text in posted)
    assert " ".join(text.removeprefix("@ana@other.example ") for text in posted).split() == words
    assert all(status_text(s["content"]).startswith("@ana ") for s in statuses)
    assert statuses[0]["in_reply_to_id"] == asked["id"]
    for before, after in itertools.pairwise(statuses):
        assert after["in_reply_to_id"] == before["id"]  # a thread, read top to bottom


async def test_over_the_limit_the_server_refuses_so_the_split_is_needed(server: MastodonServer) -> None:
    with pytest.raises(Exception, match="too long"):
        await as_resident(server, "jun", "status_post", "x" * 501, visibility="direct")


async def test_the_bot_sends_an_image(server: MastodonServer, channel: MastodonChannel) -> None:
    chat = await chat_of(server, "maria")
    media = await as_resident(server, "pepe", "media_post", io.BytesIO(tiny_png()), mime_type="image/png")
    await channel.send(outbound(chat, "El bando de fiestas", photo=Photo(ref=media["url"], mime_type="image/png")))
    [status] = await bot_statuses(server)
    [attachment] = status["media_attachments"]
    assert attachment["type"] == "image"
    assert httpx.get(attachment["url"]).content == tiny_png()
    assert status_text(status["content"]) == "@maria El bando de fiestas"


async def test_a_resend_after_a_crash_does_not_post_twice(server: MastodonServer, channel: MastodonChannel) -> None:
    chat = await chat_of(server, "maria")
    message = outbound(chat, "Su cita es el martes a las 10:00. " * 30, id=42)
    first = await channel.send(message)
    # The process died before the outbox row was marked sent: the dispatcher sends the row again.
    restarted = MastodonChannel(JUN_TOKEN, server.base_url)
    await restarted.prepare()
    second = await restarted.send(message)
    assert second.platform_message_ids == first.platform_message_ids
    assert len(await bot_statuses(server)) == len(first.platform_message_ids) > 1


async def test_a_429_says_when_to_retry(server: MastodonServer, channel: MastodonChannel) -> None:
    chat = await chat_of(server, "maria")
    reset = int(time.time()) + 120
    headers = {"X-RateLimit-Reset": str(reset)}
    with (
        server.fault(path="/api/v1/statuses", status=429, count=1, headers=headers),
        pytest.raises(RetryLater) as raised,
    ):
        await channel.send(outbound(chat, "hola"))
    # Mastodon.py corrects the reset by the server's Date header: whole seconds, refreshed once a second by uvicorn.
    assert 100 <= raised.value.retry_after <= 123
    assert await bot_statuses(server) == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_retried_soon(server: MastodonServer, channel: MastodonChannel, status: int) -> None:
    chat = await chat_of(server, "maria")
    with server.fault(path="/api/v1/statuses", status=status, count=1), pytest.raises(RetryLater) as raised:
        await channel.send(outbound(chat, "hola"))
    assert raised.value.retry_after <= 30


async def test_an_account_that_is_gone_is_undeliverable(server: MastodonServer, channel: MastodonChannel) -> None:
    with pytest.raises(Undeliverable, match="gone"):
        await channel.send(outbound("999999999", "hola"))


async def test_a_refusal_is_undeliverable(server: MastodonServer, channel: MastodonChannel) -> None:
    chat = await chat_of(server, "maria")
    with server.fault(path="/api/v1/statuses", status=403, count=1), pytest.raises(Undeliverable, match="403"):
        await channel.send(outbound(chat, "hola"))


def test_from_config_reads_the_environment() -> None:
    env = {"MASTODON_ACCESS_TOKEN": "t", "MASTODON_API_BASE_URL": "https://social.jun.example/"}
    channel = from_config({"poll_interval": 20}, env)
    assert (channel.api_base_url, channel.poll_interval) == ("https://social.jun.example", 20.0)
    assert channel.limits.max_text == 500
    assert channel.limits.overall_per_s <= 1.0
    with pytest.raises(ConfigError, match="MASTODON_ACCESS_TOKEN is not set"):
        from_config({}, {"MASTODON_API_BASE_URL": "https://social.jun.example"})
    with pytest.raises(ConfigError, match="MASTODON_API_BASE_URL is not set"):
        from_config({}, {"MASTODON_ACCESS_TOKEN": "t"})
    with pytest.raises(ConfigError, match="poll_interval"):
        from_config({"poll_interval": "often"}, env)
