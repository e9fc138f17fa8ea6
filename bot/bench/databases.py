"""The databases a bench measures: a temporary SQLite file, and PostgreSQL in a schema of its own when set.

    for target in targets(args.database):
        with target.open() as database:   # migrated; the PostgreSQL schema is dropped on leaving
            ...

Without ``--database`` a bench measures a fresh SQLite file and, when
``$PLAZA_TEST_DATABASE_URL`` is set, a new schema in that PostgreSQL (so a
bench never touches a town's tables).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from models import Resident, Subscription
from models.db import Database

__all__ = ["POSTGRES_ENV", "Target", "add_subscribers", "targets"]

POSTGRES_ENV = "PLAZA_TEST_DATABASE_URL"

RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Target:
    """One database to measure: ``url`` as given, ``schema`` a fresh one to create (PostgreSQL) or None."""

    url: str
    schema: str | None = None

    @property
    def backend(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def process_url(self) -> str:
        """The URL for a ``plaza`` subprocess: it lands in the schema through libpq's ``options``."""
        if self.schema is None:
            return self.url
        return f"{self.url}?options={quote(f'-csearch_path={self.schema}')}"

    @contextmanager
    def open(self) -> Iterator[Database]:
        """The migrated database; a created schema is dropped afterwards, even on failure."""
        admin: Engine | None = None
        if self.schema is not None:
            admin = create_engine(self.url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        try:
            database = Database(self.url, schema=self.schema)
            try:
                database.upgrade()
                yield database
            finally:
                database.dispose()
        finally:
            if admin is not None:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
                admin.dispose()


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """``--database URL`` (repeatable): what :func:`targets` measures instead of its default."""
    parser.add_argument(
        "--database",
        action="append",
        default=None,
        help="database URL to measure (repeatable; default: a temporary SQLite file, "
        "plus $PLAZA_TEST_DATABASE_URL when set)",
    )


@contextmanager
def targets(urls: Sequence[str] | None, *, postgres_only: bool = False) -> Iterator[list[Target]]:
    """The targets of a run: ``urls``, or a temporary SQLite file plus ``$PLAZA_TEST_DATABASE_URL`` when set."""
    with tempfile.TemporaryDirectory(prefix="plaza-bench-") as folder:
        if urls:
            yield [Target(url) for url in urls]
            return
        found = [] if postgres_only else [Target(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")]
        postgres = os.environ.get(POSTGRES_ENV)
        if postgres:
            found.append(Target(postgres, f"plaza_bench_{uuid.uuid4().hex[:8]}"))
        yield found


def add_subscribers(
    engine: Engine,
    count: int,
    *,
    topic: str = "news",
    channel: str = "web",
    languages: Sequence[str] = ("es", "en"),
    prefix: str = "chat",
    start: int = 0,
    chat_ids: Sequence[str] | None = None,
) -> list[str]:
    """``count`` residents subscribed to ``topic`` on ``channel``, languages in turn; returns their chat ids.

    The chat ids are ``prefix-000000``, ``prefix-000001``... unless ``chat_ids`` names them.
    Written with Core in one transaction (a bench's or a test's set-up, not the product's path).
    """
    now = datetime.now(UTC)
    chats = list(chat_ids) if chat_ids is not None else [f"{prefix}-{start + n:06d}" for n in range(count)]
    count = len(chats)
    with engine.begin() as connection:
        first = connection.execute(select(RESIDENTS.c.id).order_by(RESIDENTS.c.id.desc()).limit(1)).scalar() or 0
        connection.execute(
            insert(RESIDENTS),
            [
                {"id": first + 1 + n, "language": languages[n % len(languages)], "verified": False, "created_at": now}
                for n in range(count)
            ],
        )
        connection.execute(
            insert(SUBSCRIPTIONS),
            [
                {"resident_id": first + 1 + n, "channel": channel, "chat_id": chat, "topic": topic, "created_at": now}
                for n, chat in enumerate(chats)
            ],
        )
    return chats
