"""Database engines: SQLite (embedded, WAL) and PostgreSQL, and schema migrations.

:class:`Database` holds two engines over the same database. ``writer`` opens
every transaction with ``BEGIN IMMEDIATE`` on SQLite, so a step takes the
write lock up front instead of failing to upgrade a read lock halfway (which
``busy_timeout`` cannot retry); ``reader`` uses deferred transactions for
queries that never write. On PostgreSQL both are the same engine.

SQLite runs with ``journal_mode=WAL`` and ``synchronous=FULL``: a commit is on
disk before it is acknowledged, so "stored" means stored even across a power
cut, not only a process crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.errors import SchemaError

__all__ = ["Database", "is_sqlite"]

MIGRATIONS = Path(__file__).parent / "migrations"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    sa_url = make_url(url)
    database = sa_url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sa_url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The engines for one database URL, plus its migrations.

    ``pooled=False`` opens a PostgreSQL connection per use and closes it on
    return (tests use it, so no connection outlives a test's database).
    """

    def __init__(self, url: str, *, schema: str | None = None, pooled: bool = True) -> None:
        self.url = url
        self.schema = schema
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        else:
            connect_args: dict[str, Any] = {"connect_timeout": 10}
            if schema:
                connect_args["options"] = f"-csearch_path={schema}"
            pool: dict[str, Any] = (
                {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True} if pooled else {"poolclass": NullPool}
            )
            self.writer = create_engine(url, connect_args=connect_args, **pool)
            self.reader = self.writer

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()

    def _alembic_config(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("path_separator", "os")
        cfg.attributes["engine"] = self.writer
        return cfg

    def upgrade(self) -> str:
        """Apply every migration up to head; returns the head revision."""
        cfg = self._alembic_config()
        command.upgrade(cfg, "head")
        return self.head()

    def head(self) -> str:
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if head is None:
            raise SchemaError("no migrations found beside models/")
        return head

    def current(self) -> str | None:
        with self.reader.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_schema(self) -> None:
        """Raise :class:`SchemaError` unless the database is at the code's head revision."""
        try:
            current = self.current()
        except Exception as error:  # the driver's own error types differ per backend
            raise SchemaError(f"cannot read the database at {self.safe_url()}: {error}") from error
        head = self.head()
        if current != head:
            where = f"is at revision {current}" if current else "has no Plaza tables yet"
            raise SchemaError(f"the database {where}; this Plaza needs revision {head} — run `plaza db upgrade`")

    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)
