"""Test databases: a migrated SQLite file per test, and PostgreSQL when configured.

PostgreSQL tests run when ``PLAZA_TEST_DATABASE_URL`` is set; each test
session works in its own schema (dropped at the end), and each test starts
from empty tables. Without the variable they skip with a clear message,
unless ``PLAZA_REQUIRE_POSTGRES=1`` (CI), where a missing database fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import models
from models.db import Database

POSTGRES_ENV = "PLAZA_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("PLAZA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{POSTGRES_ENV} is required here (CI) but not set")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}=postgresql+psycopg://USER@HOST:PORT/DB")
    return url


class PostgresSchema:
    """One schema for the whole test session, migrated once; tables emptied per test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"plaza_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        database = Database(url, schema=self.schema)
        database.upgrade()
        database.dispose()

    def fresh(self) -> Database:
        database = Database(self.url, schema=self.schema, pooled=False)
        names = ", ".join(f'"{table.name}"' for table in models.metadata.sorted_tables)
        with database.writer.begin() as connection:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return database

    def drop(self) -> None:
        admin = create_engine(self.url)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        admin.dispose()


class SqliteTemplate:
    """A migrated SQLite file, copied for each test (migrating per test is slower)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "template.sqlite3"
        database = Database(f"sqlite:///{self.path}")
        database.upgrade()
        database.dispose()

    def fresh(self, folder: Path) -> Database:
        target = folder / "plaza.sqlite3"
        shutil.copyfile(self.path, target)
        return Database(f"sqlite:///{target}")


def session_postgres(request: pytest.FixtureRequest) -> Iterator[PostgresSchema]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        yield None  # type: ignore[misc]
        return
    schema = PostgresSchema(url)
    try:
        yield schema
    finally:
        schema.drop()
