"""Playing a ``blackout`` trace against a running Plaza, over real HTTP, and recording what happened.

Telegram updates and X events are POSTed to ``/webhooks/telegram`` and
``/webhooks/x`` as the platforms do: a resident's messages one after the
other, each delivered again until it is answered 2xx (Telegram and X
redeliver), duplicates and late redeliveries as extra POSTs of the same
update; Mastodon residents post direct mentions to mastodon-mock, where the
bot reads them. Malformed and badly signed requests must be refused (4xx).
Officials take conversations over through :class:`~bot.handoff.Handoffs`
at their time, and the chaos hook (a SIGKILL) runs at ``kill_at``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from adapters.testing.x_server import account_activity_dm, webhook_signature
from bot.access import Actor
from bot.bench.blackout_setup import TELEGRAM_SECRET, Platforms, mastodon_name, telegram_id, x_id
from bot.bench.blackout_trace import Message, Takeover, Trace
from bot.broadcast import create_broadcast, start_broadcast
from bot.config import Config
from bot.errors import NotFound
from bot.handoff import Handoffs, wait_for_sends
from bot.notices import Wording
from bot.officials import add_official
from models import Conversation
from models.db import Database

__all__ = ["Delivery", "Driven", "drive"]

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
WEBHOOK_CONNECTIONS = 40
GIVE_UP = 120.0
"""Seconds a platform keeps redelivering one update before the bench calls it lost."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message's first successful delivery: when it was first tried, and when Plaza (or Mastodon) took it."""

    message: Message
    platform_message_id: str
    chat_id: str
    first_try: float
    accepted: float
    tries: int


@dataclass
class Driven:
    """What the driver saw (times are ``time.monotonic()``; ``started`` is the trace's zero)."""

    started: float = 0.0
    started_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    delivered: dict[str, Delivery] = field(default_factory=dict)
    undelivered: list[Message] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    """Seconds from POST to 2xx of every webhook request Plaza accepted (repeats too)."""
    refused_tries: int = 0
    """Webhook POSTs of valid messages not answered 2xx (the server down, a 503...): redelivered."""
    malformed: list[tuple[str, int]] = field(default_factory=list)
    """``(kind, status)`` answered to each malformed or badly signed request."""
    takeovers: dict[tuple[str, str], float] = field(default_factory=dict)
    """``(channel, chat_id)`` -> monotonic time from which the bot must be silent there."""
    takeover_misses: list[str] = field(default_factory=list)
    broadcast_id: int | None = None
    broadcast_started: float = 0.0
    killed_at: float | None = None
    ended: float = 0.0
    finished: dict[str, float] = field(default_factory=dict)
    """Seconds into the run at which each group of actors was done."""


class _Driver:
    def __init__(
        self,
        config: Config,
        trace: Trace,
        platforms: Platforms,
        database: Database,
        webhook_base: Callable[[], str],
        kill: Callable[[], None],
    ) -> None:
        self.config, self.trace, self.platforms, self.database = config, trace, platforms, database
        self.webhook_base, self.kill = webhook_base, kill
        self.driven = Driven()
        # as Telegram does (setWebhook's max_connections is 40): a bounded number of deliveries at once; it also
        # keeps httpcore's pool small, whose scheduling grows with the square of the requests waiting in it
        self.http = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=WEBHOOK_CONNECTIONS))
        # mastodon-mock answers from a pool of 15 database connections, shared with what Plaza asks of it
        self.mastodon_http = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=4))
        self.webhooks = asyncio.Semaphore(WEBHOOK_CONNECTIONS)
        self.mastodon_posts = asyncio.Semaphore(4)
        self.users = {r: platforms.telegram.user(telegram_id(r), f"Vecino{r}") for r in trace.residents("telegram")}

    # -- timing ----------------------------------------------------------------------------------------

    async def _at(self, at: float) -> None:
        delay = self.driven.started + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- one webhook request, delivered until 2xx --------------------------------------------------------

    def _request(self, message: Message) -> tuple[str, bytes, dict[str, str], str, str]:
        """(path, body, headers, platform message id, chat id) of a resident's message."""
        if message.channel == "telegram":
            update = self.platforms.telegram.text_update(self.users[message.resident], message.text)
            body = json.dumps(update).encode()
            headers = {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET}
            return "/webhooks/telegram", body, headers, str(update["update_id"]), str(telegram_id(message.resident))
        sender = x_id(message.resident)
        event_id = str(10**17 + message.resident * 10 + message.number)
        body = json.dumps(account_activity_dm(sender, message.text, event_id=event_id)).encode()
        headers = {"content-type": "application/json", "x-twitter-webhooks-signature": webhook_signature(body)}
        return "/webhooks/x", body, headers, event_id, sender

    async def _deliver(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, int] | None:
        """POST until 2xx (as the platform redelivers); (first try, tries) or None after :data:`GIVE_UP`."""
        first, tries = time.monotonic(), 0
        while time.monotonic() - first < GIVE_UP:
            tries += 1
            try:
                async with self.webhooks:
                    sent = time.monotonic()
                    response = await self.http.post(self.webhook_base() + path, content=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            if 200 <= status < 300:
                self.driven.acks.append(time.monotonic() - sent)
                return first, tries
            self.driven.refused_tries += 1
            await asyncio.sleep(min(2.0, 0.25 * tries))
        return None

    async def _post_mastodon(self, message: Message) -> tuple[str, str, float, int] | None:
        name = mastodon_name(message.resident)
        headers = {"authorization": f"Bearer {name}-token"}
        first, tries = time.monotonic(), 0
        while time.monotonic() - first < GIVE_UP:
            tries += 1
            try:
                async with self.mastodon_posts:
                    response = await self.mastodon_http.post(
                        self.platforms.mastodon.base_url + "/api/v1/statuses",
                        data={"status": f"@jun {message.text}", "visibility": "direct"},
                        headers=headers,
                    )
                if response.status_code == 200:
                    return str(response.json()["id"]), self.platforms.mastodon_ids[name], first, tries
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
        return None

    # -- the actors ----------------------------------------------------------------------------------------

    async def resident(self, messages: list[Message]) -> None:
        """One resident's messages in order: the next one only after the platform delivered the one before."""
        for message in messages:
            await self._at(message.at)
            if message.channel == "mastodon":
                posted = await self._post_mastodon(message)
                if posted is None:
                    self.driven.undelivered.append(message)
                    continue
                status_id, chat, first, tries = posted
                self.driven.delivered[message.key] = Delivery(message, status_id, chat, first, time.monotonic(), tries)
                continue
            path, body, headers, platform_id, chat = self._request(message)
            done = await self._deliver(path, body, headers)
            if done is None:
                self.driven.undelivered.append(message)
                continue
            first, tries = done
            self.driven.delivered[message.key] = Delivery(message, platform_id, chat, first, time.monotonic(), tries)
            for after in message.repeats:
                asyncio.get_running_loop().create_task(self._repeat(after, path, body, headers))

    async def _repeat(self, after: float, path: str, body: bytes, headers: dict[str, str]) -> None:
        await asyncio.sleep(after)
        await self._deliver(path, body, headers)

    async def malformed(self, at: float, channel: str, kind: str) -> None:
        await self._at(at)
        if kind == "bad-secret":
            path, body = "/webhooks/telegram", json.dumps({"update_id": 1}).encode()
            headers = {"content-type": "application/json", "x-telegram-bot-api-secret-token": "wrong"}
        elif kind == "bad-json":
            path, body = "/webhooks/telegram", b'{"update_id": 7, "message": {'
            headers = {"content-type": "application/json", "x-telegram-bot-api-secret-token": TELEGRAM_SECRET}
        else:
            path, body = "/webhooks/x", json.dumps(account_activity_dm(x_id(1), "hola")).encode()
            headers = {"content-type": "application/json", "x-twitter-webhooks-signature": webhook_signature(b"x")}
        first = time.monotonic()
        while time.monotonic() - first < GIVE_UP:  # until the server answers at all (it may be restarting)
            try:
                async with self.webhooks:
                    response = await self.http.post(self.webhook_base() + path, content=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if response.status_code < 500:
                self.driven.malformed.append((kind, response.status_code))
                return
            await asyncio.sleep(0.5)
        self.driven.malformed.append((kind, 0))

    def _take(self, actor: Actor, takeover: Takeover, deadline: float) -> None:
        """Take the resident's conversation as soon as it exists; then wait until no bot send is in flight."""
        if takeover.channel == "telegram":
            chat = str(telegram_id(takeover.resident))
        elif takeover.channel == "x":
            chat = x_id(takeover.resident)
        else:
            chat = self.platforms.mastodon_ids[mastodon_name(takeover.resident)]
        handoffs = Handoffs(Wording(self.config))
        while True:
            with self.database.writer.begin() as connection:
                found = connection.execute(
                    select(CONVERSATIONS.c.id).where(
                        CONVERSATIONS.c.channel == takeover.channel, CONVERSATIONS.c.chat_id == chat
                    )
                ).scalar()
                if found is not None:
                    try:
                        handoffs.take(connection, actor, int(found))
                    except NotFound:
                        found = None
            if found is not None:
                break
            if time.monotonic() > deadline:
                self.driven.takeover_misses.append(f"{takeover.channel}:{chat}")
                return
            time.sleep(0.1)
        wait_for_sends(self.database.writer, int(found), timeout=30.0)
        self.driven.takeovers[(takeover.channel, chat)] = time.monotonic()

    async def official(self, actor: Actor, takeover: Takeover) -> None:
        await self._at(takeover.at)
        await asyncio.to_thread(self._take, actor, takeover, time.monotonic() + 60.0)

    async def broadcast(self) -> None:
        await self._at(self.trace.broadcast_at)
        self.driven.broadcast_started = time.monotonic()

        def send() -> None:
            with self.database.writer.begin() as connection:
                texts = {"es": "Corte de agua esta tarde en el centro.", "en": "Water cut this afternoon downtown."}
                texts = {language: texts.get(language, texts["es"]) for language in self.config.languages}
                self.driven.broadcast_id = create_broadcast(
                    connection, self.config, topic="news", texts=texts, author="blackout"
                )
            start_broadcast(self.database.writer, self.driven.broadcast_id)

        await asyncio.to_thread(send)

    async def chaos(self) -> None:
        await self._at(self.trace.kill_at)
        self.driven.killed_at = time.monotonic()
        await asyncio.to_thread(self.kill)

    async def run(self) -> Driven:
        with self.database.writer.begin() as connection:
            department = next(iter(self.config.departments))
            account = add_official(
                connection,
                self.config,
                username="blackout",
                name="Lucía",
                department=department,
                role="admin",
                password="blackout-password-0",  # noqa: S106 (a throwaway database)
            )
        actor = Actor(account.id, account.username, account.name, account.department, account.role)
        by_resident: dict[tuple[str, int], list[Message]] = {}
        for message in self.trace.messages:
            by_resident.setdefault((message.channel, message.resident), []).append(message)
        self.driven.started, self.driven.started_wall = time.monotonic(), datetime.now(UTC)
        groups = {
            "residents": [self.resident(messages) for messages in by_resident.values()],
            "malformed": [self.malformed(*bad) for bad in self.trace.malformed],
            "takeovers": [self.official(actor, takeover) for takeover in self.trace.takeovers],
            "broadcast": [self.broadcast()],
            "kill": [self.chaos()],
        }

        async def timed(name: str, tasks: list[Any]) -> None:
            await asyncio.gather(*tasks)
            self.driven.finished[name] = time.monotonic() - self.driven.started

        # takeovers wait in threads for their conversation: enough threads that the kill never queues behind them
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(len(self.trace.takeovers) + 8))
        try:
            await asyncio.gather(*(timed(name, tasks) for name, tasks in groups.items()))
        finally:
            await self.http.aclose()
            await self.mastodon_http.aclose()
        self.driven.ended = time.monotonic()
        return self.driven


def drive(
    config: Config,
    trace: Trace,
    platforms: Platforms,
    database: Database,
    webhook_base: Callable[[], str],
    kill: Callable[[], None],
) -> Driven:
    """Play ``trace`` in real time; ``webhook_base()`` is Plaza's URL now, ``kill()`` the chaos at ``kill_at``."""
    driver = _Driver(config, trace, platforms, database, webhook_base, kill)
    result: Any = asyncio.run(driver.run())
    assert isinstance(result, Driven)
    return result
