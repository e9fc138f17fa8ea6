"""A running Plaza with the inbox (uvicorn in a thread), officials, and residents who ask for a person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.web import WebChannel
from bot.audit import AuditRecord, entries
from bot.config import Config
from bot.messages import InboundMessage
from bot.officials import OfficialAccount, add_official
from bot.runtime import Plaza
from bot.web.app import create_app
from models import Conversation
from models.db import Database
from tests.support.driver import Bot, Chat
from tests.support.server import AppServer

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CONVERSATIONS = Conversation.__table__


@dataclass
class NamedChat(Chat):
    """A driver chat whose messages carry the resident's display name."""

    name: str = "Vecina"

    def message(self, text: str | None = None, **kwargs: Any) -> InboundMessage:
        return replace(super().message(text, **kwargs), sender_name=self.name)


@dataclass
class Town:
    """The app at ``base_url`` over ``database``; the driver ``bot`` plays residents on the ``test`` channel."""

    base_url: str
    database: Database
    config: Config
    bot: Bot
    clients: list[httpx.Client] = field(default_factory=list)

    def official(
        self, username: str, department: str, role: str = "official", *, language: str = "es", name: str = ""
    ) -> OfficialAccount:
        with self.database.writer.begin() as connection:
            return add_official(
                connection,
                self.config,
                username=username,
                name=name or username.title(),
                department=department,
                role=role,
                password=PASSWORD,
                language=language,
            )

    def client(self) -> httpx.Client:
        http = httpx.Client(base_url=self.base_url, timeout=15.0, follow_redirects=False)
        self.clients.append(http)
        return http

    def login(self, username: str, password: str = PASSWORD) -> httpx.Client:
        http = self.client()
        response = post_login(http, username, password)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/inbox/"
        return http

    def resident(self, chat_id: str, name: str = "Vecina") -> NamedChat:
        return NamedChat(self.bot, chat_id, "test", "es", name=name)

    def ask_for(self, chat: Chat, department: str, message: str) -> int:
        """The resident asks the bot for a person of ``department`` (its Spanish name); the conversation's id."""
        chat.say()
        chat.say("hablar con una persona")
        chat.say("con un departamento")
        chat.say(department)
        chat.say(message)
        return self.conversation_id(chat.chat_id)

    def conversation_id(self, chat_id: str, channel: str = "test") -> int:
        with self.database.reader.connect() as connection:
            return int(
                connection.execute(
                    select(CONVERSATIONS.c.id).where(
                        CONVERSATIONS.c.channel == channel, CONVERSATIONS.c.chat_id == chat_id
                    )
                ).scalar_one()
            )

    def audit(self, **where: Any) -> list[AuditRecord]:
        with self.database.reader.connect() as connection:
            return list(entries(connection, **where))


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token in the page:\n{page.text[:500]}"
    return found.group(1)


def post_login(http: httpx.Client, username: str, password: str) -> httpx.Response:
    form = http.get("/inbox/login")
    assert form.status_code == 200
    return http.post("/inbox/login", data={"csrf": csrf_of(form), "username": username, "password": password})


def act(http: httpx.Client, conversation_id: int, action: str, **fields: str) -> httpx.Response:
    """POST one conversation action with the CSRF token of its page."""
    page = http.get(f"/inbox/conversations/{conversation_id}")
    assert page.status_code == 200, page.text
    return http.post(f"/inbox/conversations/{conversation_id}/{action}", data={"csrf": csrf_of(page), **fields})


@pytest.fixture
def town(config: Config, database: Database) -> Iterator[Town]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, poll_interval=0.05, reload_interval=None)
    app = create_app(plaza, web, live_interval=0.1)
    with AppServer(app) as server:
        town = Town(server.base_url, database, config, Bot(config, database))
        try:
            yield town
        finally:
            for http in town.clients:
                http.close()
