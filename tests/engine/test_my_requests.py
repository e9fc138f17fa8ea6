"""The "Mis avisos" flow: a resident sees their own reports, newest first, and nobody else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from bot.config import Config
from models import ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__

MENU = "¿En qué puedo ayudarle?"
LISTED = "Estos son sus últimos avisos:"
NOTHING_YET = "Todavía no ha enviado ningún aviso."
EN_NOTHING_YET = "You have not reported anything yet."


def report(chat: Chat, category: str, description: str) -> str:
    """Send a whole incident report from the menu; returns its ticket."""
    chat.say("avisar de una incidencia")
    chat.say(category)
    chat.say(description)
    chat.say("omitir")
    chat.say("Calle Real 5")
    answer = chat.say("sí")
    assert "Gracias, su aviso es el" in answer
    return answer.split("su aviso es el ")[1].split(".")[0]


def tickets_of(database: Database) -> dict[str, int]:
    with database.writer.begin() as connection:
        return {row.ticket: row.resident_id for row in connection.execute(select(REQUESTS))}


def test_a_new_resident_has_nothing_yet(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    answer = chat.say("mis avisos")
    assert NOTHING_YET in answer
    assert LISTED not in answer
    assert answer.endswith(MENU)


def test_a_new_resident_has_nothing_yet_in_english(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    answer = chat.say("my reports")
    assert EN_NOTHING_YET in answer


def test_lists_only_the_residents_own_reports_newest_first(config: Config, database: Database) -> None:
    bot = Bot(config, database)
    alice = bot.chat("alice")
    bob = bot.chat("bob")
    alice.say()
    bob.say()
    first = report(alice, "alumbrado", "La farola de la plaza está apagada")
    other = report(bob, "agua", "Sale agua de una tubería")
    second = report(alice, "limpieza", "Hay basura junto al colegio")
    assert len(set(tickets_of(database).values())) == 2

    answer = alice.say("mis avisos")
    assert LISTED in answer
    assert first in answer and second in answer
    assert other not in answer
    assert answer.index(second) < answer.index(first)  # newest first
    lines = [line for line in answer.splitlines() if line.startswith("• ")]
    assert len(lines) == 2
    assert "Limpieza" in lines[0] and "Alumbrado público" in lines[1]
    assert "Agua" not in answer

    answer = bob.say("6")
    assert other in answer and first not in answer and second not in answer


def test_lists_at_most_ten_newest(config: Config, database: Database) -> None:
    bot = Bot(config, database)
    chat = bot.chat()
    chat.say()
    report(chat, "alumbrado", "La farola de la plaza está apagada")
    resident_id = next(iter(tickets_of(database).values()))
    start = datetime.now(UTC) + timedelta(minutes=1)
    with database.writer.begin() as connection:
        for number in range(12):
            connection.execute(
                insert(REQUESTS).values(
                    ticket=f"OLD-{number:02d}",
                    category="water",
                    department="servicios",
                    description="Una fuga",
                    status="fixed",
                    private=False,
                    language="es",
                    channel="test",
                    resident_id=resident_id,
                    created_at=start + timedelta(minutes=number),
                    updated_at=start + timedelta(minutes=number),
                )
            )
    answer = chat.say("mis avisos")
    lines = [line for line in answer.splitlines() if line.startswith("• ")]
    assert [line.split(" · ")[0] for line in lines] == [f"• OLD-{number:02d}" for number in range(11, 1, -1)]


def test_a_police_report_is_listed_with_the_police_name(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    chat.say("tell the local police")
    chat.say("no")
    chat.say("Fights in the square every night")
    chat.say("skip")
    answer = chat.say("yes")
    ticket = answer.split("your report is ")[1].split(".")[0]
    answer = chat.say("my reports")
    assert f"• {ticket} · Local Police · " in answer
