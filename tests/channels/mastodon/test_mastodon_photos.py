"""Photos on Mastodon, over real HTTP to mastodon-mock: stored photos go out as attachments, fetching is fenced.

Proves: a status change with a photo reaches a reporter on Mastodon as a
direct status carrying the photo (uploaded with ``media_post``; the bytes the
resident's client downloads are the official's); the channel fetches a
resident's attachment from its own server only (another host or port is
refused without a request, a file over the size cap is refused), so an
attachment URL written by a stranger cannot make Plaza fetch anything else.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import insert, select

import adapters.mastodon
from adapters.mastodon import MastodonChannel
from adapters.mastodon_html import status_text
from adapters.testing.mastodon_server import MastodonServer
from bot.config import Config
from bot.errors import Undeliverable
from bot.media import Media
from bot.request_status import set_request_status
from bot.runtime import Plaza
from models import Conversation, ServiceRequest
from tests.channels.telegram.test_telegram_photos import png
from tests.support.server import tiny_png

CONVERSATIONS = Conversation.__table__
REQUESTS = ServiceRequest.__table__


async def as_user(server: MastodonServer, username: str, call: str, *args: Any, **kwargs: Any) -> Any:
    client = server.client(username)
    return await anyio.to_thread.run_sync(lambda: getattr(client, call)(*args, **kwargs))


def report_of(plaza: Plaza, chat_id: str, ticket: str) -> int:
    with plaza.database.writer.begin() as connection:
        conversation = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.resident_id).where(
                CONVERSATIONS.c.channel == "mastodon", CONVERSATIONS.c.chat_id == chat_id
            )
        ).one()
        return int(
            connection.execute(
                insert(REQUESTS)
                .values(
                    ticket=ticket,
                    kind="incident",
                    category="streetlight",
                    department="servicios",
                    description="Farola apagada",
                    status="received",
                    private=False,
                    language="es",
                    channel="mastodon",
                    resident_id=conversation.resident_id,
                    conversation_id=conversation.id,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
                .returning(REQUESTS.c.id)
            ).scalar_one()
        )


async def test_a_status_change_with_a_photo_reaches_a_mastodon_reporter_as_an_attachment(
    server: MastodonServer, plaza: Plaza, config: Config
) -> None:
    asked = await as_user(server, "maria", "status_post", "@jun hola", visibility="direct")
    chat_id = str(asked["account"]["id"])
    await anyio.to_thread.run_sync(lambda: server.wait_replies("maria", 1))
    assert await plaza.settle("mastodon", chat_id)
    greeted = len(await anyio.to_thread.run_sync(lambda: server.replies_to("maria")))
    request_id = await anyio.to_thread.run_sync(report_of, plaza, chat_id, "JUN-2026-000077")
    after = png(9, 4)

    def change() -> None:
        with plaza.database.writer.begin() as connection:
            set_request_status(
                connection,
                config,
                request_id,
                "fixed",
                note="Farola nueva",
                now=datetime.now(UTC),
                photo=Media(after, "image/png"),
            )

    await anyio.to_thread.run_sync(change)
    plaza.wake_dispatchers()
    got = await anyio.to_thread.run_sync(lambda: server.wait_replies("maria", greeted + 1))
    [told] = [status for status in got if "JUN-2026-000077" in status_text(status["content"])]
    assert told["visibility"] == "direct" and "Farola nueva" in status_text(told["content"])
    [attachment] = told["media_attachments"]
    assert attachment["type"] == "image"
    assert httpx.get(attachment["url"]).content == after


async def test_the_channel_fetches_attachments_of_its_own_server_only(
    server: MastodonServer, channel: MastodonChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = await as_user(server, "maria", "media_post", io.BytesIO(tiny_png()), mime_type="image/png")
    assert await channel.fetch_photo(media["url"]) == tiny_png()

    port = int(server.base_url.rsplit(":", 1)[1])
    elsewhere = [
        media["url"].replace(f":{port}/", f":{port + 1}/"),  # same host, another port
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        media["url"].replace("127.0.0.1", "localhost"),
        media["url"].replace("http://", "http://jun.example@"),  # someone else's credentials in the URL
        "file:///etc/passwd",
    ]
    asked_before = len(server.requests)
    for url in elsewhere:
        with pytest.raises(Undeliverable, match="only its own files"):
            await channel.fetch_photo(url)
    assert len(server.requests) == asked_before  # nothing was fetched

    monkeypatch.setattr(adapters.mastodon, "MAX_PHOTO_BYTES", len(tiny_png()) - 1)
    with pytest.raises(Undeliverable, match="larger than"):
        await channel.fetch_photo(media["url"])
