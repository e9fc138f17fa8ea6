"""Procedures and plenary proposals: each stores a tracked request; the personal ones need a verified resident."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update

from bot.config import Config
from models import ChannelIdentity, Resident, ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__
RESIDENTS = Resident.__table__
IDENTITIES = ChannelIdentity.__table__

MENU = "¿En qué puedo ayudarle?"
WHICH = "¿Qué trámite quiere hacer?"
REFUSED = "Para este trámite necesito saber que es usted."
TICKET = re.compile(r"JUN-\d{4}-\d{6}")


def verify(database: Database, chat: Chat) -> None:
    """The town hall checked this chat's resident's ID."""
    mine = select(IDENTITIES.c.resident_id).where(
        IDENTITIES.c.channel == chat.channel, IDENTITIES.c.platform_user_id == chat.chat_id
    )
    with database.writer.begin() as connection:
        connection.execute(update(RESIDENTS).where(RESIDENTS.c.id.in_(mine)).values(verified=True))


def opened(config: Config, database: Database, *, verified: bool, language: str = "es") -> Chat:
    chat = Bot(config, database).chat(language=language)
    chat.say()
    if verified:
        verify(database, chat)
    return chat


def rows(database: Database) -> list[Any]:
    with database.writer.begin() as connection:
        return list(connection.execute(select(REQUESTS).order_by(REQUESTS.c.id)).all())


def ticket_in(answer: str) -> str:
    found = TICKET.search(answer)
    assert found is not None, answer
    return found.group(0)


def certificate(chat: Chat) -> str:
    chat.say("4")
    assert "¿Para qué necesita el certificado" in chat.say("certificado de empadronamiento")
    chat.say("para otra administración")
    assert "¿Solicitamos el certificado" in chat.say("por correo")
    return chat.say("sí")


def test_a_certificate_of_residence_is_a_request_for_the_secretaria(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=True)
    answer = certificate(chat)
    assert "Hecho, su solicitud es la" in answer and "La tramitará Secretaría." in answer
    assert answer.endswith(MENU)
    [row] = rows(database)
    assert row.ticket == ticket_in(answer)
    assert (row.kind, row.category, row.department, row.private, row.status) == (
        "procedure",
        "residence_certificate",
        "secretaria",
        False,
        "received",
    )
    assert row.details == {"purpose": "administration", "delivery": "post"}
    assert row.title is None and row.resident_id is not None


def test_a_bulky_waste_pickup_needs_no_verification(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=False)
    chat.say("4")
    assert "¿Qué hay que recoger?" in chat.say("recogida de muebles")
    chat.say("Un sofá y un colchón")
    chat.say("2")
    chat.say("Calle Real 5")
    answer = chat.say("15/03/2027")
    assert "¿Pedimos la recogida?" in answer and "15/03/2027" in answer and "Calle Real 5" in answer
    answer = chat.say("sí")
    [row] = rows(database)
    assert row.ticket == ticket_in(answer)
    assert (row.kind, row.category, row.department) == ("procedure", "bulky_waste", "secretaria")
    assert row.address == "Calle Real 5"
    assert row.details == {
        "items": "Un sofá y un colchón",
        "count": 2,
        "location": {"latitude": None, "longitude": None, "address": "Calle Real 5"},
        "day": "2027-03-15",
    }
    assert "day: 2027-03-15" in row.description and "location: Calle Real 5" in row.description


def test_an_activity_sign_up_keeps_the_participant(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=True, language="en")
    chat.say("4")
    [reply] = chat.send("sign up for a municipal activity")
    assert [option.label for option in reply.options] == ["Summer school", "Gym for older people", "Computer workshop"]
    chat.say("computer workshop")
    chat.say("Carmen López")
    assert "Computer workshop" in chat.say("68")
    answer = chat.say("yes")
    assert "Done, your sign-up is" in answer
    [row] = rows(database)
    assert (row.kind, row.category, row.department, row.language) == (
        "procedure",
        "activity_signup",
        "secretaria",
        "en",
    )
    assert row.details == {"activity": "computer_class", "participant": "Carmen López", "age": 68}


def test_a_plenary_proposal_goes_to_the_mayors_office(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=True)
    chat.say("4")
    assert "¿Cuál es su propuesta?" in chat.say("propuesta para el pleno")
    chat.say("Más bancos en la plaza")
    chat.say("Propongo cuatro bancos a la sombra.")
    assert "¿Enviamos su propuesta al pleno?" in chat.say("omitir")
    answer = chat.say("sí")
    assert "Gracias, su propuesta es la" in answer and "La estudiará Alcaldía" in answer
    [row] = rows(database)
    assert (row.kind, row.category, row.department, row.private) == ("proposal", "plenary_proposal", "alcaldia", False)
    assert row.title == "Más bancos en la plaza"
    assert row.description == "Propongo cuatro bancos a la sombra."
    assert row.photo_ref is None
    assert row.details == {"title": "Más bancos en la plaza", "text": "Propongo cuatro bancos a la sombra."}


def test_verified_only_procedures_refuse_an_unverified_resident(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=False)
    for option in ("certificado de empadronamiento", "inscripción en una actividad", "propuesta para el pleno"):
        assert WHICH in chat.say("4")
        answer = chat.say(option)
        assert REFUSED in answer, option
        assert answer.endswith(MENU), option
        assert "¿Para qué necesita" not in answer and "¿Cuál es su propuesta?" not in answer
    assert rows(database) == []
    verify(database, chat)
    chat.say("4")
    assert "¿Cuál es su propuesta?" in chat.say("propuesta para el pleno")


def test_my_requests_lists_procedures_with_their_tickets(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=True)
    certificate_ticket = ticket_in(certificate(chat))
    chat.say("4")
    chat.say("propuesta para el pleno")
    chat.say("Más bancos en la plaza")
    chat.say("Propongo cuatro bancos a la sombra.")
    chat.say("omitir")
    proposal_ticket = ticket_in(chat.say("sí"))
    answer = chat.say("mis avisos y trámites")
    lines = [line for line in answer.splitlines() if line.startswith("• ")]
    assert len(lines) == 2
    assert lines[0].startswith(f"• {proposal_ticket} · Propuesta para el pleno · ")
    assert lines[1].startswith(f"• {certificate_ticket} · Certificado de empadronamiento · ")
    chat.say("idioma en")
    answer = chat.say("my reports and requests")
    assert f"• {certificate_ticket} · Certificate of residence · " in answer


def test_back_from_a_procedure_returns_to_the_sub_menu(config: Config, database: Database) -> None:
    chat = opened(config, database, verified=True)
    chat.say("4")
    chat.say("1")
    answer = chat.say("atrás")
    assert WHICH in answer
    assert "¿Qué hay que recoger?" in chat.say("2")
