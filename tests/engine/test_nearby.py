"""A problem already reported at the same place is offered first; following it files nothing new."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import func, select, update

from bot.actions.nearby import EARTH_RADIUS_METRES, NEARBY_METRES, distance_metres
from bot.config import Config
from bot.messages import Location
from models import RequestFollower, ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__
FOLLOWERS = RequestFollower.__table__

MENU = "¿En qué puedo ayudarle?"
CONFIRM = "¿Lo enviamos?"
SAME = "Ya hay un aviso abierto parecido, en el mismo sitio:"
FOLLOWING = "De acuerdo, no abrimos otro aviso. Le avisaré por aquí de las novedades del"
EN_SAME = "There is already a similar open report at the same place:"
EN_FOLLOWING = "All right, we will not open another report. I will tell you here about any news of"

PLAZA = (37.13, -3.59)


def north(metres: float) -> tuple[float, float]:
    """The point ``metres`` north of :data:`PLAZA` (along the meridian: exact for the haversine)."""
    return PLAZA[0] + math.degrees(metres / EARTH_RADIUS_METRES), PLAZA[1]


def east(metres: float) -> tuple[float, float]:
    """The point about ``metres`` east of :data:`PLAZA`, on its parallel."""
    return PLAZA[0], PLAZA[1] + math.degrees(metres / EARTH_RADIUS_METRES) / math.cos(math.radians(PLAZA[0]))


def up_to_place(chat: Chat, category: str, description: str, place: str | tuple[float, float]) -> str:
    """From the menu to the answer about the place; returns what the bot said after the place."""
    chat.say("avisar de una incidencia" if chat.language == "es" else "report a problem")
    chat.say(category)
    chat.say(description)
    chat.say("omitir" if chat.language == "es" else "skip")
    if isinstance(place, str):
        return chat.say(place)
    return chat.say(location=Location(*place))


def report(chat: Chat, category: str, description: str, place: str | tuple[float, float]) -> str:
    """A whole report with no similar one around; returns its ticket."""
    answer = up_to_place(chat, category, description, place)
    assert SAME not in answer
    answer = chat.say("sí")
    assert "Gracias, su aviso es el" in answer
    return answer.split("su aviso es el ")[1].split(".")[0]


def requests_count(database: Database) -> int:
    with database.writer.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(REQUESTS)).scalar_one())


def followers(database: Database) -> list[tuple[int, int, str, str, str]]:
    query = select(
        FOLLOWERS.c.request_id, FOLLOWERS.c.resident_id, FOLLOWERS.c.channel, FOLLOWERS.c.chat_id, FOLLOWERS.c.language
    )
    with database.writer.begin() as connection:
        return [tuple(row) for row in connection.execute(query)]


def set_status(database: Database, ticket: str, status: str) -> None:
    with database.writer.begin() as connection:
        connection.execute(update(REQUESTS).where(REQUESTS.c.ticket == ticket).values(status=status))


@pytest.fixture
def bot(config: Config, database: Database) -> Bot:
    return Bot(config, database)


def chat(bot: Bot, chat_id: str, language: str = "es") -> Chat:
    opened = bot.chat(chat_id, language=language)
    opened.say()
    return opened


def test_the_test_points_are_where_they_say() -> None:
    assert distance_metres(*PLAZA, *north(49)) == pytest.approx(49, abs=0.01)
    assert distance_metres(*PLAZA, *east(60)) == pytest.approx(60, abs=0.01)
    assert NEARBY_METRES == 50


def test_a_report_49_metres_away_is_offered_and_one_60_metres_away_is_not(bot: Bot, database: Database) -> None:
    ticket = report(chat(bot, "alice"), "alumbrado", "La farola está apagada", PLAZA)
    bob = chat(bot, "bob")
    answer = up_to_place(bob, "alumbrado", "Una farola no enciende", north(49))
    assert SAME in answer
    assert f"{ticket} · Alumbrado público · 📍 37.13000, -3.59000 (≈ 49 m) · " in answer
    assert re.search(r"\(≈ 49 m\) · \d\d/\d\d/20\d\d\n", answer), answer
    # the other report's description is the reporter's own words, and may name them: never shown
    assert "La farola está apagada" not in answer
    assert "¿Es el mismo problema?" in answer

    carol = chat(bot, "carol")
    answer = up_to_place(carol, "alumbrado", "Una farola no enciende", east(60))
    assert SAME not in answer
    assert CONFIRM in answer


def test_the_same_address_is_offered_whatever_its_case_accents_and_spaces(bot: Bot) -> None:
    ticket = report(chat(bot, "alice"), "limpieza", "Basura junto al contenedor", "Calle Real 5")
    answer = up_to_place(chat(bot, "bob"), "limpieza", "Hay bolsas de basura", "  CALLE  réal, 5 ")
    assert SAME in answer and ticket in answer and "Calle Real 5" in answer
    answer = up_to_place(chat(bot, "carol"), "limpieza", "Hay bolsas de basura", "Calle Real 7")
    assert SAME not in answer


def test_another_category_at_the_same_place_is_not_offered(bot: Bot) -> None:
    report(chat(bot, "alice"), "alumbrado", "La farola está apagada", PLAZA)
    answer = up_to_place(chat(bot, "bob"), "agua", "Sale agua de una tubería", PLAZA)
    assert SAME not in answer
    assert CONFIRM in answer


@pytest.mark.parametrize("status", ["fixed", "closed", "duplicate", "not_ours"])
def test_a_finished_request_is_not_offered(bot: Bot, database: Database, status: str) -> None:
    ticket = report(chat(bot, "alice"), "alumbrado", "La farola está apagada", PLAZA)
    set_status(database, ticket, status)
    answer = up_to_place(chat(bot, "bob"), "alumbrado", "Una farola no enciende", PLAZA)
    assert SAME not in answer and ticket not in answer


@pytest.mark.parametrize("status", ["acknowledged", "in_progress"])
def test_a_request_being_dealt_with_is_still_offered(bot: Bot, database: Database, status: str) -> None:
    ticket = report(chat(bot, "alice"), "alumbrado", "La farola está apagada", PLAZA)
    set_status(database, ticket, status)
    answer = up_to_place(chat(bot, "bob"), "alumbrado", "Una farola no enciende", PLAZA)
    assert SAME in answer and ticket in answer


def test_a_private_request_is_never_offered(bot: Bot, database: Database) -> None:
    # noise goes to the Policía Local, whose reports are private
    ticket = report(chat(bot, "alice"), "ruido", "Música muy alta cada noche", "Calle Real 5")
    with database.writer.begin() as connection:
        assert connection.execute(select(REQUESTS.c.private).where(REQUESTS.c.ticket == ticket)).scalar_one()
    answer = up_to_place(chat(bot, "bob"), "ruido", "Música muy alta cada noche", "Calle Real 5")
    assert SAME not in answer and ticket not in answer and "Música" not in answer.split(CONFIRM)[0]


def test_following_stores_a_follower_and_files_nothing(bot: Bot, database: Database) -> None:
    alice = chat(bot, "alice")
    ticket = report(alice, "alumbrado", "La farola está apagada", PLAZA)
    bob = chat(bot, "bob-chat", language="en")
    answer = up_to_place(bob, "street lighting", "A streetlight is off", north(20))
    assert EN_SAME in answer and ticket in answer and "Street lighting" in answer
    assert "alice" not in answer  # nothing about who reported it
    answer = bob.say("1")
    assert f"{EN_FOLLOWING} {ticket}." in answer
    assert answer.endswith("How can I help you?")
    assert requests_count(database) == 1
    stored = followers(database)
    assert len(stored) == 1
    request_id, resident_id, channel, chat_id, language = stored[0]
    with database.writer.begin() as connection:
        original = connection.execute(select(REQUESTS.c.id, REQUESTS.c.resident_id)).one()
    assert request_id == original.id
    assert resident_id != original.resident_id
    assert (channel, chat_id, language) == ("test", "bob-chat", "en")

    # following again keeps one row
    up_to_place(bob, "street lighting", "A streetlight is off", north(20))
    assert f"{EN_FOLLOWING} {ticket}." in bob.say("yes")
    assert len(followers(database)) == 1
    assert requests_count(database) == 1


def test_the_reporter_is_offered_their_own_report_but_does_not_follow_it(bot: Bot, database: Database) -> None:
    alice = chat(bot, "alice")
    ticket = report(alice, "alumbrado", "La farola está apagada", PLAZA)
    assert SAME in up_to_place(alice, "alumbrado", "Sigue apagada", PLAZA)
    assert f"{FOLLOWING} {ticket}." in alice.say("sí")
    assert followers(database) == []
    assert requests_count(database) == 1


def test_another_problem_at_the_same_place_is_filed_with_every_answer_kept(bot: Bot, database: Database) -> None:
    ticket = report(chat(bot, "alice"), "limpieza", "Basura junto al contenedor", "Calle Real 5")
    bob = chat(bot, "bob")
    assert SAME in up_to_place(bob, "limpieza", "Una pintada en la pared", "Calle Real 5")
    answer = bob.say("2")
    assert CONFIRM in answer
    assert "• Limpieza\n• Una pintada en la pared\n• Calle Real 5" in answer
    assert ticket not in answer  # the other report is not part of this one's summary
    answer = bob.say("sí")
    assert "Gracias, su aviso es el JUN-" in answer
    assert requests_count(database) == 2
    assert followers(database) == []


def test_a_wrong_answer_to_is_it_the_same_asks_again(bot: Bot, database: Database) -> None:
    report(chat(bot, "alice"), "limpieza", "Basura junto al contenedor", "Calle Real 5")
    bob = chat(bot, "bob")
    up_to_place(bob, "limpieza", "Bolsas de basura", "Calle Real 5")
    answer = bob.say("quizás")
    assert "Responda sí o no, por favor." in answer
    assert SAME in answer
    assert followers(database) == [] and requests_count(database) == 1
