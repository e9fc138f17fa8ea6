"""The council's decision on a plenary proposal: the status changes and the proposer is told once, in their language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update

from bot.config import Config
from bot.proposals import DecisionError, find_request, set_proposal_decision
from models import ChannelIdentity, OutboxItem, Resident, ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__
OUTBOX = OutboxItem.__table__
RESIDENTS = Resident.__table__
IDENTITIES = ChannelIdentity.__table__
TICKET = re.compile(r"JUN-\d{4}-\d{6}")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def propose(chat: Chat, database: Database, title: str = "Más bancos en la plaza") -> str:
    """A verified resident sends a whole proposal in Spanish; returns its ticket."""
    chat.say()
    mine = select(IDENTITIES.c.resident_id).where(IDENTITIES.c.platform_user_id == chat.chat_id)
    with database.writer.begin() as connection:
        connection.execute(update(RESIDENTS).where(RESIDENTS.c.id.in_(mine)).values(verified=True))
    chat.say("4")
    chat.say("propuesta para el pleno")
    chat.say(title)
    chat.say("Propongo cuatro bancos a la sombra.")
    chat.say("omitir")
    found = TICKET.search(chat.say("sí"))
    assert found is not None
    return found.group(0)


def decide(config: Config, database: Database, ticket: str, decision: str, plenary: date | None = None) -> bool:
    with database.writer.begin() as connection:
        request_id = find_request(connection, ticket)
        assert request_id is not None
        return set_proposal_decision(connection, config, request_id, decision, date=plenary, now=NOW).notified


def status_and_details(database: Database, ticket: str) -> tuple[str, dict[str, object]]:
    with database.writer.begin() as connection:
        row = connection.execute(select(REQUESTS).where(REQUESTS.c.ticket == ticket)).one()
    return row.status, row.details


def pending(database: Database) -> int:
    with database.writer.begin() as connection:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status == "pending")
        return int(connection.execute(query).scalar_one())


def test_an_accepted_proposal_is_told_once(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    ticket = propose(chat, database)
    assert decide(config, database, ticket.lower(), "accepted") is True
    [told] = chat.pop()
    assert told.text == (
        f"Buenas noticias: su propuesta {ticket} «Más bancos en la plaza» ha sido aceptada "
        "y se incluirá en el orden del día del pleno."
    )
    assert status_and_details(database, ticket)[0] == "accepted"
    assert decide(config, database, ticket, "accepted") is False
    assert chat.pop() == []
    assert pending(database) == 0


def test_a_rejected_proposal_is_told(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    ticket = propose(chat, database)
    assert decide(config, database, ticket, "rejected") is True
    [told] = chat.pop()
    assert told.text.startswith(f"Su propuesta {ticket} «Más bancos en la plaza» no se llevará al pleno esta vez.")
    assert status_and_details(database, ticket)[0] == "rejected"


def test_a_scheduled_proposal_is_told_the_date_in_the_residents_language_now(
    config: Config, database: Database
) -> None:
    chat = Bot(config, database).chat()
    ticket = propose(chat, database)
    chat.say("idioma en")  # the resident switched to English after proposing
    assert decide(config, database, ticket, "scheduled", date(2026, 12, 18)) is True
    [told] = chat.pop()
    assert told.text.startswith(
        f'Your proposal {ticket} "Más bancos en la plaza" will be debated at the council meeting on 18/12/2026.'
    )
    status, details = status_and_details(database, ticket)
    assert status == "scheduled" and details["plenary_date"] == "2026-12-18"
    assert decide(config, database, ticket, "scheduled", date(2026, 12, 18)) is False
    assert chat.pop() == []
    assert decide(config, database, ticket, "scheduled", date(2027, 1, 29)) is True  # moved: told again
    [moved] = chat.pop()
    assert "29/01/2027" in moved.text
    assert status_and_details(database, ticket)[1]["plenary_date"] == "2027-01-29"


def test_only_proposals_take_a_decision(config: Config, database: Database) -> None:
    chat = Bot(config, database).chat()
    ticket = propose(chat, database)
    chat.say("4")
    chat.say("recogida de muebles")
    chat.say("Un sofá")
    chat.say("1")
    chat.say("Calle Real 5")
    chat.say("mañana")
    pickup = TICKET.search(chat.say("sí"))
    assert pickup is not None
    with database.writer.begin() as connection:
        pickup_id = find_request(connection, pickup.group(0))
        proposal_id = find_request(connection, ticket)
        assert pickup_id is not None and proposal_id is not None
        with pytest.raises(DecisionError, match="is not a proposal"):
            set_proposal_decision(connection, config, pickup_id, "accepted", now=NOW)
        with pytest.raises(DecisionError, match="needs the plenary's date"):
            set_proposal_decision(connection, config, proposal_id, "scheduled", now=NOW)
        with pytest.raises(DecisionError, match="only goes with `scheduled`"):
            set_proposal_decision(connection, config, proposal_id, "accepted", date=date(2026, 12, 18), now=NOW)
        with pytest.raises(DecisionError, match="unknown decision"):
            set_proposal_decision(connection, config, proposal_id, "maybe", now=NOW)
        assert find_request(connection, "JUN-2000-999999") is None
    assert status_and_details(database, ticket)[0] == "received"
    assert status_and_details(database, pickup.group(0))[0] == "received"
    assert chat.pop() == []
