"""Officials take conversations over, answer, pass them on and give them back; the bot keeps quiet meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from bot.access import Actor
from bot.audit import entries
from bot.config import Config
from bot.errors import Conflict, NotAllowed, NotFound
from bot.handoff import Handoffs, current, department_of, in_flight
from bot.inbox import accept
from bot.notices import Wording
from bot.queues import queue
from models import Conversation, ConversationNote, HandoffRequest, Official, OutboxItem
from models.db import Database
from tests.support.driver import Bot, Chat

HANDOFFS = HandoffRequest.__table__
CONVERSATIONS = Conversation.__table__
OUTBOX = OutboxItem.__table__
NOTES = ConversationNote.__table__
OFFICIALS = Official.__table__

MENU = "¿En qué puedo ayudarle?"
TAKEN = "le atiende ahora por este chat"


def official(database: Database, username: str, department: str, role: str = "official", name: str = "") -> Actor:
    with database.writer.begin() as connection:
        official_id = connection.execute(
            insert(OFFICIALS)
            .values(
                username=username,
                name=name or username.title(),
                department=department,
                role=role,
                password_hash="-",
                language="es",
                disabled=False,
            )
            .returning(OFFICIALS.c.id)
        ).scalar_one()
    return Actor(official_id, username, name or username.title(), department, role)


def waiting_for(chat: Chat, department: str, message: str = "Quería hablar con alguien") -> int:
    """The resident asks for ``department`` through talk_to; returns the conversation's id."""
    chat.say("persona")
    chat.say("con un departamento")
    chat.say(department)
    chat.say(message)
    with chat.bot.database.reader.connect() as connection:
        return int(
            connection.execute(select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.chat_id == chat.chat_id)).scalar_one()
        )


def mode(database: Database, conversation_id: int) -> str:
    with database.reader.connect() as connection:
        return str(
            connection.execute(select(CONVERSATIONS.c.mode).where(CONVERSATIONS.c.id == conversation_id)).scalar_one()
        )


def act(database: Database, action: Any, *args: Any, **kwargs: Any) -> Any:
    with database.writer.begin() as connection:
        return action(connection, *args, **kwargs)


@pytest.fixture
def handoffs(config: Config) -> Handoffs:
    return Handoffs(Wording(config))


@pytest.fixture
def bot(config: Config, database: Database) -> Bot:
    return Bot(config, database)


def test_the_word_persona_starts_talk_to_from_anywhere(bot: Bot) -> None:
    chat = bot.chat()
    chat.say()
    chat.say("1")  # in the middle of a report
    assert "¿Con quién quiere hablar?" in chat.say("persona")
    english = bot.chat("bob", language="en")
    english.say()
    assert "Who would you like to talk to?" in english.say("talk to a person")


def test_taking_over_silences_the_bot_and_the_official_answers(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    assert mode(database, conversation) == "waiting"
    ana = official(database, "ana", "servicios", name="Ana")

    act(database, handoffs.take, ana, conversation)
    assert mode(database, conversation) == "official"
    [notice] = chat.process()
    assert (
        notice.text == "Ana, del Ayuntamiento, le atiende ahora por este chat. El asistente automático queda en pausa."
    )

    assert chat.send("Hola, ¿hay alguien?") == []
    assert chat.send("1") == [], "not even a menu number reaches the bot"
    act(database, handoffs.reply, ana, conversation, "Hola, soy Ana. ¿En qué calle está la farola?")
    [answer] = chat.process()
    assert answer.text == "Ana: Hola, soy Ana. ¿En qué calle está la farola?"
    with database.reader.connect() as connection:
        writers = connection.execute(select(OUTBOX.c.official_id).where(OUTBOX.c.id == answer.id)).scalar_one()
    assert writers == ana.official_id

    act(database, handoffs.resolve, ana, conversation)
    assert mode(database, conversation) == "bot"
    [resolved] = chat.process()
    assert "Damos su consulta por resuelta" in resolved.text
    assert MENU in chat.say("menú"), "the bot answers again"
    with database.reader.connect() as connection:
        handoff = connection.execute(select(HANDOFFS).where(HANDOFFS.c.conversation_id == conversation)).one()
    assert (handoff.status, handoff.official_id) == ("resolved", ana.official_id)
    assert handoff.taken_at is not None and handoff.resolved_at is not None


def test_a_takeover_cancels_the_bots_pending_replies_in_the_same_transaction(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    accept(database.writer, [chat.message("menú")])
    processor = bot.processor()
    assert processor.run_once() == 1  # the bot's answer is written, not yet sent
    with database.reader.connect() as connection:
        pending = connection.execute(
            select(OUTBOX.c.id).where(OUTBOX.c.conversation_id == conversation, OUTBOX.c.status == "pending")
        ).all()
    assert pending, "the bot's menu waits in the outbox"

    ana = official(database, "ana", "servicios", name="Ana")
    act(database, handoffs.take, ana, conversation)
    with database.reader.connect() as connection:
        statuses = {
            row.id: (row.status, row.last_error)
            for row in connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.last_error).where(
                    OUTBOX.c.id.in_([r.id for r in pending])
                )
            )
        }
        assert in_flight(connection, conversation) == 0
    assert set(statuses.values()) == {("cancelled", "taken over by ana")}
    sent = chat.process()
    assert [m.text for m in sent] == [
        "Ana, del Ayuntamiento, le atiende ahora por este chat. El asistente automático queda en pausa."
    ]
    [audit] = [e for e in entries_of(database, conversation) if e.action == "take"]
    assert audit.detail["bot_replies_cancelled"] == len(pending)


def entries_of(database: Database, conversation_id: int) -> list[Any]:
    with database.reader.connect() as connection:
        return list(entries(connection, conversation_id=conversation_id))


def test_officials_act_only_on_their_own_department(bot: Bot, database: Database, handoffs: Handoffs) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    police = official(database, "antonio", "policia")
    admin = official(database, "alcaldesa", "alcaldia", role="admin")

    for action in (handoffs.take, handoffs.release, handoffs.resolve):
        with pytest.raises(NotFound, match="no conversation"):
            act(database, action, police, conversation)
    with pytest.raises(NotFound):
        act(database, handoffs.reply, police, conversation, "hola")
    with pytest.raises(NotFound):
        act(database, handoffs.note, police, conversation, "curioseando")
    assert mode(database, conversation) == "waiting"
    assert chat.process() == []

    act(database, handoffs.take, admin, conversation)  # a town admin sees every department
    assert mode(database, conversation) == "official"


def test_a_second_official_cannot_take_a_taken_conversation(bot: Bot, database: Database, handoffs: Handoffs) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    ana = official(database, "ana", "servicios", name="Ana")
    luis = official(database, "luis", "servicios", name="Luis")
    first = act(database, handoffs.take, ana, conversation)
    assert act(database, handoffs.take, ana, conversation) == first, "taking it again is harmless"
    with pytest.raises(Conflict, match="another official"):
        act(database, handoffs.take, luis, conversation)
    with pytest.raises(NotAllowed, match="only they or a department lead"):
        act(database, handoffs.resolve, luis, conversation)
    lead = official(database, "marta", "servicios", role="lead")
    act(database, handoffs.release, lead, conversation)
    assert mode(database, conversation) == "bot"
    with pytest.raises(Conflict, match="already with the bot"):
        act(database, handoffs.resolve, lead, conversation)


def test_transfer_moves_the_conversation_to_another_departments_queue(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios", "Hay unos chavales haciendo ruido de madrugada")
    ana = official(database, "ana", "servicios", name="Ana")
    act(database, handoffs.take, ana, conversation)
    chat.process()

    act(database, handoffs.transfer, ana, conversation, department="policia")
    assert mode(database, conversation) == "waiting"
    [told] = chat.process()
    assert told.text == "Le pasamos con Policía Local. Le responderán por este mismo chat."
    with database.reader.connect() as connection:
        assert department_of(connection, conversation) == "policia"
        now = current(connection, conversation)
        rows = connection.execute(
            select(HANDOFFS.c.department, HANDOFFS.c.status).where(HANDOFFS.c.conversation_id == conversation)
        ).all()
    assert now is not None and (now.department, now.status) == ("policia", "waiting")
    assert [tuple(r) for r in rows] == [("servicios", "transferred"), ("policia", "waiting")]
    with database.reader.connect() as connection:
        assert queue(connection, ana, "resolved") == [], "passed on is not resolved: it is the police's now"
        assert [item.conversation_id for item in queue(connection, ana, "open")] == []
    with pytest.raises(NotFound):
        act(database, handoffs.reply, ana, conversation, "¿sigue ahí?")  # no longer Ana's department
    police = official(database, "antonio", "policia", name="Antonio")
    act(database, handoffs.take, police, conversation)
    with pytest.raises(NotFound, match="no department 'bomberos'"):
        act(database, handoffs.transfer, police, conversation, department="bomberos")


def test_notes_stay_internal_and_every_action_is_audited(bot: Bot, database: Database, handoffs: Handoffs) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    ana = official(database, "ana", "servicios", name="Ana")
    act(database, handoffs.note, ana, conversation, "Vecina de la calle Real; ya llamó ayer.")
    assert chat.process() == [], "residents never see notes"
    act(database, handoffs.take, ana, conversation)
    act(database, handoffs.reply, ana, conversation, "Buenos días")
    act(database, handoffs.transfer, ana, conversation, department="secretaria")
    clerk = official(database, "pepa", "secretaria", role="clerk")
    act(database, handoffs.take, clerk, conversation)
    act(database, handoffs.release, clerk, conversation)
    with database.reader.connect() as connection:
        note = connection.execute(select(NOTES.c.text, NOTES.c.official_id)).one()
    assert tuple(note) == ("Vecina de la calle Real; ya llamó ayer.", ana.official_id)
    trail = [(e.actor, e.action) for e in reversed(entries_of(database, conversation))]
    assert trail == [
        ("ana", "note"),
        ("ana", "take"),
        ("ana", "reply"),
        ("ana", "transfer"),
        ("pepa", "take"),
        ("pepa", "release"),
    ]


def test_the_resident_is_told_the_wait_once_the_department_has_history(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    first = bot.chat("alice")
    first.say()
    conversation = waiting_for(first, "secretaria")
    with database.writer.begin() as connection:  # a clerk took it 12 minutes after it was asked
        created = connection.execute(select(HANDOFFS.c.created_at)).scalar_one()
        set_taken(connection, conversation, created, minutes=12)
    second = bot.chat("bob")
    second.say()
    third = bot.chat("carol")
    third.say()
    waiting_for(second, "secretaria")
    third.say("persona")
    third.say("con un departamento")
    third.say("secretaría")
    answer = third.say("Es por un certificado")
    assert "Personas esperando antes que usted: 1. Espera habitual: 12 minutos." in answer


def set_taken(connection: Connection, conversation_id: int, created: datetime, *, minutes: int) -> None:
    connection.execute(
        HANDOFFS.update()
        .where(HANDOFFS.c.conversation_id == conversation_id)
        .values(status="resolved", taken_at=created + timedelta(minutes=minutes))
    )


def test_a_resident_withdraws_a_waiting_request_with_cancel_at_the_menu(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    ana = official(database, "ana", "servicios", name="Ana")

    # in the middle of another flow, "cancelar" leaves that flow and says the request still stands
    chat.say("1")
    said = chat.say("cancelar")
    assert said.startswith("De acuerdo, lo dejamos aquí.") and "sigue en pie" in said, said
    assert mode(database, conversation) == "waiting"

    said = chat.say("cancelar")  # now at the menu: the request is withdrawn
    assert said.startswith("De acuerdo, retiro su petición de hablar con una persona."), said
    assert MENU in said
    assert mode(database, conversation) == "bot"
    with database.reader.connect() as connection:
        assert current(connection, conversation) is None
        [withdrawn] = queue(connection, ana, "resolved")
        assert queue(connection, ana, "waiting") == []
    assert (withdrawn.conversation_id, withdrawn.status) == (conversation, "cancelled")
    with pytest.raises(Conflict, match="already with the bot"):
        act(database, handoffs.resolve, ana, conversation)
    assert MENU in chat.say("menú"), "the bot answers as before"
    assert "¿Con quién quiere hablar?" in chat.say("persona"), "and a new request can be made"


def test_cancel_does_not_withdraw_a_conversation_an_official_has(
    bot: Bot, database: Database, handoffs: Handoffs
) -> None:
    chat = bot.chat()
    chat.say()
    conversation = waiting_for(chat, "servicios")
    ana = official(database, "ana", "servicios", name="Ana")
    act(database, handoffs.take, ana, conversation)
    chat.process()
    assert chat.send("cancelar") == [], "the official has it: the word reaches the official, not the bot"
    assert mode(database, conversation) == "official"
