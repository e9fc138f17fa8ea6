"""The channel contract's harness: one interface over every platform, and Plaza running in this process.

A :class:`Platform` (the three are in :mod:`tests.support.contract_platforms`)
is a local server that speaks one platform's protocol and what a resident
does there, the platform's way; it also reads back what the bot sent, as the
resident would see it.

A :class:`Town` is Plaza's whole HTTP app (web chat, ``/webhooks/{channel}``,
the engine, the dispatcher) running in this process with the platform's real
adapter, on a fresh database. The crash test instead runs ``plaza serve`` as a
subprocess; :meth:`Platform.serve` says how to switch the platform on in its
config.yaml and environment, and :meth:`Platform.attach` where that
process's webhooks are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from sqlalchemy import func, select

from adapters.base import Channel
from adapters.web import WebChannel
from bot.config import Config
from bot.outbox import Reply, enqueue
from bot.runtime import Plaza
from bot.web.app import create_app
from models import InboxItem, OutboxItem
from models.db import Database
from tests.support.server import AppServer, wait_for

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
MENU = {"es": "¿En qué puedo ayudarle?", "en": "How can I help you?"}
Credential = Literal["right", "wrong", "missing"]
_NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Resident:
    """Someone writing to the bot: ``chat_id`` is what the inbox and outbox rows carry."""

    chat_id: str
    handle: Any
    language: str = "es"


class Platform:
    """A local server speaking one platform's protocol, and a resident's actions on it."""

    name: str
    webhook: bool
    """The platform pushes events to ``/webhooks/{name}`` (otherwise Plaza polls it)."""
    hints_language: bool
    """Messages carry the resident's language (otherwise the resident says ``language en``)."""
    max_text: int
    """The longest text one platform message holds."""

    def channel(self, app_url: str) -> Channel:
        """The real adapter, pointed at this server (``app_url``: where Plaza's HTTP app listens)."""
        raise NotImplementedError

    def serve(self) -> tuple[str, str, dict[str, str]]:
        """For ``plaza serve``: the config.yaml lines to replace, their replacement, and the environment."""
        raise NotImplementedError

    def attach(self, app_url: str) -> None:
        """Webhook events go to the Plaza listening at ``app_url`` from now on."""

    def ready(self) -> None:
        """Wait until the adapter in a started Plaza has done what it does at start."""

    def resident(self, language: str = "es") -> Resident:
        raise NotImplementedError

    def say(self, resident: Resident, text: str) -> str:
        """The resident writes ``text``; returns the inbox key (``platform_message_id``) it will have."""
        raise NotImplementedError

    def photo(self, resident: Resident) -> str:
        raise NotImplementedError

    def location(self, resident: Resident, latitude: float, longitude: float) -> str:
        """A shared location, or a map link where the platform has no location type."""
        lat, lon = f"{latitude:.5f}", f"{longitude:.5f}"
        return self.say(resident, f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=19/{lat}/{lon}")

    def choose(self, resident: Resident, label: str) -> str:
        """Pick the option ``label`` of the bot's last question (numbered lines: send the number)."""
        for text in reversed(self.replies(resident)):
            for number, shown in _NUMBERED.findall(text):
                if shown.strip() == label:
                    return self.say(resident, number)
        raise AssertionError(f"no numbered option {label!r} in {self.replies(resident)}")

    buttons = False
    """Options come as buttons (otherwise as numbered lines at the end of the text)."""

    def last_options(self, resident: Resident) -> list[str]:
        """The labels of the options offered with the bot's last message."""
        replies = self.replies(resident)
        return [label.strip() for _, label in _NUMBERED.findall(replies[-1])] if replies else []

    def unsupported(self, resident: Resident, kind: Literal["sticker", "voice"]) -> str:
        """Content the bot cannot read; returns the ``unsupported`` kind the inbox row must carry."""
        raise NotImplementedError

    def say_three_times(self, resident: Resident, text: str) -> str:
        """The same message delivered (or read) three times, as a platform does when an answer got lost."""
        raise NotImplementedError

    def replies(self, resident: Resident) -> list[str]:
        """The texts the bot sent the resident, oldest first."""
        raise NotImplementedError

    def rate_limit_sends(self, seconds: int) -> Callable[[float], float]:
        """The next send gets a 429 for ``seconds``; returns: refused at -> the earliest a send may come again."""
        raise NotImplementedError

    def send_attempts(self) -> list[float]:
        """``time.monotonic()`` of every send request the server saw (accepted or not)."""
        raise NotImplementedError

    burst: tuple[int, int] | None
    """(replies, chats) of a burst the pacing case sends; None: too slow to watch on this platform."""

    def sent_log(self) -> list[tuple[float, str]]:
        """``(time.monotonic(), chat_id)`` of every message the server accepted from the bot, oldest first."""
        raise NotImplementedError

    # webhook platforms only

    def event(self) -> tuple[Resident, bytes]:
        """A valid event saying "hola", from a resident nobody has seen yet."""
        raise NotImplementedError

    def headers(self, body: bytes, credential: Credential) -> dict[str, str]:
        """The webhook's secret or signature for ``body``: the right one, a wrong one, or none."""
        raise NotImplementedError

    def malformed(self) -> list[bytes]:
        """Bodies that carry the right credential but are not an event."""
        raise NotImplementedError


class _LateApp:
    """An ASGI app set after the server picked its port (a webhook URL needs the port first)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class Town:
    """Plaza's HTTP app with the platform's adapter, on SQLite, in this process."""

    platform: Platform
    channel: Channel
    database: Database
    base_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/{self.platform.name}"

    def post(self, body: bytes, credential: Credential) -> httpx.Response:
        headers = self.platform.headers(body, credential)
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=15)

    def stored(self) -> int:
        with self.database.reader.connect() as connection:
            query = select(func.count()).select_from(INBOX).where(INBOX.c.channel == self.platform.name)
            return int(connection.execute(query).scalar_one())

    def inbox(self, resident: Resident) -> list[Any]:
        query = (
            select(INBOX.c.platform_message_id, INBOX.c.status, INBOX.c.payload)
            .where(INBOX.c.channel == self.platform.name, INBOX.c.chat_id == resident.chat_id)
            .order_by(INBOX.c.id)
        )
        with self.database.reader.connect() as connection:
            return list(connection.execute(query).all())

    def outbox(self, resident: Resident) -> list[Any]:
        query = (
            select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.last_error)
            .where(OUTBOX.c.channel == self.platform.name, OUTBOX.c.chat_id == resident.chat_id)
            .order_by(OUTBOX.c.id)
        )
        with self.database.reader.connect() as connection:
            return list(connection.execute(query).all())

    def enqueue(self, resident: Resident, *replies: Reply) -> None:
        """Put replies in the outbox as the engine does; the dispatcher sends them through the adapter."""
        with self.database.writer.begin() as connection:
            enqueue(connection, channel=self.platform.name, chat_id=resident.chat_id, replies=replies)

    def settled(self, resident: Resident, timeout: float = 30.0) -> None:
        """Wait until every stored message of the resident is processed and every reply left the outbox."""

        def quiet() -> bool:
            inbox = self.inbox(resident)
            outbox = self.outbox(resident)
            return bool(inbox) and all(row.status != "pending" for row in [*inbox, *outbox])

        wait_for(quiet, timeout)

    def wait_reply(self, resident: Resident, needle: str, after: int = 0, timeout: float = 30.0) -> str:
        """Wait for a reply (past the first ``after``) containing ``needle``; return it."""

        def found() -> str | None:
            return next((text for text in self.platform.replies(resident)[after:] if needle in text), None)

        try:
            text: str = wait_for(found, timeout)
        except AssertionError:
            got = "\n---\n".join(self.platform.replies(resident))
            raise AssertionError(f"no reply with {needle!r} to {resident.chat_id}; got:\n{got}") from None
        return text

    def exchange(self, resident: Resident, act: Callable[[], object], needle: str) -> str:
        """Do ``act`` (a resident's message) and wait for the bot's answer containing ``needle``."""
        if self.inbox(resident):
            self.settled(resident)
        seen = len(self.platform.replies(resident))
        act()
        return self.wait_reply(resident, needle, after=seen)

    def greet(self, resident: Resident) -> None:
        """Start a conversation; the bot ends up speaking the resident's language."""
        first = MENU[resident.language] if self.platform.hints_language else MENU["es"]
        self.exchange(resident, lambda: self.platform.say(resident, "hola"), first)
        if first != MENU[resident.language]:
            switch = f"language {resident.language}"
            self.exchange(resident, lambda: self.platform.say(resident, switch), MENU[resident.language])


@contextmanager
def running_town(platform: Platform, config: Config, database: Database) -> Iterator[Town]:
    """Plaza's app with the web channel and ``platform``'s adapter, served on a loopback port."""
    holder = _LateApp()
    server = AppServer(holder)
    channel = platform.channel(server.base_url)
    web = WebChannel()
    plaza = Plaza(
        config, [web, channel], database=database, poll_interval=0.05, reload_interval=None, reminder_interval=None
    )
    holder.app = create_app(plaza, web)
    with server:
        platform.ready()
        yield Town(platform, channel, database, server.base_url)
