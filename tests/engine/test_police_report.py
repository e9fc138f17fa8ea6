"""The private report to the Policía Local: emergencies go to 112, the rest is stored privately."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.config import Config
from models import ServiceRequest
from models.db import Database
from tests.support.driver import Bot

REQUESTS = ServiceRequest.__table__

MENU = "¿En qué puedo ayudarle?"
EMERGENCY = "¿Es una emergencia que está ocurriendo ahora mismo?"
CALL_112 = "Llame ahora mismo al 112"
DESCRIPTION = "Cuénteme qué quiere comunicar a la Policía Local."
EN_EMERGENCY = "Is it an emergency happening right now?"
EN_CALL_112 = "Call 112 right now"


def count(database: Database) -> int:
    with database.writer.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(REQUESTS)).scalar_one())


def test_an_emergency_is_told_to_call_112_and_nothing_is_stored(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    assert chat.say("avisar a la policía local") == EMERGENCY
    answer = chat.say("sí")
    assert CALL_112 in answer
    assert "062" not in answer and "091" not in answer
    assert DESCRIPTION not in answer
    assert answer.endswith(MENU)
    assert count(database) == 0


def test_an_emergency_is_told_to_call_112_in_english(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    assert chat.say("tell the local police") == EN_EMERGENCY
    answer = chat.say("yes")
    assert EN_CALL_112 in answer
    assert answer.endswith("How can I help you?")
    assert count(database) == 0


def test_a_wrong_answer_to_the_emergency_question_is_asked_again(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("avisar a la policía local")
    answer = chat.say("quizás")
    assert "Responda sí o no, por favor." in answer
    assert answer.endswith(EMERGENCY)


def test_a_full_report_is_stored_privately_for_the_police(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("avisar a la policía local")
    assert chat.say("no") == DESCRIPTION
    assert "¿Dónde ocurre?" in chat.say("Un coche lleva un mes aparcado en el vado")
    answer = chat.say("Calle Real 5")
    assert "¿Se lo enviamos a la Policía Local?" in answer and "Calle Real 5" in answer
    assert count(database) == 0
    answer = chat.say("sí")
    assert "Gracias, su aviso es el JUN-" in answer
    assert "solo lo ve la Policía Local" in answer and "su nombre no se publica" in answer
    with database.writer.begin() as connection:
        rows = connection.execute(select(REQUESTS)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.category, row.department, row.private, row.status) == ("police", "policia", True, "received")
    assert row.description == "Un coche lleva un mes aparcado en el vado"
    assert row.address == "Calle Real 5"
    assert row.ticket is not None and row.ticket in answer
    assert row.resident_id is not None


def test_the_place_may_be_skipped(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    chat.say("tell the local police")
    chat.say("no")
    chat.say("Fights in the square every night")
    chat.say("skip")
    answer = chat.say("yes")
    assert "only the Local Police see it" in answer
    with database.writer.begin() as connection:
        row = connection.execute(select(REQUESTS)).one()
    assert (row.department, row.private, row.address, row.latitude, row.language) == ("policia", True, None, None, "en")


def test_no_at_the_confirmation_stores_nothing(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("avisar a la policía local")
    chat.say("no")
    chat.say("Hay peleas en la plaza cada noche")
    chat.say("omitir")
    answer = chat.say("no")
    assert "Aviso descartado. No se ha enviado nada." in answer
    assert count(database) == 0
