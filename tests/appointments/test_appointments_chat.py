"""The "Pedir cita" flow through the real engine: book, lose a race, list, cancel and move.

These conversations run on today's date: they pick the second day offered
(never today, so no time offered can pass while the test runs) and read
the days and times from the bot's buttons.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.appointments import book, town_zone
from bot.config import Config
from bot.messages import OutboundMessage
from models.db import Database
from tests.support.appointments import NewResident, rows
from tests.support.driver import Bot, Chat

MENU = "¿En qué puedo ayudarle?"
DAY_LABEL = re.compile(r"^(lunes|martes|miércoles|jueves|viernes|sábado|domingo) \d\d/\d\d$")


def options(replies: list[OutboundMessage]) -> list[tuple[str, str]]:
    return [(option.key, option.label) for reply in replies for option in reply.options]


def text(replies: list[OutboundMessage]) -> str:
    return "\n".join(reply.text for reply in replies)


def to_the_times(chat: Chat) -> tuple[str, list[tuple[str, str]]]:
    """Menu → new appointment → family doctor → second day offered; returns the day key and the times."""
    chat.say()
    assert "¿Qué desea hacer?" in chat.say("2")
    assert "¿Para qué servicio quiere la cita?" in chat.say("1")
    replies = chat.send("médico de cabecera")
    assert "¿Qué día le viene bien?" in text(replies)
    days = options(replies)
    assert len(days) == 7
    assert all(DAY_LABEL.match(label) for _, label in days), days
    assert all(date.fromisoformat(key).weekday() < 5 for key, _ in days)
    replies = chat.send("2")
    assert "¿A qué hora?" in text(replies)
    return days[1][0], options(replies)


def test_booking_stores_the_appointment_and_tells_the_reference(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    day, times = to_the_times(chat)
    assert times[0] == ("09:00", "09:00")
    assert "Puede responder con el número de la opción" in chat.say("a las tantas")  # a wrong answer: asked again
    answer = chat.say("09:20")
    assert "¿Le reservo esta cita?\n• Médico de cabecera\n• " in answer
    assert "• 09:20" in answer
    assert "Responda sí o no" in chat.say("quizás")
    answer = chat.say("sí")
    (row,) = rows(database)
    assert f"Cita reservada. Su referencia es {row['reference']}." in answer
    assert answer.endswith(MENU)
    assert row["reference"] == f"JUN-C-{row['id']:06d}"
    local = row["starts_at"].astimezone(town_zone(config))  # type: ignore[attr-defined]
    assert (local.date().isoformat(), f"{local:%H:%M}") == (day, "09:20")
    assert (row["service"], row["status"], row["seat"], row["channel"], row["language"]) == (
        "doctor",
        "booked",
        1,
        "test",
        "es",
    )


def test_losing_the_last_seat_shows_the_free_times_again(
    config: Config, database: Database, new_resident: NewResident
) -> None:
    chat = Bot(config, database).chat()
    day, times = to_the_times(chat)
    first = times[0][0]
    assert "¿Le reservo esta cita?" in chat.say("1")
    rival = new_resident()
    zone = town_zone(config)
    with database.writer.begin() as connection:  # another resident books that time first
        assert book(
            connection,
            config=config,
            service=config.services["doctor"],
            starts_at=datetime.combine(date.fromisoformat(day), datetime.strptime(first, "%H:%M").time(), tzinfo=zone),
            now=datetime.now(UTC),
            resident_id=rival,
            channel="test",
            chat_id="rival",
            language="es",
        )
    replies = chat.send("sí")
    assert "Vaya, esa hora la acaba de coger otra persona. Elija otra, por favor." in text(replies)
    assert "¿A qué hora?" in text(replies)
    again = options(replies)
    assert first not in [key for key, _ in again]
    assert again[0] == times[1]
    chat.say("1")
    assert "Cita reservada." in chat.say("sí")
    mine = [row for row in rows(database) if row["resident_id"] != rival]
    assert len(mine) == 1
    assert f"{mine[0]['starts_at'].astimezone(zone):%H:%M}" == times[1][0]  # type: ignore[attr-defined]


def test_my_appointments_cancel_and_move(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.say()
    chat.say("2")
    assert "No tiene ninguna cita pendiente." in chat.say("ver, cambiar o anular mis citas")
    for _ in range(2):
        to_the_times(chat)
        chat.say("1")
        assert "Cita reservada." in chat.say("sí")
    first, second = rows(database)
    chat.say("2")
    replies = chat.send("2")
    listing = text(replies)
    assert "Sus citas:\n• Médico de cabecera · " in listing
    assert listing.index(str(first["reference"])) < listing.index(str(second["reference"]))
    assert [key for key, _ in options(replies)] == [str(first["id"]), str(second["id"])]
    assert "¿Qué hacemos con la cita Médico de cabecera · " in chat.say("1")
    assert "¿Anulo la cita" in chat.say("anularla")
    answer = chat.say("sí")
    assert "Cita anulada." in answer
    cancelled = rows(database)[0]
    assert (cancelled["status"], cancelled["seat"]) == ("cancelled", None)

    chat.say("2")
    chat.say("2")
    chat.say("1")  # the only appointment left: the second
    assert "¿A qué día la cambiamos?" in chat.say("cambiarla de día u hora")
    replies = chat.send("3")
    assert "¿A qué hora?" in text(replies)
    new_time = options(replies)[-1][0]
    assert f"a las {new_time}?" in chat.say(str(len(options(replies))))
    answer = chat.say("sí")
    moved = rows(database)[-1]
    assert f"Su nueva referencia es {moved['reference']}." in answer
    old = rows(database)[1]
    assert (old["status"], old["seat"]) == ("cancelled", None)
    assert (moved["status"], moved["seat"], moved["service"]) == ("booked", 1, "doctor")
    assert f"{moved['starts_at'].astimezone(town_zone(config)):%H:%M}" == new_time  # type: ignore[attr-defined]


def test_booking_in_english_by_numbers_only(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    chat.say()
    assert "What would you like to do?" in chat.say("2")
    assert "Which service is the appointment for?" in chat.say("1")
    replies = chat.send("2")  # nursing
    assert all(re.match(r"^[A-Z][a-z]+day \d\d/\d\d$", label) for _, label in options(replies))
    assert "At what time?" in chat.say("2")
    assert "Shall I book this appointment?\n• Nursing\n• " in chat.say("1")
    assert "At what time?" in chat.say("back")  # back to the time, the day kept
    answer = chat.say("1")
    assert "Shall I book this appointment?" in answer
    answer = chat.say("1")
    (row,) = rows(database)
    assert f"Your appointment is booked. Your reference is {row['reference']}." in answer
    assert (row["service"], row["language"]) == ("nursing", "en")
