"""The outbox: replies written with the step, sent by a dispatcher, marked sent once.

Rows are written by the engine in the same transaction as the state change
(:func:`enqueue`). A :class:`Dispatcher` per channel sends due rows in order
(per chat strictly in id order; replies before broadcasts). It claims a row
(``sending``, with ``UPDATE ... WHERE status = 'pending'``) just before the
platform call, so a row cancelled meanwhile (an official's takeover) is never
sent, and marks it ``sent`` after the platform accepted it. Rows a dead
process left ``sending`` go back to ``pending`` when the dispatcher starts:
platforms with idempotency keys (the row id)
drop the second copy; for the others that one in-flight message is the only
possible double.

Several processes (PostgreSQL): a dispatcher sends only while it holds its
channel account's :class:`~bot.senderlock.SenderLock` (an advisory lock);
the others stand by and retry every ``standby_interval``. The recovery of
``sending`` rows happens only once the lock is acquired, so a live sender's
in-flight rows are never sent twice.

Pacing (:mod:`bot.pacing`): sends through one channel account are spaced by
its :class:`~adapters.base.Limits`, overall and per chat; a chat that must
wait is skipped this round (its later rows stay behind it) while other chats
go on. A long message the platform takes as several messages is paced part
by part the same way: the adapter sends one part and raises
:class:`~bot.errors.PartlySent`; the row goes back to ``pending`` (no
attempt counted) and its chat waits its interval while other chats go on,
then the next part goes. An official's takeover in between stops the rest.

Replies first: rows go in ``(priority, id)`` order, and a round that is
sending broadcast rows stops as soon as :meth:`Dispatcher.wake` says a new
reply was committed, so a reply waits for at most the one send in flight,
not for the rest of a broadcast. A broadcast row is checked to be still
``pending`` just before it is sent, so a cancelled broadcast stops at once.

Photos: a platform photo of another channel (``Photo.origin``, e.g. an
official's Telegram photo to a resident on Mastodon) is first fetched and
stored as ``media:<id>`` of the recipient's chat (:meth:`MediaResolver.archive`),
and the row's payload is updated, so the channel gets a photo it can send and
a retry does not fetch it again.

Failures: :class:`~bot.errors.RetryLater` (a 429, a 5xx, a timeout, a
closed connection) pauses the whole account for the time the platform said;
the row waits that long when rate limited, and otherwise (the platform is in
trouble) at least that long and backing off exponentially with jitter, and
it is not given up by a count: a platform down for an hour loses no reply,
only a row still refused ``give_up_after`` (a day) after it was written is
``failed``. Any other error (a bug, an unexpected transport error) backs off
the same way; after ``max_attempts`` of those or on
:class:`~bot.errors.Undeliverable` the row is ``failed`` with its reason. When
the platform says the account is gone (``Undeliverable.gone``), ``on_gone``
runs in the transaction that fails the row (the runtime unsubscribes the chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update

from adapters.base import Channel
from bot.errors import NotFound, PartlySent, RetryLater, Undeliverable
from bot.listener import DATABASE_TROUBLE, SENT_CHANNEL, notify
from bot.media import MediaResolver
from bot.messages import Option, OutboundMessage, Photo, SentReceipt
from bot.metrics import RATE_LIMITED, RETRY_LATER, SEND_SECONDS
from bot.pacing import Pacer
from bot.senderlock import SenderLock
from models import PRIORITY_REPLY, OutboxItem
from models.db import storage_problem
from models.rawsql import RawStatement, db_json, db_time, from_db_json

__all__ = ["Dispatcher", "Reply", "delivered", "enqueue", "outbound_of", "photo_of", "photo_payload"]

log = logging.getLogger(__name__)

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
_ENQUEUE = RawStatement(
    insert(OUTBOX).values(
        channel=bindparam("channel"),
        chat_id=bindparam("chat_id"),
        conversation_id=bindparam("conversation_id"),
        inbox_id=bindparam("inbox_id"),
        official_id=bindparam("official_id"),
        payload=bindparam("payload"),
        priority=bindparam("priority"),
        status="pending",
        attempts=0,
        platform_message_ids=bindparam("platform_message_ids"),
        next_attempt_at=bindparam("now"),
        created_at=bindparam("now"),
    )
)


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the engine wants to send, before it has a row id."""

    text: str
    options: tuple[Option, ...] = ()
    expects: str | None = None
    photo: Photo | None = None
    notice: str | None = None  # what a notice of the bot's own is (``slow_down``), so it is told once

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "text": self.text,
            "options": [{"key": o.key, "label": o.label} for o in self.options],
            "expects": self.expects,
            "photo": photo_payload(self.photo) if self.photo else None,
        }
        if self.notice is not None:
            payload["notice"] = self.notice
        return payload


def photo_payload(photo: Photo) -> dict[str, Any]:
    """A photo as an outbox payload stores it (``origin`` only when it has one)."""
    stored: dict[str, Any] = {"ref": photo.ref, "mime_type": photo.mime_type}
    if photo.origin is not None:
        stored["origin"] = photo.origin
    return stored


def photo_of(stored: dict[str, Any]) -> Photo:
    """:func:`photo_payload` read back."""
    origin = stored.get("origin")
    return Photo(ref=str(stored["ref"]), mime_type=stored.get("mime_type"), origin=str(origin) if origin else None)


def enqueue(
    connection: Connection,
    *,
    channel: str,
    chat_id: str,
    replies: Sequence[Reply],
    conversation_id: int | None = None,
    inbox_id: int | None = None,
    priority: int = PRIORITY_REPLY,
    official_id: int | None = None,
) -> None:
    """Write replies as pending outbox rows inside the caller's transaction.

    ``official_id`` is the official who wrote them (None: the bot); a takeover
    cancels only the bot's pending replies.
    """
    if not replies:
        return
    now = db_time(connection, datetime.now(UTC))
    no_ids = db_json(connection, [])
    for reply in replies:
        _ENQUEUE.run(
            connection,
            {
                "channel": channel,
                "chat_id": chat_id,
                "conversation_id": conversation_id,
                "inbox_id": inbox_id,
                "official_id": official_id,
                "payload": db_json(connection, reply.payload()),
                "priority": priority,
                "platform_message_ids": no_ids,
                "now": now,
            },
        )


def outbound_of(row: Row[Any]) -> OutboundMessage:
    """The message a row holds, with the row id as its id."""
    payload = row.payload
    photo = payload.get("photo")
    return OutboundMessage(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        text=payload.get("text") or "",
        options=tuple(Option(key=o["key"], label=o["label"]) for o in payload.get("options") or ()),
        photo=photo_of(photo) if photo else None,
        expects=payload.get("expects"),
        public=bool(payload.get("public")),
    )


def delivered(engine: Engine, channel: str, chat_id: str, after: int, limit: int = 100) -> list[OutboundMessage]:
    """Messages already sent to a chat with ids after ``after``, oldest first (the web chat reads these)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload)
            .where(
                OUTBOX.c.channel == channel, OUTBOX.c.chat_id == chat_id, OUTBOX.c.id > after, OUTBOX.c.status == "sent"
            )
            .order_by(OUTBOX.c.id)
            .limit(limit)
        ).all()
    return [outbound_of(row) for row in rows]


_SHORT_WAIT = 0.05
"""A paced chat due within this many seconds is waited for rather than left for the next round."""


def _backoff(attempts: int) -> float:
    """Seconds to wait after the n-th failure: 1, 2, 4 ... capped at 300, with ±25 % jitter."""
    base: float = min(300.0, float(2 ** max(0, attempts - 1)))
    return base * random.uniform(0.75, 1.25)


class Dispatcher:
    """Sends one channel's due outbox rows, in order, until stopped.

    ``wake()`` makes it look now (the engine calls it after a commit);
    otherwise it polls every ``poll_interval`` seconds. ``on_sent`` runs after a
    row is marked sent (the web chat uses it to wake long polls).
    """

    def __init__(
        self,
        engine: Engine,
        channel: Channel,
        *,
        poll_interval: float = 1.0,
        batch: int = 200,
        per_chat: int = 20,
        max_attempts: int = 8,
        on_sent: Callable[[OutboundMessage], None] | None = None,
        on_gone: Callable[[Connection, str, str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        lock: SenderLock | None = None,
        standby_interval: float = 2.0,
        announce: bool = False,
        media: MediaResolver | None = None,
        give_up_after: float = 24 * 3600.0,
    ) -> None:
        self._engine = engine
        self._media = media
        self._channel = channel
        self._poll_interval = poll_interval
        self._batch = batch
        self._per_chat = per_chat
        self._max_attempts = max_attempts
        self._give_up_after = give_up_after
        self._on_sent = on_sent
        self._on_gone = on_gone
        self._lock = lock
        self._standby_interval = standby_interval
        self._announce = announce  # NOTIFY plaza_sent with each row marked sent (PostgreSQL; the web chat's polls)
        self._lock_checked = 0.0
        self._failing = False
        self._active = False
        self._draining = False  # stop() asked: finish the send in flight, claim no more
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pacer = Pacer(channel.limits, clock)
        self._soonest: float | None = None  # when a paced chat may go again (monotonic), for the idle wait
        # A test hook: PLAZA_TEST_HOLD_DISPATCHER=1 never sends, so a test can kill the
        # process after a step committed its replies and before they were sent.
        self._held = os.environ.get("PLAZA_TEST_HOLD_DISPATCHER") == "1"

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"dispatch-{self._channel.name}")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop sending. A send in flight is finished and marked first (for at most ``grace`` seconds):
        cancelling it would leave its row ``sending``, to be sent again at the next start."""
        task, self._task = self._task, None
        if task is not None:
            self._draining = True
            self._wakeup.set()
            if self._active:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._lock is not None:
            await anyio.to_thread.run_sync(self._lock.release)

    @property
    def sending(self) -> bool:
        """True while this dispatcher holds its sender lock and sends (tests and metrics read it)."""
        return self._task is not None and self._active

    async def _run(self) -> None:
        while self._held:
            await asyncio.sleep(3600)
        while True:
            await self._acquire()
            try:
                recovered = await anyio.to_thread.run_sync(self._recover)
            except DATABASE_TROUBLE as error:
                self._database_down(error)
                await asyncio.sleep(self._poll_interval)
                continue
            except Exception:  # a bug: keep the sender alive, say where
                log.exception("%s sender: putting unfinished sends back failed; retrying", self._channel.name)
                await asyncio.sleep(self._poll_interval)
                continue
            if recovered:
                log.warning(
                    "%d %s message(s) were being sent when their sender stopped; sending them again",
                    recovered,
                    self._channel.name,
                )
            self._active = True
            try:
                await self._send_while_held()
            finally:
                self._active = False
            if self._draining:
                return

    async def _acquire(self) -> None:
        """Wait until this process holds the channel's sender lock (at once without a lock, or on SQLite)."""
        lock = self._lock
        if lock is None or not lock.exclusive:
            return
        standing_by = False
        while True:
            try:
                if await anyio.to_thread.run_sync(lock.acquire):
                    if standing_by:
                        log.info("%s sender: took over the sender lock", self._channel.name)
                    self._lock_checked = time.monotonic()
                    return
            except DATABASE_TROUBLE as error:
                self._database_down(error)
            except Exception:  # a bug: keep trying, say where
                log.exception("%s sender: taking the sender lock failed; retrying", self._channel.name)
            else:
                if not standing_by:
                    log.info("%s sender: another process sends; standing by", self._channel.name)
                standing_by = True
            await asyncio.sleep(self._standby_interval)

    async def _still_held(self) -> bool:
        """Check the lock's connection at most once per standby interval."""
        lock = self._lock
        if lock is None or not lock.exclusive or time.monotonic() - self._lock_checked < self._standby_interval:
            return True
        self._lock_checked = time.monotonic()
        return await anyio.to_thread.run_sync(lock.held)

    def _database_down(self, error: BaseException) -> None:
        if not self._failing:
            log.error("%s sender: %s; retrying", self._channel.name, storage_problem(error))
        self._failing = True

    async def _send_while_held(self) -> None:
        while not self._draining:
            if not await self._still_held():
                return
            try:
                sent = await self.dispatch_once()
                if self._failing:
                    log.warning("%s sender: the database answers again", self._channel.name)
                self._failing = False
            except DATABASE_TROUBLE as error:
                self._database_down(error)
                sent = 0
            except Exception:  # a bug: keep the loop alive, say where
                log.exception("outbox dispatch for %s failed; retrying", self._channel.name)
                sent = 0
            if sent:
                continue
            wait = self._poll_interval
            if self._soonest is not None:
                wait = min(wait, max(0.01, self._soonest - self._pacer.now()))
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass
            self._wakeup.clear()

    def _pending(self) -> Sequence[Any]:
        """The next rows to send: by priority and id, but at most ``per_chat`` of any one chat.

        The cap keeps one chat's backlog (a flood of replies, paced at the
        platform's per-chat rate) from filling the whole batch, which would
        leave every other chat's reply unread until that backlog drained.
        """
        ranked = (
            select(
                OUTBOX.c.id,
                OUTBOX.c.channel,
                OUTBOX.c.chat_id,
                OUTBOX.c.payload,
                OUTBOX.c.attempts,
                OUTBOX.c.next_attempt_at,
                OUTBOX.c.priority,
                OUTBOX.c.broadcast_id,
                OUTBOX.c.created_at,
                func.row_number()
                .over(partition_by=OUTBOX.c.chat_id, order_by=(OUTBOX.c.priority, OUTBOX.c.id))
                .label("rn"),
            )
            .where(OUTBOX.c.status == "pending", OUTBOX.c.channel == self._channel.name)
            .subquery("ranked")
        )
        with self._engine.connect() as connection:
            return connection.execute(
                select(*(column for column in ranked.c if column.name != "rn"))
                .where(ranked.c.rn <= self._per_chat)
                .order_by(ranked.c.priority, ranked.c.id)
                .limit(self._batch)
            ).all()

    def _claim(self, row_id: int) -> bool:
        """Mark the row ``sending`` before the platform call; False if it was cancelled meanwhile."""
        with self._engine.begin() as connection:
            result = connection.execute(
                update(OUTBOX).where(OUTBOX.c.id == row_id, OUTBOX.c.status == "pending").values(status="sending")
            )
            return bool(result.rowcount == 1)

    def _finish(
        self, row_id: int, values: dict[str, Any], chat_id: str | None = None, gone: tuple[str, str] | None = None
    ) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                update(OUTBOX).where(OUTBOX.c.id == row_id, OUTBOX.c.status == "sending").values(**values)
            )
            if gone is not None and self._on_gone is not None:
                self._on_gone(connection, *gone)
            if self._announce and chat_id is not None and result.rowcount == 1:
                notify(connection, SENT_CHANNEL, f"{self._channel.name}\t{chat_id}")
            return bool(result.rowcount == 1)

    def _recover(self) -> int:
        """Rows left ``sending`` by a process that died mid-send go back to ``pending`` (sent again)."""
        with self._engine.begin() as connection:
            return int(
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.channel == self._channel.name, OUTBOX.c.status == "sending")
                    .values(status="pending")
                ).rowcount
            )

    async def dispatch_once(self) -> int:
        """Send what is due now; returns how many rows were sent."""
        self._wakeup.clear()  # the rows read next include whatever woke us
        rows = await anyio.to_thread.run_sync(self._pending)
        now = datetime.now(UTC)
        pacer = self._pacer
        blocked: set[str] = set()
        sent = 0
        self._soonest = None
        for row in rows:
            if row.priority > PRIORITY_REPLY and self._wakeup.is_set():
                break  # a reply was committed: read again, it goes before the rest of the broadcast
            if row.chat_id in blocked:
                continue
            if row.next_attempt_at > now:
                blocked.add(row.chat_id)  # keep this chat's later rows behind it
                continue
            chat_ready = pacer.chat_ready_at(row.chat_id)
            if chat_ready - pacer.now() > _SHORT_WAIT:
                blocked.add(row.chat_id)  # paced: other chats go first
                self._soonest = chat_ready if self._soonest is None else min(self._soonest, chat_ready)
                continue
            wait = max(pacer.ready_at(), chat_ready) - pacer.now()
            if wait > self._poll_interval:  # the account is paused: stop this round
                self._soonest = pacer.ready_at()
                break
            if wait > 0:
                await asyncio.sleep(wait)
            if self._draining:
                break  # stopping: what is not claimed yet stays pending for the next start
            if not await anyio.to_thread.run_sync(self._claim, row.id):
                continue  # cancelled since it was read (an official's takeover, a cancelled broadcast)
            message = outbound_of(row)
            pacer.sent(row.chat_id)
            started = time.perf_counter()
            try:
                message = await self._own_photo(message)
                receipt: SentReceipt = await self._channel.send(message)
            except PartlySent as error:  # one part went: the rest at the chat's pace, other chats meanwhile
                blocked.add(row.chat_id)
                pacer.hold(row.chat_id, error.retry_after)
                chat_ready = pacer.chat_ready_at(row.chat_id)
                self._soonest = chat_ready if self._soonest is None else min(self._soonest, chat_ready)
                await anyio.to_thread.run_sync(self._finish, row.id, {"status": "pending"})
                continue
            except RetryLater as error:
                RETRY_LATER.labels(self._channel.name).inc()
                if error.rate_limited:
                    RATE_LIMITED.labels(self._channel.name).inc()
                blocked.add(row.chat_id)
                pacer.pause(error.retry_after)
                # a rate limit says exactly when; trouble on the platform's side grows the wait each time
                delay = error.retry_after if error.rate_limited else max(error.retry_after, _backoff(row.attempts + 1))
                await self._retry(row, delay, str(error), transient=True)
                continue
            except Undeliverable as error:
                await anyio.to_thread.run_sync(
                    self._finish,
                    row.id,
                    {"status": "failed", "last_error": error.reason, "attempts": row.attempts + 1},
                    None,
                    (row.channel, row.chat_id) if error.gone else None,
                )
                log.warning("outbox row %s undeliverable: %s", row.id, error.reason)
                continue
            except Exception as error:  # a bug or an unexpected transport error: back off, keep the row
                blocked.add(row.chat_id)
                log.exception("sending outbox row %s through %s failed", row.id, self._channel.name)
                await self._retry(row, _backoff(row.attempts + 1), f"{type(error).__name__}: {error}")
                continue
            SEND_SECONDS.labels(self._channel.name).observe(time.perf_counter() - started)
            marked = await anyio.to_thread.run_sync(
                self._finish,
                row.id,
                {
                    "status": "sent",
                    "sent_at": receipt.sent_at,
                    "attempts": row.attempts + 1,
                    "platform_message_ids": list(receipt.platform_message_ids),
                },
                row.chat_id,
            )
            if marked:
                sent += 1
                if self._on_sent is not None:
                    self._on_sent(message)
        return sent

    async def _own_photo(self, message: OutboundMessage) -> OutboundMessage:
        """``message`` with a photo of another channel replaced by a stored copy (see the module docstring)."""
        photo = message.photo
        if photo is None or photo.origin in (None, message.channel) or photo.ref.startswith("media:"):
            return message
        if self._media is None:
            raise Undeliverable(message.channel, f"cannot send a photo of {photo.origin}: there is no media store")
        try:
            ref = await self._media.archive(photo.ref, photo.origin, message.channel, message.chat_id)
        except NotFound as missing:
            raise Undeliverable(message.channel, f"the photo cannot be sent: {missing.reason}") from None
        own = Photo(ref=ref, mime_type=photo.mime_type)

        def keep() -> None:
            with self._engine.begin() as connection:
                payload = connection.execute(select(OUTBOX.c.payload).where(OUTBOX.c.id == message.id)).scalar_one()
                stored = dict(from_db_json(payload) or {})
                stored["photo"] = photo_payload(own)
                connection.execute(update(OUTBOX).where(OUTBOX.c.id == message.id).values(payload=stored))

        await anyio.to_thread.run_sync(keep)
        return replace(message, photo=own)

    async def _retry(self, row: Row[Any], delay: float, reason: str, *, transient: bool = False) -> None:
        """Put the row back for a later attempt, or fail it: a transient refusal (RetryLater) after
        ``give_up_after`` seconds since the row was written, anything else after ``max_attempts``."""
        attempts = row.attempts + 1
        if transient:
            age = (datetime.now(UTC) - row.created_at).total_seconds()
            final = age + delay > self._give_up_after
        else:
            final = attempts >= self._max_attempts
        if final:
            values: dict[str, Any] = {
                "status": "failed",
                "attempts": attempts,
                "last_error": f"gave up after {attempts} attempts: {reason}",
            }
        else:
            values = {
                "status": "pending",
                "attempts": attempts,
                "last_error": reason,
                "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
            }
        await anyio.to_thread.run_sync(self._finish, row.id, values)
