"""The emergency word works at any question: 112 at once, then the same question, answers kept."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.config import Config
from models import ServiceRequest
from models.db import Database
from tests.support.driver import Bot

REQUESTS = ServiceRequest.__table__

CALL_112 = "Si es una emergencia, llame ahora mismo al 112"
EN_CALL_112 = "If it is an emergency, call 112 right now"


def count(database: Database) -> int:
    with database.writer.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(REQUESTS)).scalar_one())


def test_the_emergency_word_mid_flow_says_112_and_keeps_the_answers(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("avisar de una incidencia")
    chat.say("agua")
    assert "Si puede, envíe una foto." in chat.say("Sale mucha agua de una tubería")
    for word in ("¡Urgente!", "112", "emergencia"):
        answer = chat.say(word)
        assert answer.startswith(CALL_112)
        assert answer.endswith("Si puede, envíe una foto. Si no, pulse «Omitir».")
    chat.say("omitir")
    answer = chat.say("Calle Real 5")
    assert "¿Lo enviamos?\n• Agua\n• Sale mucha agua de una tubería\n• Calle Real 5" in answer
    assert "Gracias, su aviso es el JUN-" in chat.say("sí")
    assert count(database) == 1


def test_the_emergency_word_in_english_in_a_police_report(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    chat.say("tell the local police")
    chat.say("no")
    chat.say("Someone is breaking into a car")
    answer = chat.say("urgent")
    assert answer.startswith(EN_CALL_112)
    assert answer.endswith('Where is it? Share your location or type the address. If it does not matter, press "Skip".')
    chat.say("Calle Real 5")
    answer = chat.say("back")
    assert "Where is it?" in answer  # the way back is intact: the emergency word was not an answer
    assert "Shall we send it to the Local Police?\n• Someone is breaking into a car\n• Calle Real 7" in chat.say(
        "Calle Real 7"
    )
    assert count(database) == 0


def test_the_emergency_word_at_the_menu(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    answer = chat.say("EMERGENCIA")
    assert answer.startswith(CALL_112)
    assert answer.endswith("¿En qué puedo ayudarle?")
