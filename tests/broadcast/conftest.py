"""Fixtures for broadcast tests: the test database with a connection pool, as a running Plaza has.

The ``database`` fixture opens a PostgreSQL connection per use (so none
outlives a test); a dispatcher sending thousands of rows through it would
measure connection setup, not the outbox. ``pooled`` is the same database
through pooled engines (SQLite: the very same object).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.db import Database


@pytest.fixture
def pooled(database: Database) -> Iterator[Database]:
    if database.sqlite:
        yield database
        return
    shared = Database(database.url, schema=database.schema, pooled=True)
    try:
        yield shared
    finally:
        shared.dispose()
