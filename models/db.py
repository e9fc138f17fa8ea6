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

import shutil
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bot.errors import SchemaError, StorageError

__all__ = ["MIN_FREE_BYTES", "Database", "is_sqlite", "storage_problem"]

MIGRATIONS = Path(__file__).parent / "migrations"
MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space beside a SQLite file, ``plaza serve`` refuses to start (disk full)."""

_READ_ONLY = ("readonly", "read-only", "read only")
_FULL = ("disk is full", "disk full", "no space left", "could not extend file")


def storage_problem(error: BaseException) -> str:
    """What a database error means for storing messages, as one line that starts with the kind of trouble:
    ``database is read-only: ...``, ``disk full: ...`` or ``the database cannot be reached: ...``."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    detail = (lines[0] if lines else type(cause).__name__)[:200]
    lowered = detail.lower()
    if any(word in lowered for word in _READ_ONLY):
        return f"database is read-only: {detail}"
    if any(word in lowered for word in _FULL):
        return f"disk full: {detail}"
    return f"the database cannot be reached: {detail}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    sa_url = make_url(url)
    database = sa_url.database
    if database and database != ":memory:":
        if sa_url.query.get("uri") == "true":  # file:PATH?mode=ro&uri=true
            database = database.removeprefix("file:")
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
        """Raise :class:`SchemaError` unless the database is at the code's head revision
        (:class:`StorageError` first when a SQLite file's disk is full)."""
        self.check_space()
        try:
            current = self.current()
        except OperationalError as error:
            raise SchemaError(f"cannot read the database at {self.safe_url()}: {storage_problem(error)}") from error
        except Exception as error:  # the driver's own error types differ per backend
            raise SchemaError(f"cannot read the database at {self.safe_url()}: {error}") from error
        head = self.head()
        if current != head:
            where = f"is at revision {current}" if current else "has no Plaza tables yet"
            raise SchemaError(f"the database {where}; this Plaza needs revision {head} — run `plaza db upgrade`")

    def check_space(self) -> None:
        """Raise :class:`StorageError` when the disk of a SQLite file has less than :data:`MIN_FREE_BYTES` free
        (on a full disk SQLite cannot even open its WAL: "disk I/O error" would say nothing useful)."""
        if not self.sqlite:
            return
        database = make_url(self.url).database
        if not database or database == ":memory:":
            return
        folder = Path(database.removeprefix("file:")).parent
        free = shutil.disk_usage(folder).free
        if free < MIN_FREE_BYTES:
            raise StorageError(
                f"disk full: {free // 1024} KB free in {folder} (Plaza needs at least "
                f"{MIN_FREE_BYTES // 1024} KB) — free some space there and start again"
            )

    def check_writable(self) -> None:
        """Raise :class:`StorageError` unless the database can take a write now (``plaza serve`` checks at start:
        a server that accepts nothing should say so and stop, not answer 503 to everyone)."""
        self.check_space()
        try:
            with self.writer.connect() as connection:
                probe = connection.begin()
                # a write that changes nothing, rolled back: fails on a read-only file, mount or server
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
                probe.rollback()
        except OperationalError as error:
            raise StorageError(
                f"{storage_problem(error)} ({self.safe_url()}) — check the file's and its folder's permissions, "
                "the mount and the free space, then start again"
            ) from error

    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)
