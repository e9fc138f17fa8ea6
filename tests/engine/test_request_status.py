"""Status changes reach the reporter and every follower, in their language, with the time it took; once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from bot.config import Config
from bot.flows import load_messages
from bot.request_status import (
    UnknownRequest,
    UnknownStatus,
    humanized,
    request_id_for,
    set_request_status,
)
from models import Conversation, OutboxItem, RequestFollower, RequestUpdate, ServiceRequest
from models.db import Database
from tests.engine.test_nearby import PLAZA, chat, report, up_to_place
from tests.support.driver import Bot, Chat

REQUESTS = ServiceRequest.__table__
FOLLOWERS = RequestFollower.__table__
UPDATES = RequestUpdate.__table__
OUTBOX = OutboxItem.__table__
CONVERSATIONS = Conversation.__table__


@pytest.fixture
def bot(config: Config, database: Database) -> Bot:
    return Bot(config, database)


def created_at(database: Database, ticket: str) -> datetime:
    with database.writer.begin() as connection:
        value: datetime = connection.execute(
            select(REQUESTS.c.created_at).where(REQUESTS.c.ticket == ticket)
        ).scalar_one()
    return value


def change(
    config: Config, database: Database, ticket: str, status: str, after: timedelta, note: str | None = None
) -> int:
    """Set the status ``after`` the report was made; returns how many were told."""
    now = created_at(database, ticket) + after
    with database.writer.begin() as connection:
        request_id = request_id_for(connection, ticket)
        return set_request_status(connection, config, request_id, status, note=note, now=now).notified


def outbox_count(database: Database) -> int:
    with database.writer.begin() as connection:
        return int(connection.execute(select(func.count()).select_from(OUTBOX)).scalar_one())


def test_fixed_is_told_to_the_reporter_and_each_follower_in_their_language(
    config: Config, database: Database, bot: Bot
) -> None:
    alice = chat(bot, "alice")
    ticket = report(alice, "alumbrado", "La farola está apagada", PLAZA)
    bob = chat(bot, "bob", language="en")
    up_to_place(bob, "street lighting", "The streetlight is off", PLAZA)
    bob.say("yes")
    carol = chat(bot, "carol")
    up_to_place(carol, "alumbrado", "No hay luz en la plaza", PLAZA)
    carol.say("sí")
    dave = chat(bot, "dave")  # neither reported nor follows it
    before = outbox_count(database)

    assert change(config, database, ticket, "fixed", timedelta(hours=2, minutes=10)) == 3

    assert [m.text for m in alice.pop()] == [
        f"Aviso {ticket}: ¡arreglado! Se ha resuelto en 2 horas. Gracias por avisar."
    ]
    assert [m.text for m in bob.pop()] == [
        f"Report {ticket}: fixed! It was solved in 2 hours. Thank you for letting us know."
    ]
    assert [m.text for m in carol.pop()] == [
        f"Aviso {ticket}: ¡arreglado! Se ha resuelto en 2 horas. Gracias por avisar."
    ]
    assert dave.pop() == []
    assert outbox_count(database) == before + 3
    with database.writer.begin() as connection:
        row = connection.execute(select(REQUESTS.c.status, REQUESTS.c.updated_at)).one()
        updates = connection.execute(select(UPDATES.c.old_status, UPDATES.c.status)).all()
    assert row.status == "fixed"
    assert row.updated_at == created_at(database, ticket) + timedelta(hours=2, minutes=10)
    assert [tuple(u) for u in updates] == [("received", "fixed")]


def test_setting_the_same_status_again_sends_nothing(config: Config, database: Database, bot: Bot) -> None:
    alice = chat(bot, "alice", language="en")
    ticket = report_en(alice)
    assert change(config, database, ticket, "acknowledged", timedelta(minutes=5)) == 1
    assert [m.text for m in alice.pop()] == [f"Report {ticket}: the Town Hall has seen it and will deal with it."]
    before = outbox_count(database)
    assert change(config, database, ticket, "acknowledged", timedelta(minutes=9)) == 0
    assert alice.pop() == []
    assert outbox_count(database) == before
    with database.writer.begin() as connection:
        assert connection.execute(select(func.count()).select_from(UPDATES)).scalar_one() == 1


def report_en(chat_: Chat) -> str:
    chat_.say("report a problem")
    chat_.say("water")
    chat_.say("A pipe is leaking")
    chat_.say("skip")
    chat_.say("Calle Real 5")
    answer = chat_.say("yes")
    return answer.split("your report is ")[1].split(".")[0]


def test_each_step_is_told_and_a_note_is_added(config: Config, database: Database, bot: Bot) -> None:
    alice = chat(bot, "alice")
    ticket = report(alice, "agua", "Sale agua de una tubería", "Calle Real 5")
    change(config, database, ticket, "in_progress", timedelta(minutes=40), note="Mañana viene el fontanero.")
    assert [m.text for m in alice.pop()] == [
        f"Aviso {ticket}: ya están trabajando en ello.\n\nNota del Ayuntamiento: Mañana viene el fontanero."
    ]
    change(config, database, ticket, "closed", timedelta(days=3, hours=2))
    assert [m.text for m in alice.pop()] == [f"Aviso {ticket}: se ha cerrado, después de 3 días."]


def test_a_private_report_tells_only_its_reporter(config: Config, database: Database, bot: Bot) -> None:
    alice = chat(bot, "alice")
    alice.say("avisar a la policía local")
    alice.say("no")
    alice.say("Hay peleas en la plaza cada noche")
    alice.say("omitir")
    ticket = alice.say("sí").split("su aviso es el ")[1].split(".")[0]
    bob = chat(bot, "bob")
    # followers cannot be made for a private report; even a stray row is never told
    with database.writer.begin() as connection:
        request_id = request_id_for(connection, ticket)
        bob_resident = connection.execute(
            select(CONVERSATIONS.c.resident_id).where(CONVERSATIONS.c.chat_id == "bob")
        ).scalar_one()
        connection.execute(
            insert(FOLLOWERS).values(
                request_id=request_id,
                resident_id=bob_resident,
                channel="test",
                chat_id="bob",
                language="es",
                created_at=datetime.now(UTC),
            )
        )
    assert change(config, database, ticket, "fixed", timedelta(minutes=20)) == 1
    assert [m.text for m in alice.pop()] == [
        f"Aviso {ticket}: ¡arreglado! Se ha resuelto en 20 minutos. Gracias por avisar."
    ]
    assert bob.pop() == []


def test_unknown_status_or_request_changes_nothing(config: Config, database: Database, bot: Bot) -> None:
    alice = chat(bot, "alice")
    ticket = report(alice, "agua", "Sale agua de una tubería", "Calle Real 5")
    when = created_at(database, ticket)
    with database.writer.begin() as connection:
        request_id = request_id_for(connection, ticket.lower())
        with pytest.raises(UnknownStatus, match="use one of: received, acknowledged"):
            set_request_status(connection, config, request_id, "solved", now=when)
        with pytest.raises(UnknownRequest):
            set_request_status(connection, config, request_id + 99, "fixed", now=when)
        with pytest.raises(UnknownRequest):
            request_id_for(connection, "JUN-1999-000001")
    assert alice.pop() == []


@pytest.mark.parametrize(
    ("elapsed", "spanish", "english"),
    [
        (timedelta(seconds=20), "1 minuto", "1 minute"),
        (timedelta(minutes=45), "45 minutos", "45 minutes"),
        (timedelta(minutes=70), "1 hora", "1 hour"),
        (timedelta(hours=47), "47 horas", "47 hours"),
        (timedelta(hours=49), "2 días", "2 days"),
        (timedelta(days=1, hours=23, minutes=59), "48 horas", "48 hours"),
        (timedelta(days=30), "30 días", "30 days"),
    ],
)
def test_the_time_it_took_in_words(config: Config, elapsed: timedelta, spanish: str, english: str) -> None:
    messages = load_messages(config.flows_dir / "messages.yaml", config.languages)
    assert humanized(elapsed, "es", messages, "es") == spanish
    assert humanized(elapsed, "en", messages, "es") == english
