"""Public page tests: the app over HTTP on a migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.config import Config
from models.db import Database
from tests.support.plazaweb import web_client


@pytest.fixture
def client(config: Config, database: Database) -> Iterator[httpx.Client]:
    with web_client(config, database) as http:
        yield http
