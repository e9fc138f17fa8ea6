"""The Telegram channel's fixtures: the fake Bot API, and a whole Plaza (HTTP app) talking to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.telegram import TelegramChannel
from adapters.testing.telegram_server import FakeTelegram, serve_fake_telegram
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
SECRET = "s3cret-Token_for-tests"
GREETING = "Hola, soy el asistente del Ayuntamiento de Jun"
MENU = "¿En qué puedo ayudarle?"


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to python-telegram-bot's timedelta periods.

    Without it, building a ``RetryAfter`` (on every 429) warns that ``retry_after``
    will become a timedelta, and the tests turn warnings into errors. The
    adapter reads either form.
    """
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with serve_fake_telegram() as fake:
        yield fake


class LateApp:
    """An ASGI app set after the server picked its port (the webhook URL needs the port first)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class Town:
    """Plaza's HTTP app with a webhook-mode Telegram channel, and the fake Telegram it talks to."""

    fake: FakeTelegram
    database: Database
    channel: TelegramChannel
    base_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks/telegram"

    def inbox(self, chat_id: int | None = None) -> list[Any]:
        query = select(INBOX.c.platform_message_id, INBOX.c.status, INBOX.c.payload).where(
            INBOX.c.channel == "telegram"
        )
        if chat_id is not None:
            query = query.where(INBOX.c.chat_id == str(chat_id))
        with self.database.reader.connect() as connection:
            return list(connection.execute(query.order_by(INBOX.c.id)).all())

    def outbox(self, chat_id: int) -> list[Any]:
        with self.database.reader.connect() as connection:
            return list(
                connection.execute(
                    select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.last_error)
                    .where(OUTBOX.c.channel == "telegram", OUTBOX.c.chat_id == str(chat_id))
                    .order_by(OUTBOX.c.id)
                ).all()
            )

    def settled(self, chat_id: int, timeout: float = 20.0) -> None:
        """Wait until every stored message of the chat is processed and every reply left the outbox."""

        def quiet() -> bool:
            inbox = self.inbox(chat_id)
            return (
                bool(inbox)
                and all(row.status != "pending" for row in inbox)
                and all(row.status != "pending" for row in self.outbox(chat_id))
            )

        wait_for(quiet, timeout)

    def enqueue(self, chat_id: int, *replies: Reply) -> None:
        """Put replies in the outbox as the engine does (the dispatcher sends them through the channel)."""
        with self.database.writer.begin() as connection:
            enqueue(connection, channel="telegram", chat_id=str(chat_id), replies=replies)

    def count_inbox(self) -> int:
        with self.database.reader.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(INBOX)).scalar_one())


def plaza_town(config: Config, database: Database, fake: FakeTelegram) -> Iterator[Town]:
    holder = LateApp()
    server = AppServer(holder)
    channel = TelegramChannel(
        fake.token,
        api_base_url=fake.base_url,
        mode="webhook",
        webhook_secret=SECRET,
        webhook_url=f"{server.base_url}/webhooks/telegram",
        retry_pause=0.2,
    )
    web = WebChannel()
    plaza = Plaza(config, [web, channel], database=database, poll_interval=0.05, reminder_interval=None)
    holder.app = create_app(plaza, web)
    with server:
        yield Town(fake, database, channel, server.base_url)


@pytest.fixture
def town(config: Config, sqlite: Database, fake: FakeTelegram) -> Iterator[Town]:
    """Plaza on SQLite with Telegram in webhook mode; the fake delivers to it once started."""
    yield from plaza_town(config, sqlite, fake)


@pytest.fixture
def town_on_both(config: Config, database: Database, fake: FakeTelegram) -> Iterator[Town]:
    """The same, on SQLite and on PostgreSQL."""
    yield from plaza_town(config, database, fake)


def texts(fake: FakeTelegram, chat_id: int) -> str:
    return "\n".join(s.text or s.caption or "" for s in fake.sent_to(chat_id))


def wait_text(fake: FakeTelegram, chat_id: int, needle: str, after: int = 0, timeout: float = 20.0) -> Any:
    """Wait for a message to the chat (past the first ``after``) containing ``needle``; return it."""

    def found() -> Any:
        for sent in fake.sent_to(chat_id)[after:]:
            if needle in (sent.text or sent.caption or ""):
                return sent
        return None

    try:
        return wait_for(found, timeout)
    except AssertionError:
        raise AssertionError(f"no message with {needle!r} to {chat_id}; got:\n{texts(fake, chat_id)}") from None
