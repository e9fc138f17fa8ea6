"""Shared fixtures: the town's config, and a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from models.db import Database
from tests.support.databases import PostgresSchema, SqliteTemplate, postgres_url, session_postgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def config() -> Config:
    """The shipped config.yaml (Jun), with its own flows."""
    return load_config(ROOT / "config.yaml", env={})


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _postgres(request: pytest.FixtureRequest) -> Iterator[PostgresSchema | None]:
    yield from session_postgres(request)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: SqliteTemplate) -> Iterator[Database]:
    """A migrated, empty database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = _sqlite_template.fresh(tmp_path)
    else:
        postgres_url()  # skips (or fails in CI) without PostgreSQL
        schema: PostgresSchema | None = request.getfixturevalue("_postgres")
        assert schema is not None
        db = schema.fresh()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def sqlite(tmp_path: Path, _sqlite_template: SqliteTemplate) -> Iterator[Database]:
    """A migrated, empty SQLite database only, for tests whose subject is not the database (channels, flows)."""
    db = _sqlite_template.fresh(tmp_path)
    try:
        yield db
    finally:
        db.dispose()
