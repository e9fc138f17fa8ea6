"""The "Noticias y avisos" flow: subscribe once, unsubscribe, and list only one's own topics."""

from __future__ import annotations

from sqlalchemy import select

from bot.config import Config
from models import Subscription
from models.db import Database
from tests.support.driver import Bot, Chat

SUBSCRIPTIONS = Subscription.__table__

MENU = "¿En qué puedo ayudarle?"
ADDED = "Hecho, le avisaré por aquí de"
ALREADY = "Ya estaba suscrito a"
REMOVED = "Hecho, ya no recibirá avisos de"
ABSENT = "No estaba suscrito a"
LISTED = "Está suscrito a:"
NOTHING_YET = "Todavía no está suscrito a ningún tema."


def subscribe(chat: Chat, topic: str) -> str:
    chat.say("noticias y avisos")
    chat.say("suscribirme a un tema")
    return chat.say(topic)


def unsubscribe(chat: Chat, topic: str) -> str:
    chat.say("noticias y avisos")
    chat.say("darme de baja de un tema")
    return chat.say(topic)


def listing(chat: Chat) -> str:
    chat.say("noticias y avisos")
    return chat.say("ver mis suscripciones")


def rows(database: Database) -> list[tuple[int, str, str, str]]:
    query = select(SUBSCRIPTIONS.c.resident_id, SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.chat_id, SUBSCRIPTIONS.c.topic)
    with database.writer.begin() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_subscribing_twice_keeps_one_row(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    answer = subscribe(chat, "menú escolar")
    assert f"{ADDED} Menú escolar." in answer
    assert answer.endswith(MENU)
    answer = subscribe(chat, "menú escolar")
    assert f"{ALREADY} Menú escolar." in answer
    assert ADDED not in answer
    stored = rows(database)
    assert len(stored) == 1
    assert stored[0][3] == "school_menu"
    with database.writer.begin() as connection:
        created = connection.execute(select(SUBSCRIPTIONS.c.created_at)).scalar_one()
    assert created.tzinfo is not None


def test_unsubscribing_removes_the_row(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    subscribe(chat, "cultura")
    subscribe(chat, "empleo")
    answer = unsubscribe(chat, "cultura")
    assert f"{REMOVED} Cultura." in answer
    assert [row[3] for row in rows(database)] == ["jobs"]
    answer = unsubscribe(chat, "cultura")
    assert f"{ABSENT} Cultura." in answer
    assert [row[3] for row in rows(database)] == ["jobs"]


def test_lists_only_the_residents_own_topics(config: Config, database: Database) -> None:
    bot = Bot(config, database)
    alice = bot.chat("alice")
    bob = bot.chat("bob")
    alice.say()
    bob.say()
    assert NOTHING_YET in listing(alice)
    subscribe(alice, "noticias")
    subscribe(alice, "cortes y avisos")
    subscribe(bob, "cultura")
    assert len({row[0] for row in rows(database)}) == 2

    answer = listing(alice)
    assert LISTED in answer
    lines = [line for line in answer.splitlines() if line.startswith("• ")]
    assert lines == ["• Noticias", "• Cortes y avisos"]
    assert "Cultura" not in answer

    answer = listing(bob)
    assert [line for line in answer.splitlines() if line.startswith("• ")] == ["• Cultura"]


def test_the_list_is_in_the_residents_language(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    chat.say("news and alerts")
    chat.say("subscribe to a topic")
    assert "Done, I will let you know here about School menu." in chat.say("school menu")
    chat.say("news and alerts")
    answer = chat.say("see my subscriptions")
    assert "You are subscribed to:\n• School menu" in answer
