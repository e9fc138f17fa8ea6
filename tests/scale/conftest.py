"""Scale-out fixtures: the session's PostgreSQL schema, and the ``plaza worker`` processes a test starts.

Every test here needs PostgreSQL (``PLAZA_TEST_DATABASE_URL``) and skips
with that message without it (CI sets it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.inbox import accept
from bot.processor import Processor
from models.db import Database
from tests.support.databases import PostgresSchema, postgres_url
from tests.support.scale import SCRIPT, WorkerProcess, message, replies_by_chat


@pytest.fixture
def schema(request: pytest.FixtureRequest) -> PostgresSchema:
    """The session's PostgreSQL schema (skips without PostgreSQL)."""
    postgres_url()
    found: PostgresSchema | None = request.getfixturevalue("_postgres")
    assert found is not None
    return found


@pytest.fixture
def pg(schema: PostgresSchema) -> Iterator[Database]:
    """The schema's tables, emptied."""
    database = schema.fresh()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def reference(config: Config, sqlite: Database) -> list[str]:
    """The replies to :data:`SCRIPT` from the embedded processor on SQLite, one message after another."""
    engine = Engine(config, FlowCatalog(config, sqlite.writer))
    processor = Processor(sqlite.writer, engine, ["web"])
    for number, said in enumerate(SCRIPT):
        accept(sqlite.writer, [message("reference", number, said)])
        while processor.run_once():
            pass
    return [reply for _, reply in replies_by_chat(sqlite)["reference"]]


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts; whatever still runs at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()
