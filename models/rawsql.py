"""Hot-path statements: written with SQLAlchemy Core once, run on the DB-API cursor.

DESIGN.md measured a Core ``execute`` at about twice the cost of the same SQL
run on the driver, and the engine's step is a handful of statements per
message. :class:`RawStatement` compiles a Core statement once per dialect
into the driver's SQL text and parameter order; :meth:`RawStatement.run`
executes it on the connection's DB-API connection, inside whatever
transaction the SQLAlchemy ``Connection`` has open (so commit, rollback and
savepoints stay SQLAlchemy's). A driver error is raised as SQLAlchemy's
(``sqlalchemy.exc.IntegrityError``, ``OperationalError``...), as a Core
``execute`` would raise it, so callers catch one kind whichever path ran.

Because SQLAlchemy's type processing is bypassed, callers convert values
with :func:`db_json` and :func:`db_time`, and read JSON back with
:func:`from_db_json`: SQLite stores JSON as text and timestamps as
``YYYY-MM-DD HH:MM:SS.ffffff`` (what SQLAlchemy itself writes, so both paths
read each other's rows); PostgreSQL takes and returns them natively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

__all__ = ["RawStatement", "db_json", "db_time", "from_db_json", "raw_insert"]


class RawStatement:
    """One Core statement, compiled per dialect on first use, executed on the driver."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            positions = getattr(compiled, "positiontup", None) or ()
            order = tuple(positions) if dialect.positional else None
            # literal values written in the statement (status='done') are bound parameters too
            found = (str(compiled), order, dict(compiled.params))
            self._compiled[dialect.name] = found
        return found

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Execute with named ``params``; returns the DB-API cursor (``rowcount``, ``fetchone``...)."""
        sql, order, literals = self._for(connection.dialect)
        driver = connection.connection.driver_connection
        assert driver is not None
        values = {**literals, **params}
        arguments: Any = values if order is None else tuple(values[name] for name in order)
        dbapi = connection.dialect.loaded_dbapi
        try:
            return driver.execute(sql, arguments)
        except dbapi.Error as error:
            raise DBAPIError.instance(sql, arguments, error, dbapi.Error, dialect=connection.dialect) from error


def db_json(connection: Connection, value: Any) -> str:
    """A JSON value as both SQLite (text) and PostgreSQL (json from text) take it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def from_db_json(value: Any) -> Any:
    """JSON read on the driver: SQLite gives text, PostgreSQL gives the parsed value."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def db_time(connection: Connection, value: datetime) -> Any:
    """An aware timestamp as the column stores it (UTC)."""
    utc = value.astimezone(UTC)
    if connection.dialect.name == "sqlite":
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
    return utc


def raw_insert(table: Table, columns: tuple[str, ...], returning: str | None = None) -> RawStatement:
    """``INSERT INTO table (columns...) VALUES (:column...)`` [``RETURNING returning``], compiled once."""
    statement = insert(table).values({name: bindparam(name) for name in columns})
    if returning is not None:
        return RawStatement(statement.returning(table.c[returning]))
    return RawStatement(statement)
