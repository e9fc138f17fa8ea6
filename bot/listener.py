"""PostgreSQL ``LISTEN/NOTIFY`` wake-ups, and the dedicated connections they (and sender locks) need.

Who notifies what (on PostgreSQL only; the payload is the Plaza channel name):

- :func:`bot.inbox.accept` notifies ``plaza_inbox`` in the transaction that
  stores new messages, so the notification is delivered at its commit and
  never before: workers in every process wake and claim.
- A worker's commit notifies ``plaza_outbox`` for the channels whose
  replies it wrote: the process holding that channel's sender lock wakes.
- The web chat's sender notifies ``plaza_sent`` (``channel<TAB>chat_id``)
  with each row it marks sent, so a page long-polling another ``plaza
  serve`` hears of its reply at once.

A notification is only a hint: a missed one (a process that was starting)
costs one slow poll, never a message; after a reconnect ``on_listening``
wakes everyone, since notifications sent meanwhile were lost. :class:`Listener` runs one
thread with its own connection; when the database goes away it logs one line,
waits and reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

__all__ = [
    "DATABASE_TROUBLE",
    "INBOX_CHANNEL",
    "OUTBOX_CHANNEL",
    "SENT_CHANNEL",
    "Listener",
    "dedicated_connection",
    "notify",
    "one_line",
]

log = logging.getLogger(__name__)

DATABASE_TROUBLE: tuple[type[Exception], ...] = (OperationalError, psycopg.OperationalError)
"""The database's own trouble (unreachable, a lock or statement timeout): from SQLAlchemy, or straight from
the driver where statements run on it (the steps' :mod:`models.rawsql`, dedicated connections)."""

INBOX_CHANNEL = "plaza_inbox"
OUTBOX_CHANNEL = "plaza_outbox"
SENT_CHANNEL = "plaza_sent"

_NOTIFY = text("SELECT pg_notify(:topic, :payload)")


def notify(connection: Connection, topic: str, payload: str) -> None:
    """Queue a notification in the connection's transaction (delivered at commit); nothing on SQLite."""
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"topic": topic, "payload": payload})


def dedicated_connection(engine: Engine) -> Any:
    """A driver (psycopg) connection of its own, out of the pool, in autocommit; the caller closes it.

    It keeps the engine's connect options (the schema search path), and is
    used for session-scoped things: ``LISTEN`` and advisory locks.
    """
    raw = engine.raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    raw.detach()
    driver.autocommit = True
    return driver


def one_line(error: BaseException) -> str:
    """An error as one short line (drivers put hints on further lines)."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:300]


class Listener:
    """Calls ``handlers[topic](payload)`` for every notification, from its own thread."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Callable[[str], None]],
        *,
        retry_interval: float = 2.0,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._handlers = dict(handlers)
        self._on_listening = on_listening
        self._retry_interval = retry_interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()
        """Set while the ``LISTEN`` is in place (tests wait for it)."""

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="plaza-listener", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            connection: Any = None
            try:
                connection = dedicated_connection(self._engine)
                for topic in self._handlers:
                    connection.execute(f'LISTEN "{topic}"')
                if failing:
                    log.warning("listening for notifications again")
                failing = False
                self.listening.set()
                if self._on_listening is not None:
                    self._on_listening()  # what was notified while nobody listened is looked at now
                while not self._stopping.is_set():
                    for notification in connection.notifies(timeout=1.0):
                        handler = self._handlers.get(notification.channel)
                        if handler is not None:
                            handler(notification.payload)
            except Exception as error:
                self.listening.clear()
                if not failing:
                    log.warning(
                        "cannot listen for notifications (%s); polling meanwhile, retrying every %.0fs",
                        one_line(error),
                        self._retry_interval,
                    )
                failing = True
                self._stopping.wait(self._retry_interval)
            finally:
                self.listening.clear()
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:
                        log.debug("closing the listener connection failed", exc_info=True)
