"""Open311 tests: the app over HTTP on a migrated database, and an API key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.config import Config
from models.db import Database
from tests.support.plazaweb import new_key, web_client


@pytest.fixture
def client(config: Config, database: Database) -> Iterator[httpx.Client]:
    with web_client(config, database) as http:
        yield http


@pytest.fixture
def api_key(database: Database) -> str:
    return new_key(database, "civic-app")
