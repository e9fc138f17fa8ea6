"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import models
from models.db import Database


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.writer.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, models.metadata)
    assert differences == []


def test_the_database_is_at_head_after_upgrade(database: Database) -> None:
    database.check_schema()  # raises SchemaError otherwise
    assert database.current() == database.head()
    assert database.upgrade() == database.head()  # upgrading twice is harmless
