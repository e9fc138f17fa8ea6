"""One sender per channel account across processes: a PostgreSQL advisory lock on a connection of its own.

A :class:`~bot.outbox.Dispatcher` sends only while it holds its
:class:`SenderLock`. On PostgreSQL that is ``pg_try_advisory_lock`` taken
on a dedicated connection: session-scoped, so it is released when the
holder's process dies (its connection closes), and the others, standing by
and retrying, take over; only then do they put the rows it left ``sending``
back to pending. The key is derived from the database schema, the channel
and the account, so test schemas sharing one database never block each other.
On SQLite (one process) the lock is always held.

A lock whose connection broke is lost: :meth:`SenderLock.held` pings the
connection and the dispatcher stops sending until it acquires the lock again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from sqlalchemy import Engine

from bot.listener import dedicated_connection, one_line

__all__ = ["SenderLock", "lock_key"]

log = logging.getLogger(__name__)


def lock_key(schema: str, channel: str, account: str) -> int:
    """A signed 64-bit advisory-lock key for one channel account in one schema."""
    digest = hashlib.blake2b(f"plaza-sender:{schema}:{channel}:{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SenderLock:
    """The right to send through one channel account; thread-safe, idempotent acquire/release."""

    def __init__(self, engine: Engine, channel: str, account: str = "default") -> None:
        self._engine = engine
        self.channel = channel
        self.account = account
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._mutex = threading.Lock()

    @property
    def exclusive(self) -> bool:
        """True when the lock really excludes other processes (PostgreSQL)."""
        return self._postgres

    def acquire(self) -> bool:
        """Try once; True if this process now holds the lock (or already did). Never blocks on the holder."""
        if not self._postgres:
            return True
        with self._mutex:
            if self._connection is not None:
                return True
            connection = dedicated_connection(self._engine)
            try:
                schema = connection.execute("SELECT current_schema()").fetchone()[0] or "public"
                key = lock_key(schema, self.channel, self.account)
                got = bool(connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
            except Exception:
                connection.close()
                raise
            if not got:
                connection.close()
                return False
            self._connection = connection
            return True

    def held(self) -> bool:
        """Whether the lock is still ours: its connection answers (a broken one lost the lock)."""
        if not self._postgres:
            return True
        with self._mutex:
            connection = self._connection
            if connection is None:
                return False
            try:
                connection.execute("SELECT 1").fetchone()
                return True
            except Exception as error:
                log.warning("the %s sender lost its lock (%s); standing by", self.channel, one_line(error))
                self._drop()
                return False

    def release(self) -> None:
        """Give the lock up (closing its connection releases it)."""
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the sender-lock connection failed", exc_info=True)
