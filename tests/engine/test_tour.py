"""The first-steps tour (main menu option 8): practice with numbers, words, a photo and a place."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.config import Config
from bot.messages import Location, Photo
from models import HandoffRequest, ServiceRequest
from models.db import Database
from tests.support.driver import Bot

MENU = "¿En qué puedo ayudarle?"
DONE = "¡Ya sabe lo básico!"


def stored(database: Database) -> tuple[int, int]:
    with database.writer.begin() as connection:
        requests = connection.execute(select(func.count()).select_from(ServiceRequest.__table__)).scalar_one()
        handoffs = connection.execute(select(func.count()).select_from(HandoffRequest.__table__)).scalar_one()
    return int(requests), int(handoffs)


def test_the_greeting_tells_newcomers_about_it(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    assert "Si es la primera vez que me escribe, escriba 8" in chat.say()


def test_the_tour_can_be_finished_with_numbers_only(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    steps = [
        ("8", "Pruebe ahora: escriba 1."),
        ("1", "¿qué le apetece más?"),
        ("2", "Perfecto, ha elegido: Un té."),
        ("1", "Para enviar una foto"),
        ("1", "Para decir dónde está algo"),
    ]
    for number, expected in steps:
        answer = chat.say(number)
        assert expected in answer, (number, answer)
        assert not answer.endswith(MENU)
    answer = chat.say("1")
    assert DONE in answer
    assert answer.endswith(MENU)
    assert "¿Qué ha pasado?" in chat.say("1")  # the menu works again
    assert stored(database) == (0, 0)


def test_the_tour_shows_the_words_that_work_everywhere(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    chat.say("how this works")
    chat.say("1")
    answer = chat.say("a walk")
    for word in ('"back"', '"menu"', '"help"', '"language"', '"cancel"'):
        assert word in answer
    assert "what would you like most?" in chat.say("back")
    assert "Perfect, you chose: A coffee." in chat.say("coffee")


def test_a_practice_photo_and_location_are_accepted_and_nothing_is_sent(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    for answer in ("8", "1", "1", "seguir"):
        chat.say(answer)
    assert "Para decir dónde está algo" in chat.say(photos=(Photo("practice-photo"),))
    answer = chat.say(location=Location(37.13, -3.59))
    assert DONE in answer
    assert answer.endswith(MENU)
    assert stored(database) == (0, 0)
