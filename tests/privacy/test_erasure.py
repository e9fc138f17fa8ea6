"""«borrar mis datos»: after a yes, the resident's messages are blanked, requests anonymized, accounts unlinked."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.config import Config
from models import ChannelIdentity, InboxItem, OutboxItem, ServiceRequest
from models.db import Database
from tests.support.driver import Bot, Chat
from tests.support.reports import report_streetlight
from tests.support.residents import account, actions, issue, resident

INBOX = InboxItem.__table__
OUTBOX = OutboxItem.__table__
REQUESTS = ServiceRequest.__table__
IDENTITIES = ChannelIdentity.__table__

CONFIRM = "¿Seguro que quiere que borremos sus datos?"
ERASED = "hemos borrado sus datos"
REFUSED = "Para este trámite necesito saber que es usted."


def opened(bot: Bot, user: str) -> Chat:
    chat = bot.chat(user, channel="telegram")
    chat.say()
    return chat


def payloads(database: Database, chat_id: str) -> str:
    """Every stored message body of one chat, as one text."""
    with database.writer.begin() as connection:
        inbox = connection.execute(select(INBOX.c.payload, INBOX.c.raw).where(INBOX.c.chat_id == chat_id)).all()
        outbox = connection.execute(select(OUTBOX.c.payload).where(OUTBOX.c.chat_id == chat_id)).all()
    return json.dumps([[row.payload, row.raw] for row in inbox] + [row.payload for row in outbox], ensure_ascii=False)


def test_no_keeps_everything(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana = opened(bot, "ana")
    report_streetlight(ana, "Farola apagada frente a mi casa")
    assert CONFIRM in ana.say("borrar mis datos")
    assert "no he cambiado nada" in ana.say("no")
    assert "Farola apagada frente a mi casa" in payloads(database, "ana")
    assert account(database, "telegram", "ana") is not None


def test_yes_erases_the_residents_data_and_only_theirs(town: Config, database: Database) -> None:
    bot = Bot(town, database)
    ana, bob = opened(bot, "ana"), opened(bot, "bob")
    resident_id, code = issue(database)
    ana.say(f"verificar {code}")
    ticket = report_streetlight(ana, "Farola apagada frente a mi casa", address="Calle del Sol 3")
    report_streetlight(bob, "Banco roto en la plaza")
    assert CONFIRM in ana.say("borrar mis datos")
    answer = ana.say("sí")
    assert ERASED in answer and "¿En qué puedo ayudarle?" in answer

    kept = payloads(database, "ana")
    assert "Farola apagada" not in kept and "Calle del Sol" not in kept and ticket not in kept
    assert '"erased": true' in kept or '"erased":true' in kept
    with database.writer.begin() as connection:
        request = connection.execute(select(REQUESTS).where(REQUESTS.c.ticket == ticket)).one()
        bobs = connection.execute(select(REQUESTS).where(REQUESTS.c.ticket != ticket)).one()
        accounts = connection.execute(select(IDENTITIES).where(IDENTITIES.c.resident_id == resident_id)).all()
    assert request.resident_id is None and request.conversation_id is None
    assert request.description == "" and request.address is None and request.photo_ref is None
    assert (request.category, request.department, request.status) == ("streetlight", "servicios", "received")
    assert accounts == []
    gone = resident(database, resident_id)
    assert (gone.name, gone.document_hash, gone.contact, gone.verified) == (None, None, None, False)
    assert bobs.description == "Banco roto en la plaza" and "Banco roto" in payloads(database, "bob")
    erased = [detail for actor, action, detail in actions(database) if action == "privacy_erased"]
    assert erased == [{"resident_id": resident_id, "messages": erased[0]["messages"], "requests": 1, "accounts": 1}]
    assert erased[0]["messages"] > 0

    # the account no longer speaks for a verified resident
    ana.say("4")
    assert REFUSED in ana.say("1")


def test_erasure_in_english(town: Config, database: Database) -> None:
    ana = Bot(town, database).chat("ana", channel="telegram", language="en")
    ana.say()
    assert "Are you sure you want us to erase your data?" in ana.say("erase my data")
    assert "we have erased your data" in ana.say("yes")
