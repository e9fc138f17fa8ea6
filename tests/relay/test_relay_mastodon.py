"""Mastodon's replies carry what they answer: a status's ``in_reply_to_id`` becomes ``reply_to`` (over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import anyio.to_thread
import pytest

from adapters.mastodon import MastodonChannel
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from bot.messages import InboundMessage, OutboundMessage


@pytest.fixture
def server() -> Iterator[MastodonServer]:
    with MastodonServer() as running:
        yield running


async def as_user(server: MastodonServer, username: str, call: str, *args: Any, **kwargs: Any) -> Any:
    client = server.client(username)
    return await anyio.to_thread.run_sync(lambda: getattr(client, call)(*args, **kwargs))


async def test_a_reply_to_the_bots_status_names_it(server: MastodonServer) -> None:
    channel = MastodonChannel(JUN_TOKEN, server.base_url, poll_interval=0.1)
    got: list[InboundMessage] = []

    async def dispatch(messages: Sequence[InboundMessage]) -> None:
        got.extend(messages)

    await as_user(server, "maria", "status_post", "@jun hola", visibility="direct")
    await channel.prepare()
    await channel.poll_once(dispatch)
    [first] = got
    assert first.reply_to is None
    receipt = await channel.send(
        OutboundMessage(id=1, channel="mastodon", chat_id=first.chat_id, text="#7 · Policía Local · Juan: ¿me oye?")
    )
    [relayed] = receipt.platform_message_ids
    await as_user(server, "maria", "status_post", "@jun Sí, le oigo", visibility="direct", in_reply_to_id=relayed)
    await channel.poll_once(dispatch)
    assert [(message.text, message.reply_to) for message in got[1:]] == [("Sí, le oigo", relayed)]
