"""The "Hablar con una persona" flow: a handoff request for a department or a named person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.config import Config
from models import Conversation, HandoffRequest
from models.db import Database
from tests.support.driver import Bot, Chat

HANDOFFS = HandoffRequest.__table__
CONVERSATIONS = Conversation.__table__

MENU = "¿En qué puedo ayudarle?"
ALREADY = "Ya está esperando a que le atienda"


def ask_for_department(chat: Chat, department: str, message: str) -> str:
    chat.say("hablar con una persona")
    chat.say("con un departamento")
    chat.say(department)
    return chat.say(message)


def ask_for_person(chat: Chat, person: str, message: str) -> str:
    chat.say("5")
    chat.say("2")
    chat.say(person)
    return chat.say(message)


def handoffs(database: Database) -> list[dict[str, Any]]:
    with database.writer.begin() as connection:
        return [dict(row._mapping) for row in connection.execute(select(HANDOFFS).order_by(HANDOFFS.c.id))]


def mode_of(database: Database, chat_id: str) -> str:
    with database.writer.begin() as connection:
        return str(
            connection.execute(select(CONVERSATIONS.c.mode).where(CONVERSATIONS.c.chat_id == chat_id)).scalar_one()
        )


def test_a_department_request_is_stored_with_the_message(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    assert mode_of(database, "alice") == "bot"
    answer = ask_for_department(chat, "secretaría", "Necesito un certificado de empadronamiento")
    assert "Hecho, se lo pasamos a Secretaría." in answer
    assert "en horario de oficina (de lunes a viernes, de 9:00 a 14:00)" in answer
    assert "privada" not in answer
    assert answer.endswith(MENU)
    [row] = handoffs(database)
    assert row["department"] == "secretaria"
    assert row["person"] is None
    assert row["text"] == "Necesito un certificado de empadronamiento"
    assert row["status"] == "waiting"
    assert (row["channel"], row["chat_id"], row["language"]) == ("test", "alice", "es")
    assert row["created_at"].tzinfo is not None
    with database.writer.begin() as connection:
        conversation = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.resident_id).where(CONVERSATIONS.c.chat_id == "alice")
        ).one()
    assert (row["conversation_id"], row["resident_id"]) == (conversation.id, conversation.resident_id)
    assert mode_of(database, "alice") == "waiting"


def test_a_named_person_is_asked_for_in_their_department(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    answer = ask_for_person(chat, "ana pérez", "omitir")
    assert "Hecho, se lo pasamos a Ana Pérez (Alcaldía)." in answer
    # her own hours, not the Alcaldía's
    assert "(martes y jueves, de 10:00 a 13:00)" in answer
    [row] = handoffs(database)
    assert (row["department"], row["person"], row["text"]) == ("alcaldia", "mayor", None)
    assert mode_of(database, "alice") == "waiting"


def test_a_private_department_says_so(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    answer = ask_for_person(chat, "social worker", "It is about my mother")
    assert "Done, we are passing you on to Carmen López (Social Services)." in answer
    assert "This conversation is private" in answer
    assert "(Wednesdays, 9:00 to 14:00)" in answer
    [row] = handoffs(database)
    assert (row["department"], row["person"], row["language"]) == ("sociales", "social_worker", "en")


def test_unknown_office_hours_are_not_made_up(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    answer = ask_for_department(chat, "centro de salud", "1")
    assert "Le responderá una persona por este mismo chat en cuanto pueda." in answer
    assert "horario de oficina" not in answer
    assert [row["department"] for row in handoffs(database)] == ["salud"]


def test_a_second_request_while_waiting_is_not_stored(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    ask_for_person(chat, "barrendero", "Hay hojas en la calle Real")
    answer = ask_for_department(chat, "alcaldía", "Otra cosa")
    assert f"{ALREADY} Manuel Gómez (Servicios Municipales)" in answer
    assert "se lo pasamos" not in answer
    assert answer.endswith(MENU)
    rows = handoffs(database)
    assert len(rows) == 1
    assert (rows[0]["person"], rows[0]["text"]) == ("street_sweeper", "Hay hojas en la calle Real")
    assert mode_of(database, "alice") == "waiting"


def test_waiting_for_someone_the_bot_still_answers_and_others_are_not_affected(
    config: Config, database: Database
) -> None:
    bot = Bot(config, database)
    alice = bot.chat("alice")
    bob = bot.chat("bob")
    alice.say()
    bob.say()
    ask_for_department(alice, "policía local", "1")
    assert "¿Qué ha pasado?" in alice.say("avisar de una incidencia")
    answer = ask_for_department(bob, "policía local", "1")
    assert "Hecho, se lo pasamos a Policía Local." in answer
    assert "Esta conversación es privada" in answer
    assert ALREADY not in answer
    assert sorted(row["chat_id"] for row in handoffs(database)) == ["alice", "bob"]
    assert mode_of(database, "bob") == "waiting"


def test_cancelling_stores_nothing(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("5")
    chat.say("1")
    chat.say("1")
    assert MENU in chat.say("cancelar")
    assert handoffs(database) == []
    assert mode_of(database, "alice") == "bot"
