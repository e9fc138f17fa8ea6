"""Conversations as tests: a resident talks to the bot, and we check what it says and what it stored.

Every test runs the real inbox, processor, engine and outbox (through
``tests.support.driver``) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.actions import ACTIONS
from bot.catalog import load_snapshot
from bot.config import Config
from bot.errors import FlowErrors
from bot.inbox import Upload, accept
from bot.messages import Location, OutboundMessage, Photo
from models import Conversation, HandoffRequest, InboxItem, MediaItem, OutboxItem, ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__
INBOX = InboxItem.__table__
OUTBOX = OutboxItem.__table__
HANDOFFS = HandoffRequest.__table__
CONVERSATIONS = Conversation.__table__
MEDIA = MediaItem.__table__

TICKET = re.compile(r"JUN-\d{4}-\d{6}")

# What the bot says (flows/*.yaml), in Spanish...
GREETING = "Hola, soy el asistente del Ayuntamiento de Jun."
MENU = "¿En qué puedo ayudarle?"
MENU_KEYS = [
    "report",
    "appointment",
    "police",
    "procedures",
    "talk_to",
    "my_requests",
    "subscriptions",
    "help_me",
]
QUESTION = {
    "category": "¿Qué ha pasado?",
    "description": "Cuénteme brevemente qué ocurre.",
    "photo": "Si puede, envíe una foto. Si no, pulse «Omitir».",
    "location": "¿Dónde es? Comparta su ubicación, envíe un enlace del mapa o escriba la dirección.",
    "confirm": "¿Lo enviamos?",
}
THANKS = "Gracias, su aviso es el"
HELP = "Puede escribir en cualquier momento: «menú» para volver al inicio"
CANCELLED = "De acuerdo, lo dejamos aquí. No se ha enviado nada."
DISCARDED = "Aviso descartado. No se ha enviado nada."
NOTHING_BACK = "No hay ninguna respuesta anterior que corregir."
LANGUAGE_ASK = "¿En qué idioma prefiere que le hable?"
HINT_CHOICE = "Puede responder con el número de la opción o con su nombre."
HINT_YES_NO = "Responda sí o no, por favor."
HINT_EMPTY = "No he recibido ningún texto."
HINT_TOO_SHORT = "Es un poco corto. Escriba al menos 3 caracteres"
HINT_TOO_LONG = "Es demasiado largo. Resúmalo en 1000 caracteres como máximo"
HINT_PHOTO = "Envíe una foto, por favor."
HINT_LOCATION = "Comparta su ubicación, envíe un enlace del mapa o escriba la dirección (calle y número)."
HINT_NOT_TEXT = "Gracias, pero aquí necesito que me lo escriba con palabras."
UNSUPPORTED = "Lo siento, todavía no sé leer este tipo de mensaje. ¿Puede escribírmelo?"
APOLOGY = "Lo siento, algo ha fallado por nuestra parte."

# ... and in English.
EN_GREETING = "Hello, I am the assistant of Jun Town Hall."
EN_MENU = "How can I help you?"
EN_QUESTION = {
    "category": "What is the problem?",
    "description": "Please tell me briefly what is happening.",
    "photo": 'If you can, send a photo. If not, press "Skip".',
    "location": "Where is it? Share your location, send a map link or type the address.",
    "confirm": "Shall we send it?",
}
EN_THANKS = "Thank you, your report is"

STEPS = ("category", "description", "photo", "location", "confirm")
GOOD: dict[str, dict[str, Any]] = {
    "category": {"text": "1"},
    "description": {"text": "La farola de la plaza está apagada"},
    "photo": {"text": "omitir"},
    "location": {"text": "Calle Real 5"},
    "confirm": {"text": "sí"},
}
CATEGORIES = ("streetlight", "cleaning", "water", "roads", "noise", "other")


# -- helpers ---------------------------------------------------------------------


def texts(replies: list[OutboundMessage]) -> str:
    return "\n".join(reply.text for reply in replies)


def send(chat: Chat, message: dict[str, Any]) -> list[OutboundMessage]:
    fields = dict(message)
    return chat.send(fields.pop("text", None), **fields)


def asks(replies: list[OutboundMessage], question: str) -> None:
    """The last reply asks ``question`` (the question always comes last)."""
    assert replies, "the bot said nothing"
    assert question in replies[-1].text, f"expected {question!r} in {replies[-1].text!r}"


def open_report(
    chat: Chat, *, greeting: str = GREETING, menu: str = MENU, category: str = QUESTION["category"]
) -> None:
    replies = chat.send("hola")
    assert len(replies) == 1
    assert greeting in replies[0].text
    assert replies[0].text.endswith(menu)
    assert [o.key for o in replies[0].options] == MENU_KEYS
    replies = chat.send("1")
    assert len(replies) == 1
    assert replies[0].text == category
    assert [o.key for o in replies[0].options] == list(CATEGORIES)
    assert replies[0].expects == "choice"


def walk_to(chat: Chat, step: str) -> None:
    """From the category question, give the good answers up to ``step``'s question."""
    for name in STEPS[: STEPS.index(step)]:
        replies = send(chat, GOOD[name])
        asks(replies, QUESTION[STEPS[STEPS.index(name) + 1]])


def finish(chat: Chat, step: str) -> str:
    """Give the good answers from ``step`` to the end; returns the ticket told."""
    replies: list[OutboundMessage] = []
    for name in STEPS[STEPS.index(step) :]:
        replies = send(chat, GOOD[name])
    return ticket_of(replies)


def ticket_of(replies: list[OutboundMessage]) -> str:
    said = texts(replies)
    found = TICKET.findall(said)
    assert len(found) == 1, f"expected one ticket in {said!r}"
    return str(found[0])


def service_requests(database: Database) -> list[Any]:
    with database.reader.connect() as connection:
        return list(connection.execute(select(REQUESTS).order_by(REQUESTS.c.id)).all())


def conversation_row(database: Database, chat_id: str = "alice", channel: str = "test") -> Any:
    with database.reader.connect() as connection:
        return connection.execute(
            select(CONVERSATIONS).where(CONVERSATIONS.c.channel == channel, CONVERSATIONS.c.chat_id == chat_id)
        ).one()


def count(database: Database, table: Any, *where: Any) -> int:
    with database.reader.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def the_request(database: Database, ticket: str, chat_id: str = "alice") -> Any:
    rows = service_requests(database)
    assert [row.ticket for row in rows] == [ticket]
    row = rows[0]
    assert row.resident_id is not None
    assert row.resident_id == conversation_row(database, chat_id).resident_id
    return row


def assert_good_request(database: Database, ticket: str) -> None:
    row = the_request(database, ticket)
    assert row.category == "streetlight"
    assert row.department == "servicios"
    assert row.description == GOOD["description"]["text"]
    assert row.address == "Calle Real 5"
    assert row.latitude is None and row.longitude is None
    assert row.photo_ref is None
    assert row.status == "received"


# -- the full report ----------------------------------------------------------------

MAPS_LINK = "https://www.google.com/maps/@37.1873111,-3.4411222,17z"


@pytest.mark.parametrize(
    ("category", "photo", "location", "confirm", "where"),
    [
        pytest.param(
            {"text": "1"},
            {"text": "omitir"},
            {"location": Location(37.18731, -3.44112)},
            {"text": "sí"},
            (37.18731, -3.44112, None),
            id="number-omitir-location-sí",
        ),
        pytest.param(
            {"text": "alumbrado público"},
            {"choice": "skip"},
            {"text": MAPS_LINK},
            {"text": "si"},
            (37.1873111, -3.4411222, None),
            id="label-skipbutton-maplink-si",
        ),
        pytest.param(
            {"text": "alumbrdo publico"},
            {"text": "omitir"},
            {"text": "Calle Real 5, junto a la iglesia"},
            {"text": "vale"},
            (None, None, "Calle Real 5, junto a la iglesia"),
            id="misspelt-omitir-address-vale",
        ),
        pytest.param(
            {"choice": "streetlight"},
            {"choice": "skip"},
            {"location": Location(37.18731, -3.44112)},
            {"text": "s"},
            (37.18731, -3.44112, None),
            id="button-skipbutton-location-s",
        ),
    ],
)
def test_streetlight_report_in_spanish(
    config: Config,
    database: Database,
    category: dict[str, Any],
    photo: dict[str, Any],
    location: dict[str, Any],
    confirm: dict[str, Any],
    where: tuple[float | None, float | None, str | None],
) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)

    replies = send(chat, category)
    assert texts(replies) == QUESTION["description"]
    assert replies[-1].expects == "text"

    replies = chat.send("La farola de la plaza está apagada desde ayer")
    assert texts(replies) == QUESTION["photo"]
    assert [(o.key, o.label) for o in replies[-1].options] == [("skip", "Omitir")]
    assert replies[-1].expects == "photo"

    replies = send(chat, photo)
    assert texts(replies) == QUESTION["location"]
    assert replies[-1].expects == "location"

    replies = send(chat, location)
    assert len(replies) == 1
    summary = replies[0].text
    assert summary.startswith(QUESTION["confirm"])
    assert "• Alumbrado público" in summary
    assert "• La farola de la plaza está apagada desde ayer" in summary
    assert [o.key for o in replies[0].options] == ["yes", "no"]
    assert assert_nothing_stored(database)

    replies = send(chat, confirm)
    said = texts(replies)
    assert THANKS in said
    assert "Lo atenderá Servicios Municipales." in said
    assert said.endswith(MENU), "after the report the resident is back at the menu"
    ticket = ticket_of(replies)

    row = the_request(database, ticket)
    assert TICKET.fullmatch(row.ticket)
    assert row.category == "streetlight"
    assert row.department == "servicios"
    assert row.description == "La farola de la plaza está apagada desde ayer"
    assert row.photo_ref is None
    latitude, longitude, address = where
    assert (row.latitude, row.longitude, row.address) == (
        pytest.approx(latitude) if latitude is not None else None,
        pytest.approx(longitude) if longitude is not None else None,
        address,
    )
    assert row.status == "received"
    assert row.language == "es"
    assert row.channel == "test"
    assert row.private is False
    assert conversation_row(database).state == "menu"


def assert_nothing_stored(database: Database) -> bool:
    return service_requests(database) == []


def test_streetlight_report_in_english(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    open_report(chat, greeting=EN_GREETING, menu=EN_MENU, category=EN_QUESTION["category"])
    assert answered_with(chat, {"text": "street lightng"}, EN_QUESTION["description"])
    replies = chat.send("The streetlight on the square is off")
    assert texts(replies) == EN_QUESTION["photo"]
    assert [(o.key, o.label) for o in replies[0].options] == [("skip", "Skip")]
    assert texts(chat.send("skip")) == EN_QUESTION["location"]
    replies = chat.send(MAPS_LINK)
    assert replies[0].text.startswith(EN_QUESTION["confirm"])
    assert "• Street lighting" in replies[0].text
    assert [(o.key, o.label) for o in replies[0].options] == [("yes", "Yes"), ("no", "No")]
    replies = chat.send("yes")
    said = texts(replies)
    assert EN_THANKS in said
    assert "Municipal Services will take care of it." in said
    assert said.endswith(EN_MENU)
    row = the_request(database, ticket_of(replies))
    assert (row.category, row.department, row.status) == ("streetlight", "servicios", "received")
    assert row.description == "The streetlight on the square is off"
    assert (row.latitude, row.longitude) == (pytest.approx(37.1873111), pytest.approx(-3.4411222))
    assert row.language == "en"


def answered_with(chat: Chat, message: dict[str, Any], question: str) -> bool:
    replies = send(chat, message)
    return texts(replies) == question


def test_switching_to_english_mid_report_keeps_the_answers(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")

    replies = chat.send("idioma")
    assert texts(replies) == LANGUAGE_ASK
    assert [(o.key, o.label) for o in replies[0].options] == [("es", "Español"), ("en", "English")]

    replies = chat.send("English")
    said = texts(replies)
    assert "Done, from now on I will speak English." in said
    assert said.endswith(EN_QUESTION["photo"]), "the same question again, now in English"

    assert texts(chat.send("skip")) == EN_QUESTION["location"]
    replies = chat.send("Calle Real 5")
    assert replies[0].text.startswith(EN_QUESTION["confirm"])
    assert "• La farola de la plaza está apagada" in replies[0].text
    replies = chat.send("yes")
    assert EN_THANKS in texts(replies)
    assert_good_request(database, ticket_of(replies))
    assert the_request(database, ticket_of(replies)).language == "en"


def test_switching_back_to_spanish_with_language_es_keeps_the_answers(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat(language="en")
    open_report(chat, greeting=EN_GREETING, menu=EN_MENU, category=EN_QUESTION["category"])
    assert texts(chat.send("1")) == EN_QUESTION["description"]
    assert texts(chat.send("The streetlight is off")) == EN_QUESTION["photo"]
    assert texts(chat.send("skip")) == EN_QUESTION["location"]

    replies = chat.send("language es")
    said = texts(replies)
    assert "Hecho, a partir de ahora le hablaré en español." in said
    assert said.endswith(QUESTION["location"])

    replies = chat.send("Calle Real 5")
    assert replies[0].text.startswith(QUESTION["confirm"])
    assert "• The streetlight is off" in replies[0].text
    replies = chat.send("sí")
    assert THANKS in texts(replies)
    row = the_request(database, ticket_of(replies))
    assert (row.description, row.address, row.language) == ("The streetlight is off", "Calle Real 5", "es")


def test_no_at_the_confirmation_stores_nothing(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "confirm")
    replies = chat.send("no")
    said = texts(replies)
    assert DISCARDED in said
    assert said.endswith(MENU)
    assert TICKET.search(said) is None
    assert service_requests(database) == []
    assert conversation_row(database).data["answers"] == {}


# -- photos ----------------------------------------------------------------------------


def test_a_photo_reference_is_saved_on_the_request(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")
    assert texts(chat.send(photos=(Photo(ref="media:1", mime_type="image/jpeg"),))) == QUESTION["location"]
    replies = chat.send("Calle Real 5")
    assert "• 📷 foto" in replies[0].text
    ticket = finish(chat, "confirm")
    assert the_request(database, ticket).photo_ref == "media:1"


def test_an_uploaded_photo_is_stored_and_saved_on_the_request(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    assert texts(chat.send(uploads=[Upload(png, "image/png")])) == QUESTION["location"]
    ticket = finish(chat, "location")
    row = the_request(database, ticket)
    assert row.photo_ref is not None and row.photo_ref.startswith("media:")
    media_id = int(row.photo_ref.removeprefix("media:"))
    with database.reader.connect() as connection:
        media = connection.execute(select(MEDIA).where(MEDIA.c.id == media_id)).one()
    assert bytes(media.data) == png
    assert (media.mime_type, media.chat_id, media.size) == ("image/png", "alice", len(png))


# -- global words ----------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ayuda", "help", "Ayuda!"])
def test_help_says_how_and_asks_the_same_question_again(config: Config, database: Database, word: str) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "description")
    replies = chat.send(word)
    assert len(replies) == 1
    assert HELP in replies[0].text
    assert replies[0].text.endswith(QUESTION["description"])
    assert conversation_row(database).state == "description"
    assert finish(chat, "description")
    assert_good_request(database, service_requests(database)[0].ticket)


@pytest.mark.parametrize("word", ["atrás", "back", "ATRAS"])
def test_back_returns_to_the_previous_question_and_forgets_its_answer(
    config: Config, database: Database, word: str
) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")
    assert conversation_row(database).data["answers"]["description"] == GOOD["description"]["text"]

    assert texts(chat.send(word)) == QUESTION["description"]
    data = conversation_row(database).data
    assert "description" not in data["answers"]
    assert data["answers"]["category"] == "streetlight", "only the last answer is forgotten"

    assert texts(chat.send("Farola fundida en la calle Real")) == QUESTION["photo"]
    assert texts(chat.send("omitir")) == QUESTION["location"]
    replies = chat.send("Calle Real 5")
    assert "Farola fundida en la calle Real" in replies[0].text
    assert GOOD["description"]["text"] not in replies[0].text
    replies = chat.send("sí")
    assert the_request(database, ticket_of(replies)).description == "Farola fundida en la calle Real"


def test_back_from_the_first_question_of_a_report_returns_to_the_menu(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    replies = chat.send("atrás")
    assert texts(replies) == MENU
    assert conversation_row(database).flow == "main_menu"
    assert texts(chat.send("1")) == QUESTION["category"]


def test_back_at_the_very_start_has_nothing_to_go_back_to(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    assert chat.send("hola")[0].text.endswith(MENU)
    replies = chat.send("atrás")
    assert len(replies) == 1
    assert replies[0].text.startswith(NOTHING_BACK)
    assert replies[0].text.endswith(MENU)
    assert [o.key for o in replies[0].options] == MENU_KEYS
    assert texts(chat.send("back")).startswith(NOTHING_BACK)


@pytest.mark.parametrize("step", ["category", "location", "confirm"])
def test_cancel_returns_to_the_menu_and_stores_nothing(config: Config, database: Database, step: str) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, step)
    replies = chat.send("cancelar")
    said = texts(replies)
    assert said.startswith(CANCELLED)
    assert said.endswith(MENU)
    assert service_requests(database) == []
    row = conversation_row(database)
    assert (row.flow, row.state, row.data["answers"], row.data["history"]) == ("main_menu", "menu", {}, [])
    # A new report starts from the beginning.
    assert texts(chat.send("1")) == QUESTION["category"]


def test_menu_returns_to_the_menu(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")
    replies = chat.send("menú")
    assert texts(replies) == MENU
    assert [o.key for o in replies[0].options] == MENU_KEYS
    assert service_requests(database) == []
    assert texts(chat.send("1")) == QUESTION["category"]
    assert conversation_row(database).data["answers"] == {}


def test_how_this_works_then_the_menu_again(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    chat.send("hola")
    said = texts(chat.send("8"))
    assert "Le enseño en un minuto cómo hablar conmigo." in said
    assert "Pruebe ahora: escriba 1." in said
    for answer in ("1", "1", "1", "1"):  # the practice steps, by number
        assert not texts(chat.send(answer)).endswith(MENU)
    said = texts(chat.send("1"))
    assert "¡Ya sabe lo básico!" in said
    assert said.endswith(MENU)


# -- wrong answers -------------------------------------------------------------------------

WRONG = [
    pytest.param("category", {"text": "💡🔦"}, HINT_CHOICE, id="emoji-for-a-choice"),
    pytest.param("category", {"text": "7"}, HINT_CHOICE, id="number-above-range"),
    pytest.param("category", {"text": "0"}, HINT_CHOICE, id="number-zero"),
    pytest.param("category", {"choice": "fireworks"}, HINT_CHOICE, id="unknown-button"),
    pytest.param("category", {"location": Location(37.18, -3.44)}, HINT_CHOICE, id="location-for-a-choice"),
    pytest.param("category", {"photos": (Photo("media:5"),)}, HINT_CHOICE, id="photo-for-a-choice"),
    pytest.param("description", {"text": "x" * 10_240}, HINT_TOO_LONG, id="10KB-text"),
    pytest.param("description", {"text": "ok"}, HINT_TOO_SHORT, id="too-short"),
    pytest.param("description", {"text": "💡"}, HINT_TOO_SHORT, id="one-emoji"),
    pytest.param("description", {"photos": (Photo("media:5"),)}, HINT_NOT_TEXT, id="photo-for-text"),
    pytest.param("description", {"location": Location(37.18, -3.44)}, HINT_NOT_TEXT, id="location-for-text"),
    pytest.param("description", {"unsupported": "sticker"}, UNSUPPORTED, id="sticker"),
    pytest.param("photo", {"text": "no sé"}, HINT_PHOTO, id="text-for-a-photo"),
    pytest.param("photo", {"unsupported": "voice"}, UNSUPPORTED, id="voice-note"),
    pytest.param("location", {"text": "💡🔦😡"}, HINT_LOCATION, id="emoji-for-a-place"),
    pytest.param("location", {"text": "https://example.com/somewhere"}, HINT_LOCATION, id="link-without-place"),
    pytest.param("location", {"text": "@95.0,200.0"}, HINT_LOCATION, id="coordinates-off-earth"),
    pytest.param("confirm", {"text": "quizás"}, HINT_YES_NO, id="maybe"),
    pytest.param("confirm", {"text": "👍"}, HINT_YES_NO, id="thumbs-up"),
]


@pytest.mark.parametrize(("step", "wrong", "hint"), WRONG)
def test_a_wrong_answer_gets_a_hint_and_the_question_again_and_loses_nothing(
    config: Config, database: Database, step: str, wrong: dict[str, Any], hint: str
) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, step)
    before = conversation_row(database)

    replies = send(chat, wrong)
    assert len(replies) == 1
    assert hint in replies[0].text
    assert replies[0].text.index(hint) < replies[0].text.index(QUESTION[step]), "the hint comes before the question"
    after = conversation_row(database)
    assert (after.state, after.data["answers"]) == (before.state, before.data["answers"])

    assert_good_request(database, finish(chat, step))


def test_an_empty_message_asks_the_same_question_again_and_loses_nothing(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "description")
    for empty in ("", "   ", "\n\t"):
        replies = chat.send(empty)
        assert len(replies) == 1
        assert replies[0].text.endswith(QUESTION["description"])
    assert_good_request(database, finish(chat, "description"))


def test_an_empty_message_gets_the_empty_text_hint(config: Config, database: Database) -> None:
    """messages.yaml has a hint for exactly this (hint_text_empty); the resident should get it."""
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "description")
    replies = chat.send("")
    assert HINT_EMPTY in texts(replies)
    assert texts(replies).endswith(QUESTION["description"])


@pytest.mark.parametrize(
    "description",
    [
        "<script>alert(1)</script>",
        "{ticket} {department} {summary}",
        "Farola rota\n\n-- DROP TABLE service_requests; --",
    ],
    ids=["html", "placeholders", "sql"],
)
def test_a_description_is_stored_and_shown_verbatim(config: Config, database: Database, description: str) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "description")
    assert texts(chat.send(description)) == QUESTION["photo"]
    chat.send("omitir")
    replies = chat.send("Calle Real 5")
    assert f"• {description}" in replies[0].text
    replies = chat.send("sí")
    row = the_request(database, ticket_of(replies))
    assert row.description == description


def test_a_long_text_then_a_good_one_goes_on(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "description")
    replies = chat.send("a" * 10_240)
    assert HINT_TOO_LONG in replies[0].text
    assert texts(chat.send("x" * 1000)) == QUESTION["photo"], "exactly the limit is fine"
    chat.send("omitir")
    chat.send("Calle Real 5")
    replies = chat.send("sí")
    assert the_request(database, ticket_of(replies)).description == "x" * 1000


# -- delivery: dedup, order, restart ---------------------------------------------------------


def test_a_redelivered_message_is_processed_once(config: Config, database: Database) -> None:
    bot = Bot(config, database)
    chat = bot.chat()
    message = chat.message("hola", message_id="platform-42")
    first = accept(database.writer, [message])
    second = accept(database.writer, [message])
    assert first[0].duplicate is False
    assert second[0].duplicate is True
    assert second[0].id == first[0].id

    replies = chat.process()
    assert len(replies) == 1
    assert replies[0].text.endswith(MENU)

    # Redelivered again after it was processed: still nothing new.
    third = accept(database.writer, [message])
    assert third[0] == type(third[0])(first[0].id, True)
    assert chat.process() == []
    assert chat.send("hola", message_id="platform-42") == []

    assert count(database, INBOX, INBOX.c.platform_message_id == "platform-42") == 1
    # Twice in one delivery batch: stored once too.
    again = chat.message("1", message_id="platform-43")
    both = accept(database.writer, [again, again])
    assert [a.duplicate for a in both] == [False, True] and both[0].id == both[1].id
    assert texts(chat.process()) == QUESTION["category"]
    assert count(database, OUTBOX, OUTBOX.c.inbox_id == both[0].id) == 1
    assert count(database, OUTBOX, OUTBOX.c.inbox_id == first[0].id) == 1
    assert count(database, OUTBOX) == 2
    assert conversation_row(database).version == 2


def test_interleaved_conversations_each_get_their_replies_in_order(config: Config, database: Database) -> None:
    bot = Bot(config, database)
    chats = [bot.chat(f"vecino-{n}") for n in range(3)]
    scripts = [
        ["hola", "1", "1", f"Farola {n} apagada", "omitir", f"Calle Real {n + 1}", "sí"] for n in range(len(chats))
    ]
    messages = [
        chat.message(script[i]) for i in range(len(scripts[0])) for chat, script in zip(chats, scripts, strict=True)
    ]
    accepted = accept(database.writer, messages)
    assert not any(a.duplicate for a in accepted)

    assert bot.processor().run_once() == len(messages)
    assert count(database, INBOX, INBOX.c.status != "done") == 0

    expected = [
        MENU,
        QUESTION["category"],
        QUESTION["description"],
        QUESTION["photo"],
        QUESTION["location"],
        QUESTION["confirm"],
        THANKS,
    ]
    tickets = []
    for n, chat in enumerate(chats):
        replies = chat.pop()
        assert len(replies) == len(expected)
        for reply, question in zip(replies, expected, strict=True):
            assert question in reply.text
        assert f"Farola {n} apagada" in replies[5].text
        ticket = ticket_of(replies[-1:])
        tickets.append(ticket)
        with database.reader.connect() as connection:
            row = connection.execute(select(REQUESTS).where(REQUESTS.c.ticket == ticket)).one()
            reply_inbox_ids = [
                r.inbox_id
                for r in connection.execute(
                    select(OUTBOX.c.inbox_id).where(OUTBOX.c.chat_id == chat.chat_id).order_by(OUTBOX.c.id)
                )
            ]
        assert row.description == f"Farola {n} apagada"
        assert row.address == f"Calle Real {n + 1}"
        assert row.resident_id == conversation_row(database, chat.chat_id).resident_id
        assert reply_inbox_ids == [a.id for a in accepted[n :: len(chats)]], "one reply per message, in order"
    assert len(set(tickets)) == 3


def test_a_conversation_survives_a_restart(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    walk_to(chat, "photo")

    restarted = Bot(config, database).chat()
    assert texts(restarted.send("omitir")) == QUESTION["location"]
    restarted.send("Calle Real 5")
    replies = restarted.send("sí")
    assert_good_request(database, ticket_of(replies))


def test_pending_messages_are_processed_after_a_restart(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    open_report(chat)
    accept(database.writer, [chat.message("1"), chat.message("Farola apagada")])  # accepted, then "crash"

    restarted = Bot(config, database).chat()
    replies = restarted.process()
    assert [r.text for r in replies] == [QUESTION["description"], QUESTION["photo"]]
    assert conversation_row(database).data["answers"]["description"] == "Farola apagada"


# -- flow versions and reloads ------------------------------------------------------------------

NEW_DESCRIPTION = "Describa la incidencia con sus palabras."
NEW_PHOTO = "Adjunte una foto si la tiene; si no, pulse «Omitir»."


@pytest.fixture
def flows_copy(config: Config, tmp_path: Path) -> tuple[Config, Path]:
    folder = tmp_path / "flows"
    shutil.copytree(config.flows_dir, folder)
    return dataclasses.replace(config, flows_dir=folder), folder


def rewrite(path: Path, old: str, new: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert old in source
    path.write_text(source.replace(old, new), encoding="utf-8")


def test_a_conversation_keeps_its_flow_version_after_a_reload(
    flows_copy: tuple[Config, Path], database: Database
) -> None:
    config, folder = flows_copy
    bot = Bot(config, database)
    alice = bot.chat("alice")
    open_report(alice)  # alice is on the first version of report_incident
    started = conversation_row(database, "alice").flow_version

    rewrite(folder / "report_incident.yaml", QUESTION["description"], NEW_DESCRIPTION)
    rewrite(folder / "report_incident.yaml", QUESTION["photo"], NEW_PHOTO)
    bot.catalog.reload()
    assert bot.catalog.current("report_incident").version != started

    assert texts(alice.send("1")) == QUESTION["description"], "the ongoing report keeps its wording"

    bob = bot.chat("bob")
    open_report(bob)
    assert texts(bob.send("1")) == NEW_DESCRIPTION, "a new report gets the new wording"
    assert conversation_row(database, "bob").flow_version == bot.catalog.current("report_incident").version

    alice.send("Farola apagada")
    alice.send("omitir")
    alice.send("Calle Real 5")
    assert THANKS in texts(alice.send("sí"))

    # Once alice's report is over, her next one is on the new version.
    assert texts(alice.send("1")) == QUESTION["category"]
    assert texts(alice.send("1")) == NEW_DESCRIPTION


def test_moved_sends_conversations_on_an_older_version_to_the_new_states(
    flows_copy: tuple[Config, Path], database: Database
) -> None:
    """An admin who renames a state can say where residents halfway through go on (``moved:``)."""
    config, folder = flows_copy
    bot = Bot(config, database)
    alice = bot.chat("alice")
    open_report(alice)
    assert texts(alice.send("1")) == QUESTION["description"]
    started = conversation_row(database, "alice").flow_version

    flow = folder / "report_incident.yaml"
    rewrite(flow, "  description:\n", "  details:\n")
    rewrite(flow, "    next: description\n", "    next: details\n")
    rewrite(flow, QUESTION["description"], NEW_DESCRIPTION)
    rewrite(flow, "requires: null\n", "requires: null\nmoved:\n  description: details\n")
    bot.catalog.reload()

    assert texts(alice.send("Farola apagada")) == QUESTION["photo"], "her answer counts in the renamed state"
    row = conversation_row(database, "alice")
    assert row.flow_version != started and row.flow_version == bot.catalog.current("report_incident").version
    assert row.state == "photo"
    assert texts(alice.send("atrás")) == NEW_DESCRIPTION, "the way back follows the move too"
    alice.send("Farola apagada")
    alice.send("omitir")
    alice.send("Calle Real 5")
    assert THANKS in texts(alice.send("sí"))
    assert conversation_row(database, "alice").data["answers"] == {}


def test_moved_must_name_states_of_the_new_version(flows_copy: tuple[Config, Path]) -> None:
    config, folder = flows_copy
    rewrite(folder / "report_incident.yaml", "requires: null\n", "requires: null\nmoved:\n  description: detalis\n")
    with pytest.raises(FlowErrors) as caught:
        load_snapshot(config)
    assert [e.problem for e in caught.value.errors] == [
        "`moved` sends `description` to `detalis`, which is not a state of this flow"
    ]
    source = (folder / "report_incident.yaml").read_text(encoding="utf-8").splitlines()
    assert caught.value.errors[0].line == source.index("  description: detalis") + 1


def test_a_conversation_keeps_its_flow_version_after_a_restart(
    flows_copy: tuple[Config, Path], database: Database
) -> None:
    """After a restart the old version is no longer in memory: it comes from the flow_versions table."""
    config, folder = flows_copy
    alice = Bot(config, database).chat("alice")
    open_report(alice)
    assert texts(alice.send("1")) == QUESTION["description"]
    started = conversation_row(database, "alice").flow_version

    rewrite(folder / "report_incident.yaml", QUESTION["photo"], NEW_PHOTO)
    restarted = Bot(config, database)
    assert restarted.catalog.current("report_incident").version != started
    alice = restarted.chat("alice")

    # One processing pass (not the driver's retry loop, which would wait out three lock timeouts on SQLite).
    accept(database.writer, [alice.message("Farola apagada")])
    restarted.processor().run_once()
    assert texts(alice.pop()) == QUESTION["photo"], "the ongoing report keeps its wording"
    assert conversation_row(database, "alice").flow_version == started
    alice.send("omitir")
    alice.send("Calle Real 5")
    assert THANKS in texts(alice.send("sí"))

    bob = restarted.chat("bob")
    open_report(bob)
    bob.send("1")
    assert texts(bob.send("Farola apagada")) == NEW_PHOTO, "a new report gets the new wording"


BREAKAGES = {
    "yaml-syntax": lambda folder: (folder / "report_incident.yaml").write_text(
        "flow: report_incident\nstates: [unclosed\n  category: {\n", encoding="utf-8"
    ),
    "unknown-next-state": lambda folder: rewrite(folder / "report_incident.yaml", "next: photo", "next: fotografia"),
    "unknown-action": lambda folder: rewrite(
        folder / "report_incident.yaml", "action: create_service_request", "action: launch_rocket"
    ),
    "missing-main-flow": lambda folder: (folder / "main_menu.yaml").unlink(),
    "broken-words": lambda folder: (folder / "words.yaml").write_text("words: {menu: []}\n", encoding="utf-8"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_flow_on_reload_keeps_the_last_good_version(
    flows_copy: tuple[Config, Path], database: Database, breakage: str
) -> None:
    config, folder = flows_copy
    bot = Bot(config, database)
    alice = bot.chat("alice")
    open_report(alice)
    good = bot.catalog.snapshot

    rewrite(folder / "report_incident.yaml", QUESTION["description"], NEW_DESCRIPTION)
    BREAKAGES[breakage](folder)
    with pytest.raises(FlowErrors) as raised:
        bot.catalog.reload()
    assert raised.value.errors, "the error lists what is wrong"
    assert bot.catalog.snapshot is good

    # The ongoing conversation and a new one both go on with the last good flows.
    assert texts(alice.send("1")) == QUESTION["description"]
    bob = bot.chat("bob")
    open_report(bob)
    assert texts(bob.send("1")) == QUESTION["description"]
    assert bot.catalog.snapshot.words.match("menú") is not None
    # two places: the same one would offer bob alice's report to follow
    for chat, place in ((alice, "Calle Real 5"), (bob, "Calle Mayor 2")):
        chat.send("Farola apagada")
        chat.send("omitir")
        chat.send(place)
        assert THANKS in texts(chat.send("sí"))
    assert len(service_requests(database)) == 2


# -- a step that fails ------------------------------------------------------------------------


def test_a_failing_step_rolls_back_and_apologizes_once_after_three_attempts(
    config: Config, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = Bot(config, database)
    chat = bot.chat()
    open_report(chat)
    walk_to(chat, "confirm")
    before = conversation_row(database)

    calls: list[object] = []

    def broken(context: object) -> object:
        calls.append(context)
        from bot.actions.incidents import create_service_request

        create_service_request(context)  # type: ignore[arg-type]  # writes the row, then fails
        raise RuntimeError("the ticket printer is on fire")

    spec = dataclasses.replace(ACTIONS["create_service_request"], run=broken)
    monkeypatch.setattr("bot.turn.ACTIONS", {**ACTIONS, "create_service_request": spec})

    [accepted] = accept(database.writer, [chat.message("sí")])
    processor = bot.processor()
    for attempt in (1, 2):
        assert processor.run_once() == 1
        with database.reader.connect() as connection:
            inbox = connection.execute(select(INBOX).where(INBOX.c.id == accepted.id)).one()
        assert (inbox.status, inbox.attempts) == ("pending", attempt)
        assert "the ticket printer is on fire" in inbox.error
        assert count(database, OUTBOX, OUTBOX.c.inbox_id == accepted.id) == 0
        assert service_requests(database) == []
        after = conversation_row(database)
        assert (after.state, after.version, after.data) == (before.state, before.version, before.data)

    assert processor.run_once() == 1
    assert processor.run_once() == 0
    assert calls, "the action ran (the processor may run it more than once per attempt: each run rolls back)"
    with database.reader.connect() as connection:
        inbox = connection.execute(select(INBOX).where(INBOX.c.id == accepted.id)).one()
        outbox = connection.execute(select(OUTBOX).where(OUTBOX.c.inbox_id == accepted.id)).all()
    assert (inbox.status, inbox.attempts) == ("failed", 3)
    assert len(outbox) == 1
    assert outbox[0].conversation_id == before.id
    assert service_requests(database) == []
    after = conversation_row(database)
    assert (after.state, after.version, after.data) == (before.state, before.version, before.data)

    replies = chat.pop()
    assert len(replies) == 1
    assert replies[0].text.startswith(APOLOGY)
    assert "he pasado su conversación a Alcaldía" in replies[0].text, "config.yaml's handoff.failures takes it"
    assert "RuntimeError" not in replies[0].text and "fire" not in replies[0].text
    assert chat.process() == [], "the apology is sent once"
    with database.reader.connect() as connection:
        handed = connection.execute(
            select(HANDOFFS.c.department, HANDOFFS.c.status).where(HANDOFFS.c.conversation_id == before.id)
        ).all()
    assert [tuple(row) for row in handed] == [("alcaldia", "waiting")]

    # Once the action works again, the same conversation can still send its report.
    monkeypatch.undo()
    replies = chat.send("sí")
    assert_good_request(database, ticket_of(replies))


def test_a_failing_step_does_not_hold_up_other_conversations(
    config: Config, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = Bot(config, database)
    alice, bob = bot.chat("alice"), bot.chat("bob")
    open_report(alice)
    walk_to(alice, "confirm")

    def broken(context: object) -> object:
        raise RuntimeError("boom")

    spec = dataclasses.replace(ACTIONS["create_service_request"], run=broken)
    monkeypatch.setattr("bot.turn.ACTIONS", {**ACTIONS, "create_service_request": spec})
    accept(database.writer, [alice.message("sí"), alice.message("menú"), bob.message("hola")])
    assert bot.processor().run_once() == 3
    # bob was answered; alice's later message waits behind her failed one.
    assert texts(bob.pop()).endswith(MENU)
    assert alice.pop() == []
    assert count(database, INBOX, INBOX.c.chat_id == "alice", INBOX.c.status == "pending") == 2
    replies = alice.process()
    assert replies[0].text.startswith(APOLOGY)
    assert replies[1].text == MENU, "the message after the failed one is handled, in order"
