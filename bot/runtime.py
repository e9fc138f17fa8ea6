"""A running Plaza: database, flows, engine, processor or workers, channels and their dispatchers.

``plaza serve`` and ``plaza chat`` both build a :class:`Plaza` for the
channels they host; it processes only those channels' inbox rows and sends
only their outbox rows, so a terminal chat and a server can share one SQLite
file. Use it as ``async with Plaza(...) as plaza:``; if starting fails half
way, what was started is stopped again. At start it also finishes queueing
any broadcast whose expansion was interrupted (:func:`bot.broadcast.resume_broadcasts`),
and its dispatchers unsubscribe chats whose account a platform says is gone.
Its :attr:`Plaza.media` (:class:`~bot.media.MediaResolver`) reads photos from
the store and, through the hosted channels, from the platforms; channels that
send stored photos get its reader (``use_media``).

Who runs the steps: on SQLite the embedded :class:`~bot.processor.Processor`
(one thread, group commit). On PostgreSQL ``workers`` lease workers
(:mod:`bot.worker`, default 1; 0 for a process that only accepts and sends),
so any number of processes can share the database; a :class:`~bot.listener.Listener`
wakes them and the dispatchers on ``NOTIFY``, and each dispatcher sends only
while it holds its channel's sender lock (:mod:`bot.senderlock`).
``process`` names the channels whose inbox this Plaza works on (default: the
channels it hosts; ``plaza worker`` processes every channel and hosts only
the platform ones), and ``receive=False`` hosts channels for sending only
(no polling of the platform).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType

import anyio.to_thread
from sqlalchemy import select

from adapters.base import Channel, MediaSending
from adapters.web import NAME as WEB
from bot.broadcast import forget_gone, resume_broadcasts
from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.errors import FlowErrors
from bot.inbox import Accepted, Upload, accept
from bot.listener import INBOX_CHANNEL, OUTBOX_CHANNEL, SENT_CHANNEL, Listener
from bot.media import MediaResolver
from bot.messages import InboundMessage, OutboundMessage
from bot.outbox import Dispatcher
from bot.privacy import purge
from bot.processor import Processor
from bot.reminders import send_due_reminders
from bot.senderlock import SenderLock
from bot.worker import Worker, lease_seconds_from_env, worker_id
from models import InboxItem, OutboxItem
from models.db import Database

__all__ = ["Plaza"]

log = logging.getLogger(__name__)

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


class Plaza:
    """The application core for a set of channels."""

    def __init__(
        self,
        config: Config,
        channels: Sequence[Channel],
        *,
        database: Database | None = None,
        reload_interval: float | None = 2.0,
        poll_interval: float = 1.0,
        reminder_interval: float | None = 60.0,
        purge_interval: float | None = 24 * 3600.0,
        workers: int | None = None,
        process: Sequence[str] | None = None,
        receive: bool = True,
        lease_seconds: float | None = None,
    ) -> None:
        self.config = config
        self._owns_database = database is None
        self.database = database or Database(config.database_url)
        self.database.check_schema()
        self.database.check_writable()
        self.catalog = FlowCatalog(config, self.database.writer)  # raises FlowErrors on a broken flow
        self.engine = Engine(config, self.catalog)
        self.channels: Mapping[str, Channel] = {channel.name: channel for channel in channels}
        self.media = MediaResolver(self.database.writer, self.channels)
        for channel in channels:
            if isinstance(channel, MediaSending):
                channel.use_media(self._load_media)
        self._sent_callbacks: list[Callable[[OutboundMessage], None]] = []
        self._sent_elsewhere_callbacks: list[Callable[[str, str], None]] = []
        self.dispatchers = {
            name: Dispatcher(
                self.database.writer,
                channel,
                poll_interval=poll_interval,
                on_sent=self._sent,
                on_gone=forget_gone,
                lock=SenderLock(self.database.writer, name),
                announce=name == WEB and not self.database.sqlite,
                media=self.media,
            )
            for name, channel in self.channels.items()
        }
        self._receive = receive
        processed = list(self.channels) if process is None else list(process)
        self.processor: Processor | None = None
        self.workers: list[Worker] = []
        self.listener: Listener | None = None
        if self.database.sqlite:
            if workers != 0 and processed:
                self.processor = Processor(
                    self.database.writer,
                    self.engine,
                    processed,
                    on_committed=self._committed,
                    poll_interval=poll_interval,
                )
        else:
            lease = lease_seconds or lease_seconds_from_env()
            owner = worker_id()
            count = 1 if workers is None else workers
            self.workers = [
                Worker(
                    self.database.writer,
                    self.engine,
                    processed,
                    owner=f"{owner}/{number}",
                    lease_seconds=lease,
                    poll_interval=max(poll_interval, 2.0),  # the backstop; NOTIFY wakes them
                    on_committed=self._committed,
                )
                for number in range(count if processed else 0)
            ]
            self.listener = Listener(
                self.database.writer,
                {
                    INBOX_CHANNEL: self._inbox_notified,
                    OUTBOX_CHANNEL: self._outbox_notified,
                    SENT_CHANNEL: self._sent_notified,
                },
                on_listening=self._listening,
            )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reload_interval = reload_interval
        self._reloader: asyncio.Task[None] | None = None
        self._reminder_interval = reminder_interval
        self._reminder: asyncio.Task[None] | None = None
        self._resumer: asyncio.Task[None] | None = None
        self._purge_interval = purge_interval
        self._purger: asyncio.Task[None] | None = None
        self._started = False

    async def __aenter__(self) -> Plaza:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        self._started = True
        try:
            for dispatcher in self.dispatchers.values():
                await dispatcher.start()
            if self.listener is not None:
                self.listener.start()
            if self.processor is not None:
                self.processor.start()
            for worker in self.workers:
                worker.start()
            if self._receive:
                for channel in self.channels.values():
                    await channel.start(self.dispatch)
            if self._reload_interval:
                self._reloader = asyncio.create_task(self._watch_flows(), name="plaza-flow-reload")
            if self._reminder_interval:
                self._reminder = asyncio.create_task(self._remind(), name="plaza-reminders")
            self._resumer = asyncio.create_task(self._resume_broadcasts(), name="plaza-broadcast-resume")
            if self._purge_interval:
                self._purger = asyncio.create_task(self._purge(), name="plaza-retention")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for task in (self._reloader, self._reminder, self._resumer, self._purger):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._reloader = self._reminder = self._resumer = self._purger = None
        for channel in self.channels.values():
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping channel %s failed", channel.name)
        if self.processor is not None:
            await anyio.to_thread.run_sync(self.processor.stop)
        for worker in self.workers:
            await anyio.to_thread.run_sync(worker.stop)
        if self.listener is not None:
            await anyio.to_thread.run_sync(self.listener.stop)
        for dispatcher in self.dispatchers.values():
            await dispatcher.stop()
        if self._owns_database:
            self.database.dispose()

    async def _load_media(self, ref: str) -> tuple[bytes, str]:
        """The adapters' :data:`~adapters.base.LoadMedia`: a stored photo's bytes and type."""
        media = await self.media.stored(ref)
        return media.data, media.mime_type

    async def dispatch(self, messages: Sequence[InboundMessage]) -> None:
        """The adapters' :data:`~adapters.base.Dispatch`: store, then wake the processor."""
        await self.accept(messages)

    async def accept(
        self, messages: Sequence[InboundMessage], uploads: Sequence[Sequence[Upload]] | None = None
    ) -> list[Accepted]:
        """Store messages durably; returns once committed."""
        results = await anyio.to_thread.run_sync(accept, self.database.writer, messages, uploads)
        if any(not result.duplicate for result in results):
            self._wake_processing()
        return results

    def _wake_processing(self) -> None:
        if self.processor is not None:
            self.processor.wake()
        for worker in self.workers:
            worker.wake()

    def _inbox_notified(self, channel: str) -> None:
        """From the listener thread: new messages were committed somewhere."""
        self._wake_processing()

    def _listening(self) -> None:
        """From the listener thread: (re)connected; look at everything, notifications may have been missed."""
        self._wake_processing()
        self._committed(set(self.dispatchers))

    def _outbox_notified(self, channel: str) -> None:
        """From the listener thread: some process committed replies for ``channel``."""
        self._committed({channel})

    async def settle(self, channel: str, chat_id: str, timeout: float = 10.0) -> bool:
        """Wait until one chat has nothing left to process or send; False if ``timeout`` came first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = await anyio.to_thread.run_sync(self._busy, channel, chat_id)
            if not busy:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)

    def _busy(self, channel: str, chat_id: str) -> bool:
        with self.database.reader.connect() as connection:
            inbox = connection.execute(
                select(INBOX.c.id)
                .where(INBOX.c.channel == channel, INBOX.c.chat_id == chat_id, INBOX.c.status == "pending")
                .limit(1)
            ).first()
            outbox = connection.execute(
                select(OUTBOX.c.id)
                .where(
                    OUTBOX.c.channel == channel,
                    OUTBOX.c.chat_id == chat_id,
                    OUTBOX.c.status.in_(("pending", "sending")),  # sending: on its way, not yet marked sent
                )
                .limit(1)
            ).first()
        return inbox is not None or outbox is not None

    def on_sent(self, callback: Callable[[OutboundMessage], None]) -> None:
        """Call ``callback`` (in the event loop) each time a message is marked sent (for live views)."""
        self._sent_callbacks.append(callback)

    def on_sent_elsewhere(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(channel, chat_id)`` (in the event loop) when any process marked a web chat reply sent."""
        self._sent_elsewhere_callbacks.append(callback)

    def _sent_notified(self, payload: str) -> None:
        """From the listener thread: a process (maybe this one) marked a row sent."""
        channel, _, chat_id = payload.partition("\t")
        loop = self._loop
        if loop is None or loop.is_closed() or not chat_id:
            return
        for callback in self._sent_elsewhere_callbacks:
            loop.call_soon_threadsafe(callback, channel, chat_id)

    def _sent(self, message: OutboundMessage) -> None:
        for callback in self._sent_callbacks:
            try:
                callback(message)
            except Exception:
                log.exception("a sent-message listener failed")

    def wake_dispatchers(self) -> None:
        """Make every dispatcher look at the outbox now (call from the event loop, after a commit)."""
        for dispatcher in self.dispatchers.values():
            dispatcher.wake()

    def _committed(self, channels: set[str]) -> None:
        """Called from the processor thread after a commit: wake the right dispatchers."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for name in channels:
            dispatcher = self.dispatchers.get(name)
            if dispatcher is not None:
                loop.call_soon_threadsafe(dispatcher.wake)

    async def _watch_flows(self) -> None:
        assert self._reload_interval is not None
        while True:
            await asyncio.sleep(self._reload_interval)
            if not self.catalog.changed():
                continue
            try:
                await anyio.to_thread.run_sync(self.catalog.reload)
                log.info("flows reloaded from %s", self.config.flows_dir)
            except FlowErrors as errors:
                log.error("a flow file is broken; still serving the last good version:\n%s", errors)
            except Exception:
                log.exception("reloading flows failed; still serving the last good version")

    async def _resume_broadcasts(self) -> None:
        """Finish queueing broadcasts whose expansion was interrupted (a crash of ``plaza broadcast send``)."""
        try:
            written = await anyio.to_thread.run_sync(resume_broadcasts, self.database.writer)
        except Exception:
            log.exception("resuming interrupted broadcasts failed; `plaza broadcast resume ID` finishes one")
            return
        if written:
            log.info("queued %d messages of interrupted broadcasts", written)
            for dispatcher in self.dispatchers.values():
                dispatcher.wake()

    async def _remind(self) -> None:
        """Queue due appointment reminders now (catching up after a restart) and every interval after."""
        assert self._reminder_interval is not None
        while True:
            try:
                queued = await anyio.to_thread.run_sync(
                    send_due_reminders,
                    self.database.writer,
                    self.config,
                    self.catalog.snapshot.flows.messages,
                    datetime.now(UTC),
                )
                if queued:
                    log.info("queued %d appointment reminders", queued)
                    for dispatcher in self.dispatchers.values():
                        dispatcher.wake()
            except Exception:
                log.exception("queueing appointment reminders failed; trying again later")
            await asyncio.sleep(self._reminder_interval)

    async def _purge(self) -> None:
        """Blank message bodies older than ``privacy.retention_days`` a minute after start, then every interval.

        The minute keeps the purge out of the way of a starting server's first messages.
        """
        assert self._purge_interval is not None
        await asyncio.sleep(min(60.0, self._purge_interval))
        while True:
            try:
                purged = await anyio.to_thread.run_sync(
                    purge, self.database.writer, self.config.privacy.retention_days, datetime.now(UTC)
                )
                if purged:
                    log.info(
                        "purged the bodies of %d messages older than %d days",
                        purged,
                        self.config.privacy.retention_days,
                    )
            except Exception:
                log.exception("purging old messages failed; trying again later")
            await asyncio.sleep(self._purge_interval)
