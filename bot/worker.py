"""Scale-out workers (PostgreSQL): claim chats under a lease, run their steps, commit only under the fence.

Any number of workers, in any number of processes on any machines, share
one PostgreSQL. A round of one worker:

1. **Leases exist** for every chat with pending inbox rows: one
   ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into
   ``conversation_leases``, keyed on ``(channel, chat_id)`` like the inbox,
   so a chat's very first messages (no conversation row yet) are covered.
2. **Claim** (one short transaction): ``SELECT`` free or expired leases of
   chats with pending rows, oldest pending message first, ``FOR UPDATE OF
   conversation_leases SKIP LOCKED LIMIT n``; then ``UPDATE`` them to
   ``owner = me``, ``lease_until = clock_timestamp() + lease``, ``fence =
   fence + 1``. Times are the database's clock, never a machine's.
3. **Steps** (one transaction for every claimed chat: group commit): the
   claimed chats' pending rows, a prefix of each chat's queue in inbox id
   order, round-robin between chats and within each chat's rate limit
   (:class:`bot.throttle.Throttle`; a chat over its limit is not claimed at
   all, and is told once to slow down), each through
   :meth:`bot.engine.Engine.step`.
4. **Fence**: before commit, for each chat, ``UPDATE conversation_leases
   SET owner = NULL, lease_until = NULL WHERE channel = :c AND chat_id =
   :chat AND owner = :me AND fence = :fence``. One row: the lease is still
   ours, and the update both releases it at commit and locks the lease row
   until then (a claimer skips locked rows), so nobody can take it between
   the check and the commit. Zero rows: another worker claimed the chat
   after our lease ran out; that chat's steps are rolled back (a savepoint
   per chat), counted in ``plaza_leases_lost_total``, and the successor's
   work stands.

A step that raises makes the round run again with a savepoint per step (as
:mod:`bot.processor` does): the failing step alone is rolled back and
recorded, and its chat's later rows stay behind it. A step that hit a lock or
statement timeout is rolled back without counting an attempt: its chat waits
for a later round. Every statement runs
under ``statement_timeout`` and ``lock_timeout`` well under the lease, and
``idle_in_transaction_session_timeout`` equal to the lease makes the server
end the transaction of a worker that froze mid-round, so its row locks never
outlive its lease. Steps make no calls outside the database; platform calls
belong to the senders (:mod:`bot.outbox`), one per channel account.

A worker is woken by :meth:`Worker.wake` (``LISTEN plaza_inbox``, see
:mod:`bot.listener`) and otherwise polls every ``poll_interval`` seconds.
When the database cannot be reached it logs one line and retries with a
growing pause, never a traceback per attempt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Float, and_, bindparam, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot.engine import Engine as StepEngine
from bot.listener import DATABASE_TROUBLE, OUTBOX_CHANNEL, notify, one_line
from bot.metrics import LEASES_CLAIMED, LEASES_LOST, STEP_SECONDS
from bot.throttle import Throttle, processed_in_window, with_an_official
from models import ConversationLease, InboxItem

__all__ = ["DEFAULT_LEASE_SECONDS", "LEASE_ENV", "Claim", "Worker", "worker_id"]

log = logging.getLogger(__name__)

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
LEASES = ConversationLease.__table__  # type: ignore[attr-defined]

DEFAULT_LEASE_SECONDS = 30.0
LEASE_ENV = "PLAZA_LEASE_SECONDS"

_PENDING = (
    select(INBOX.c.channel, INBOX.c.chat_id, func.min(INBOX.c.id).label("first"))
    .where(INBOX.c.status == "pending", INBOX.c.channel.in_(bindparam("channels", expanding=True)))
    .group_by(INBOX.c.channel, INBOX.c.chat_id)
    .subquery("waiting")
)
_ENSURE_LEASES = (
    pg_insert(LEASES)
    .from_select(
        ["channel", "chat_id", "fence"],
        select(_PENDING.c.channel, _PENDING.c.chat_id, text("0"))
        .outerjoin(LEASES, and_(LEASES.c.channel == _PENDING.c.channel, LEASES.c.chat_id == _PENDING.c.chat_id))
        .where(LEASES.c.channel.is_(None)),
    )
    .on_conflict_do_nothing()
)
_CANDIDATES = (
    select(LEASES.c.channel, LEASES.c.chat_id)
    .join(_PENDING, and_(_PENDING.c.channel == LEASES.c.channel, _PENDING.c.chat_id == LEASES.c.chat_id))
    .where(
        or_(LEASES.c.lease_until.is_(None), LEASES.c.lease_until < func.clock_timestamp()),
        # a chat that used its window's allowance waits for the next window, unless an official has it
        # (bot.throttle)
        or_(
            processed_in_window(LEASES.c.channel, LEASES.c.chat_id) < bindparam("allowance"),
            with_an_official(LEASES.c.channel, LEASES.c.chat_id),
        ),
    )
    .order_by(_PENDING.c.first)
    .limit(bindparam("limit"))
    .with_for_update(of=LEASES, skip_locked=True)
)
_LEASE_UNTIL = func.clock_timestamp() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("seconds", type_=Float()))
_RELEASE = (
    update(LEASES)
    .where(
        LEASES.c.channel == bindparam("lease_channel"),
        LEASES.c.chat_id == bindparam("lease_chat"),
        LEASES.c.owner == bindparam("lease_owner"),
        LEASES.c.fence == bindparam("lease_fence"),
    )
    .values(owner=None, lease_until=None)
)


def worker_id() -> str:
    """A worker's owner id: host, process and a random part (unique across machines and restarts)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_seconds_from_env(default: float = DEFAULT_LEASE_SECONDS) -> float:
    raw = os.environ.get(LEASE_ENV)
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = default
    return value if value >= 1.0 else default


@dataclass(frozen=True, slots=True)
class Claim:
    """A chat this worker holds: until its round commits, or its lease runs out."""

    channel: str
    chat_id: str
    fence: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.chat_id)


class Worker:
    """One worker thread (see the module docstring). Several may run in one process."""

    def __init__(
        self,
        db: Engine,
        engine: StepEngine,
        channels: Sequence[str],
        *,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        chats_per_round: int = 32,
        rows_per_round: int = 256,
        rows_per_chat: int = 8,
        poll_interval: float = 2.0,
        max_attempts: int = 3,
        on_committed: Callable[[set[str]], None] | None = None,
        before_fence: Callable[[Connection, Claim], None] | None = None,
    ) -> None:
        if db.dialect.name != "postgresql":
            raise ValueError("workers with leases need PostgreSQL; SQLite runs the embedded processor")
        self._db = db
        self._engine = engine
        self._channels = tuple(channels)
        self.owner = owner or worker_id()
        self.lease_seconds = lease_seconds
        self._chats = chats_per_round
        self._rows = rows_per_round
        self._per_chat = rows_per_chat
        self._throttle = Throttle(engine.config.limits, engine.wording)
        self._poll_interval = poll_interval
        self._max_attempts = max_attempts
        self._on_committed = on_committed
        self._before_fence = before_fence
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        # A test hook: PLAZA_TEST_STEP_DELAY=seconds sleeps after each step, so a test can kill a worker mid-round.
        self._step_delay = float(os.environ.get("PLAZA_TEST_STEP_DELAY", "0") or 0)
        # The server-side limits that keep every wait well under the lease.
        self._timeouts = {
            "statement": f"{max(100, int(lease_seconds * 1000 / 3))}ms",
            "lock": f"{max(100, int(lease_seconds * 1000 / 6))}ms",
            "idle": f"{max(1000, int(lease_seconds * 1000))}ms",
        }

    # -- the thread ---------------------------------------------------------------------

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=f"plaza-worker-{self.owner}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wakeup.set()
            thread.join(timeout)

    def _run(self) -> None:
        log.info(
            "worker %s started: channels %s, lease %gs",
            self.owner,
            ", ".join(self._channels),
            self.lease_seconds,
            extra={"worker": self.owner},
        )
        pause = self._poll_interval
        while not self._stopping.is_set():
            try:
                processed = self.run_once()
                if self._failing:
                    log.warning("worker %s: the database answers again", self.owner, extra={"worker": self.owner})
                self._failing = False
                pause = self._poll_interval
            except DATABASE_TROUBLE as error:
                if not self._failing:
                    log.error(
                        "worker %s: the database cannot be reached (%s); retrying",
                        self.owner,
                        one_line(error),
                        extra={"worker": self.owner},
                    )
                self._failing = True
                processed = 0
                pause = min(10.0, pause * 2)
            except Exception:
                log.exception("worker %s: a round failed; retrying", self.owner, extra={"worker": self.owner})
                processed = 0
            if processed:
                continue
            self._wakeup.wait(pause)
            self._wakeup.clear()

    # -- one round ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim chats, run their pending steps, commit under the fence; returns how many rows were handled."""
        claims = self.claim()
        if not claims:
            # nothing to take now: tell a chat over its limit whose messages came after its last round
            with self._db.begin() as connection:
                self._limit(connection)
                self._throttle.tell_flooders(connection, None, self._channels)
            return 0
        try:
            rows = self._pending(claims)
            if not rows:
                self._release(claims)
                return 0
            try:
                touched = self._round(claims, rows, careful=False)
            except _Redo:
                touched = self._round(claims, rows, careful=True)
        except BaseException:
            self._release_quietly(claims)
            raise
        if touched and self._on_committed is not None:
            self._on_committed(touched)
        return len(rows)

    def claim(self) -> list[Claim]:
        """Take up to ``chats_per_round`` free (or expired) chats that have pending rows."""
        channels = list(self._channels)
        with self._db.begin() as connection:
            connection.execute(_ENSURE_LEASES, {"channels": channels})
        with self._db.begin() as connection:
            self._limit(connection)
            keys = [
                (row.channel, row.chat_id)
                for row in connection.execute(
                    _CANDIDATES,
                    {
                        "channels": channels,
                        "limit": self._chats,
                        "cutoff": self._throttle.cutoff(),
                        "allowance": self._throttle.limits.messages_per_window,
                    },
                )
            ]
            if not keys:
                return []
            claimed = connection.execute(
                update(LEASES)
                .where(tuple_(LEASES.c.channel, LEASES.c.chat_id).in_(keys))
                .values(owner=self.owner, lease_until=_LEASE_UNTIL, fence=LEASES.c.fence + 1)
                .returning(LEASES.c.channel, LEASES.c.chat_id, LEASES.c.fence),
                {"seconds": self.lease_seconds},
            ).all()
        found = {(row.channel, row.chat_id): int(row.fence) for row in claimed}
        LEASES_CLAIMED.inc(len(found))
        return [
            Claim(channel, chat_id, found[(channel, chat_id)])
            for channel, chat_id in keys
            if (channel, chat_id) in found
        ]

    def _pending(self, claims: Sequence[Claim]) -> Sequence[Any]:
        with self._db.connect() as connection:
            return self._throttle.pending(
                connection,
                self._channels,
                limit=self._rows,
                per_chat=self._per_chat,
                chats=[claim.key for claim in claims],
            )

    def _limit(self, connection: Connection) -> None:
        connection.execute(
            text(
                "SELECT set_config('statement_timeout', :statement, true), set_config('lock_timeout', :lock, true), "
                "set_config('idle_in_transaction_session_timeout', :idle, true)"
            ),
            self._timeouts,
        )

    def _fence(self, connection: Connection, claim: Claim) -> bool:
        """Release the lease at commit if it is still ours; False if another worker took it."""
        if self._before_fence is not None:
            self._before_fence(connection, claim)
        result = connection.execute(
            _RELEASE,
            {
                "lease_channel": claim.channel,
                "lease_chat": claim.chat_id,
                "lease_owner": self.owner,
                "lease_fence": claim.fence,
            },
        )
        return bool(result.rowcount == 1)

    def _round(self, claims: Sequence[Claim], rows: Sequence[Any], *, careful: bool) -> set[str]:
        by_chat: dict[tuple[str, str], list[Any]] = {claim.key: [] for claim in claims}
        for row in rows:
            by_chat[(row.channel, row.chat_id)].append(row)
        touched: set[str] = set()
        # A round stays well inside the lease: chats not started by half of it are handed back untouched.
        budget = time.monotonic() + self.lease_seconds / 2
        with self._db.begin() as connection:
            self._limit(connection)
            for claim in claims:
                chat_rows = by_chat[claim.key] if time.monotonic() < budget else []
                if careful:
                    if self._careful_chat(connection, claim, chat_rows):
                        touched.add(claim.channel)
                    continue
                for row in chat_rows:
                    started = time.perf_counter()
                    try:
                        self._engine.step(connection, row)
                    except Exception as error:
                        raise _Redo() from error
                    STEP_SECONDS.observe(time.perf_counter() - started)
                    if self._step_delay:
                        time.sleep(self._step_delay)
                if chat_rows:
                    touched.add(claim.channel)
            if not careful:
                self._throttle.tell_flooders(connection, [key for key, chat_rows in by_chat.items() if chat_rows])
                for claim in claims:
                    if not self._fence(connection, claim):
                        raise _Redo()
            for channel in sorted(touched):
                notify(connection, OUTBOX_CHANNEL, channel)
        return touched

    def _careful_chat(self, connection: Connection, claim: Claim, rows: Sequence[Any]) -> bool:
        """One chat's steps in a savepoint (and each step in its own); False if nothing of it was kept."""
        chat = connection.begin_nested()
        wrote = False
        for row in rows:
            step = connection.begin_nested()
            started = time.perf_counter()
            try:
                self._engine.step(connection, row)
                step.commit()
                STEP_SECONDS.observe(time.perf_counter() - started)
                wrote = True
                if self._step_delay:
                    time.sleep(self._step_delay)
            except DATABASE_TROUBLE as error:
                # a lock or statement timeout (a stalled worker's row locks, an overloaded server): not the
                # message's fault, so no attempt is counted; the chat's rows stay pending, in order, for later
                step.rollback()
                log.warning(
                    "step for inbox row %s waited too long (%s); trying again later",
                    row.id,
                    one_line(error),
                    extra={"inbox_id": row.id, "channel": row.channel, "chat_id": row.chat_id, "worker": self.owner},
                )
                break
            except Exception as error:
                step.rollback()
                final = row.attempts + 1 >= self._max_attempts
                log.exception(
                    "step for inbox row %s failed (attempt %d%s)",
                    row.id,
                    row.attempts + 1,
                    ", giving up" if final else "",
                    extra={"inbox_id": row.id, "channel": row.channel, "chat_id": row.chat_id, "worker": self.owner},
                )
                with connection.begin_nested():
                    self._engine.fail(connection, row, error, final=final)
                wrote = True
                if not final:
                    break  # this chat's later rows stay behind the failed one
        if wrote:
            self._throttle.tell_flooders(connection, [claim.key])
        if not self._fence(connection, claim):
            chat.rollback()
            LEASES_LOST.inc()
            log.warning(
                "worker %s lost the lease on %s chat %s (fence %d) before committing; its steps were rolled back",
                self.owner,
                claim.channel,
                claim.chat_id,
                claim.fence,
                extra={"channel": claim.channel, "chat_id": claim.chat_id, "worker": self.owner},
            )
            return False
        chat.commit()
        return wrote

    def _release(self, claims: Sequence[Claim]) -> None:
        with self._db.begin() as connection:
            for claim in claims:
                connection.execute(
                    _RELEASE,
                    {
                        "lease_channel": claim.channel,
                        "lease_chat": claim.chat_id,
                        "lease_owner": self.owner,
                        "lease_fence": claim.fence,
                    },
                )

    def _release_quietly(self, claims: Sequence[Claim]) -> None:
        """After a failed round, hand the chats back now rather than at lease expiry (best effort)."""
        try:
            self._release(claims)
        except Exception as error:
            log.debug("could not release leases after a failed round: %s", one_line(error))


class _Redo(Exception):
    """The fast (savepoint-free) round must run again carefully: a step raised, or a lease was lost."""
