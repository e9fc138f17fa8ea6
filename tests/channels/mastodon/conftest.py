"""Fixtures for the Mastodon channel: mastodon-mock seeded for Jun, a SQLite database, a running Plaza."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.mastodon import MastodonChannel
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from bot.config import Config
from bot.runtime import Plaza
from models.db import Database


@pytest.fixture
def server() -> Iterator[MastodonServer]:
    with MastodonServer() as running:
        yield running


@pytest.fixture
def channel(server: MastodonServer) -> MastodonChannel:
    return MastodonChannel(JUN_TOKEN, server.base_url, poll_interval=0.1)


@pytest.fixture
async def plaza(config: Config, sqlite: Database, channel: MastodonChannel) -> AsyncIterator[Plaza]:
    running = Plaza(
        config, [channel], database=sqlite, poll_interval=0.05, reload_interval=None, reminder_interval=None
    )
    async with running:
        yield running
