"""Runs engine steps for pending inbox rows: in order per conversation, many per commit.

The processor is the embedded (one process) form of the lanes of DESIGN.md.
SQLite has one writer at a time, so instead of parallel lanes fighting for the
write lock, one thread takes pending rows through :class:`bot.throttle.Throttle`:
each conversation's in arrival (id) order, conversations round-robin (a flood
in one chat never delays another's message behind its backlog) and none over
its chat's rate limit (the flooder is told once to slow down), and runs the steps of up to ``batch``
rows, of any conversations, in one transaction (group commit). Each step
runs inside a savepoint, so a failing step rolls back alone (state, side
effects and replies together) while the others commit. Nothing is
acknowledged by a step: acceptance happened when the inbox row was committed,
and the replies exist only once this transaction commits.

A row whose step fails is retried up to ``max_attempts`` times, then marked
failed and the resident gets an apology (never a stack trace). Two
processes sharing a database cannot process a row twice: the step's claim
(``UPDATE inbox ... WHERE status = 'pending'``) lets only one of them through.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.config import LimitSettings
from bot.engine import Engine as StepEngine
from bot.metrics import STEP_SECONDS
from bot.throttle import Throttle
from models.db import storage_problem

__all__ = ["Processor"]

log = logging.getLogger(__name__)


class Processor:
    """A background thread that processes the inbox of some channels."""

    def __init__(
        self,
        db: Engine,
        engine: StepEngine,
        channels: Sequence[str],
        *,
        on_committed: Callable[[set[str]], None] | None = None,
        batch: int = 64,
        poll_interval: float = 1.0,
        max_attempts: int = 3,
        per_chat: int = 8,
        limits: LimitSettings | None = None,
    ) -> None:
        self._db = db
        self._engine = engine
        self._channels = tuple(channels)
        self._on_committed = on_committed
        self._batch = batch
        self._poll_interval = poll_interval
        self._max_attempts = max_attempts
        self._per_chat = per_chat
        # the rate limit of config.yaml unless given one (bot.throttle.UNTHROTTLED for scripted residents)
        self._throttle = Throttle(limits or engine.config.limits, engine.wording)
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        # A test hook: PLAZA_TEST_HOLD_PROCESSOR=1 accepts messages but never processes them,
        # so a test can kill the process between acceptance and processing.
        self._held = os.environ.get("PLAZA_TEST_HOLD_PROCESSOR") == "1"
        # A test hook: PLAZA_TEST_STEP_DELAY=seconds sleeps after each step inside its transaction, so a
        # test can kill the process in the middle of a batch (as bot.worker does).
        self._step_delay = float(os.environ.get("PLAZA_TEST_STEP_DELAY", "0") or 0)

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="plaza-processor", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wakeup.set()
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._held:
                self._stopping.wait(self._poll_interval)
                continue
            try:
                processed = self.run_once()
                if self._failing:
                    log.warning("the database answers again")
                self._failing = False
            except OperationalError as error:
                if not self._failing:  # one line, not a traceback per poll
                    log.error("the inbox cannot be processed: %s; retrying", storage_problem(error))
                self._failing = True
                processed = 0
            except Exception:
                log.exception("processing the inbox failed; retrying")
                processed = 0
            if processed:
                continue
            self._wakeup.wait(self._poll_interval)
            self._wakeup.clear()

    def pending(self, limit: int) -> Sequence[Any]:
        """Up to ``limit`` rows to process now: fair between chats, within each chat's rate limit."""
        with self._db.connect() as connection:
            return self._throttle.pending(connection, self._channels, limit=limit, per_chat=self._per_chat)

    def run_once(self) -> int:
        """Process one batch of pending rows in one transaction; returns how many were handled.

        The batch first runs without savepoints (the common case: every step
        succeeds). If a step raises, that whole transaction rolls back and the
        batch runs again with a savepoint around each step, so the failing step
        alone is rolled back and recorded.
        """
        rows = self.pending(self._batch)
        if len(rows) < self._batch:
            # nothing more to take now: tell a chat over its limit whose messages came after its last batch
            with self._db.begin() as connection:
                self._throttle.tell_flooders(connection, None, self._channels)
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            touched = self._run_fast(rows)
        except _StepFailed:
            touched = self._run_careful(rows)
        log.debug("processed %d messages in %.1f ms", len(rows), (time.perf_counter() - started) * 1000)
        if touched and self._on_committed is not None:
            self._on_committed(touched)
        return len(rows)

    def _run_fast(self, rows: Sequence[Any]) -> set[str]:
        touched: set[str] = set()
        with self._db.begin() as connection:
            for row in rows:
                started = time.perf_counter()
                try:
                    self._engine.step(connection, row)
                    STEP_SECONDS.observe(time.perf_counter() - started)
                except Exception as error:
                    # redo carefully; if the database itself is down, the careful run fails to begin and
                    # the loop retries later
                    raise _StepFailed(row.id) from error
                touched.add(row.channel)
                if self._step_delay:
                    time.sleep(self._step_delay)
            self._throttle.tell_flooders(connection, {(row.channel, row.chat_id) for row in rows})
        return touched

    def _run_careful(self, rows: Sequence[Any]) -> set[str]:
        touched: set[str] = set()
        failed_chats: set[tuple[str, str]] = set()
        with self._db.begin() as connection:
            for row in rows:
                chat = (row.channel, row.chat_id)
                if chat in failed_chats:
                    continue  # keep this conversation's later messages behind the failed one
                savepoint = connection.begin_nested()
                try:
                    self._engine.step(connection, row)
                    savepoint.commit()
                    touched.add(row.channel)
                except Exception as error:
                    savepoint.rollback()
                    final = row.attempts + 1 >= self._max_attempts
                    log.exception(
                        "step for inbox row %s failed (attempt %d%s)",
                        row.id,
                        row.attempts + 1,
                        ", giving up" if final else "",
                    )
                    with connection.begin_nested():
                        self._engine.fail(connection, row, error, final=final)
                    if final:
                        touched.add(row.channel)
                    else:
                        failed_chats.add(chat)
            self._throttle.tell_flooders(connection, {(row.channel, row.chat_id) for row in rows})
        return touched


class _StepFailed(Exception):
    """A step raised during a fast (savepoint-free) batch; the batch is redone carefully."""

    def __init__(self, inbox_id: int) -> None:
        self.inbox_id = inbox_id
        super().__init__(f"step for inbox row {inbox_id} failed")
