"""«mis datos»: a summary and a one-time link to a JSON file of everything Plaza holds about the resident."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, update

from adapters.web import WebChannel
from bot.config import Config, PrivacySettings
from bot.runtime import Plaza
from bot.web.app import create_app
from models import ExportToken, Subscription
from models.db import Database
from tests.support.driver import Bot, Chat
from tests.support.reports import report_streetlight
from tests.support.residents import account, actions
from tests.support.server import AppServer

TOKENS = ExportToken.__table__
SUBSCRIPTIONS = Subscription.__table__
LINK = re.compile(r"(https?://\S+)/me/export/([A-Za-z0-9_-]+)")


@pytest.fixture
def http(town: Config, database: Database) -> Iterator[httpx.Client]:
    web = WebChannel()
    plaza = Plaza(town, [web], database=database, reload_interval=None, reminder_interval=None, purge_interval=None)
    app = create_app(plaza, web, manage_lifespan=False)
    with AppServer(app) as server, httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        yield client


def opened(bot: Bot, user: str) -> Chat:
    chat = bot.chat(user, channel="telegram")
    chat.say()
    return chat


def ask_for_data(chat: Chat) -> tuple[str, str, str]:
    """Say «mis datos»: (the answer, the link's base, the token)."""
    answer = chat.say("mis datos")
    found = LINK.search(answer)
    assert found is not None, answer
    return answer, found.group(1), found.group(2)


def test_the_export_holds_the_residents_data_and_nobody_elses(
    town: Config, database: Database, http: httpx.Client
) -> None:
    bot = Bot(town, database)
    ana, bob = opened(bot, "ana"), opened(bot, "bob")
    ticket = report_streetlight(ana, "Farola apagada frente a mi casa")
    report_streetlight(bob, "Secreto de Bob junto al río", address="Calle del Río 9")
    ana_id = account(database, "telegram", "ana").resident_id
    with database.writer.begin() as connection:
        connection.execute(
            insert(SUBSCRIPTIONS).values(
                resident_id=ana_id,
                channel="telegram",
                chat_id="ana",
                topic="news",
                created_at=datetime.now(UTC),
            )
        )
    ana.say("menú")
    answer, base, token = ask_for_data(ana)
    assert "1 avisos y trámites y 1 suscripciones" in answer
    assert base == f"http://{town.host}:{town.port}"

    response = http.get(f"/me/export/{token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    texts = [message["text"] for message in data["messages"]]
    assert "Farola apagada frente a mi casa" in texts
    assert any(text and ticket in text for text in texts), "the bot's answers are there too"
    assert [request["ticket"] for request in data["requests"]] == [ticket]
    assert data["requests"][0]["description"] == "Farola apagada frente a mi casa"
    assert [subscription["topic"] for subscription in data["subscriptions"]] == ["news"]
    assert data["accounts"] == [{"channel": "telegram", "id": "ana"}]
    assert "Secreto de Bob" not in response.text and "Calle del Río" not in response.text
    assert ("system", "privacy_exported") in [(actor, action) for actor, action, _ in actions(database)]


def test_the_link_works_once(town: Config, database: Database, http: httpx.Client) -> None:
    ana = opened(Bot(town, database), "ana")
    _, _, token = ask_for_data(ana)
    assert http.get(f"/me/export/{token}").status_code == 200
    again = http.get(f"/me/export/{token}")
    assert again.status_code == 404
    assert "already used" in again.json()["error"]


def test_the_link_expires_after_a_day(town: Config, database: Database, http: httpx.Client) -> None:
    ana = opened(Bot(town, database), "ana")
    _, _, token = ask_for_data(ana)
    with database.writer.begin() as connection:
        connection.execute(update(TOKENS).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert http.get(f"/me/export/{token}").status_code == 404


def test_a_made_up_token_is_404(http: httpx.Client) -> None:
    assert http.get("/me/export/" + "x" * 43).status_code == 404
    assert http.get("/me/export/short").status_code == 404


def test_the_link_uses_the_towns_public_address(town: Config, database: Database) -> None:
    public = replace(town, privacy=PrivacySettings(public_url="https://plaza.jun.es"))
    ana = opened(Bot(public, database), "ana")
    _, base, _ = ask_for_data(ana)
    assert base == "https://plaza.jun.es"


def test_in_english(town: Config, database: Database) -> None:
    ana = Bot(town, database).chat("ana", channel="telegram", language="en")
    ana.say()
    assert "This is what we keep about you" in ana.say("my data")


def test_someone_else_in_a_group_chat_gets_no_link(town: Config, database: Database) -> None:
    from bot.inbox import accept

    group = opened(Bot(town, database), "group-7")
    report_streetlight(group, "Farola apagada en el grupo")
    for text in ("mis datos", "borrar mis datos"):
        accept(database.writer, [replace(group.message(text), sender_id="stranger")])
        answer = "\n".join(reply.text for reply in group.process())
        assert "Esta conversación no es suya" in answer and "/me/export/" not in answer
    assert account(database, "telegram", "group-7") is not None
