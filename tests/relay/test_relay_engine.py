"""Handoffs relayed to officials' own messenger, through the real inbox, engine and outbox."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.audit import entries
from bot.config import Config
from bot.handoff import Handoffs
from bot.inbox import accept
from bot.messages import Photo
from bot.notices import Wording
from bot.relay import official_of
from models import ChannelIdentity, Conversation, InboxItem, OutboxItem
from models.db import Database
from tests.support.driver import Bot
from tests.support.relay_desk import CHANNEL, Desk, Got, Member, ask_for

OUTBOX = OutboxItem.__table__
INBOX = InboxItem.__table__
CONVERSATIONS = Conversation.__table__
IDENTITIES = ChannelIdentity.__table__
MENU = "¿En qué puedo ayudarle?"
NUMBER = re.compile(r"^#(\d+) ")


@pytest.fixture
def desk(config: Config, database: Database) -> Desk:
    return Desk(Bot(config, database))


def number_of(got: Got) -> int:
    found = NUMBER.match(got.text)
    assert found is not None, got.text
    assert got.about == int(found.group(1))
    return int(found.group(1))


def to_resident(desk: Desk, chat_id: str) -> list[Any]:
    with desk.bot.database.reader.connect() as connection:
        return list(
            connection.execute(
                select(OUTBOX.c.payload, OUTBOX.c.official_id, OUTBOX.c.status, OUTBOX.c.conversation_id)
                .where(OUTBOX.c.channel == CHANNEL, OUTBOX.c.chat_id == chat_id)
                .order_by(OUTBOX.c.id)
            ).all()
        )


def mode(desk: Desk, conversation_id: int) -> str:
    with desk.bot.database.reader.connect() as connection:
        return str(
            connection.execute(select(CONVERSATIONS.c.mode).where(CONVERSATIONS.c.id == conversation_id)).scalar_one()
        )


def police_handoff(desk: Desk, text: str = "Me han robado la bicicleta") -> tuple[Any, Member, Member, int, Got, Got]:
    """Two police officials, a resident asking the (private) police; the notices each got."""
    pilar = desk.official("pilar", "policia", name="Pilar Ruiz")
    pedro = desk.official("pedro", "policia", name="Pedro Gil")
    juan = desk.resident("juan")
    juan.say()
    ask_for(juan, "policía", text)
    [to_pilar] = pilar.inbox()
    [to_pedro] = pedro.inbox()
    return juan, pilar, pedro, number_of(to_pilar), to_pilar, to_pedro


def test_a_new_handoff_reaches_only_the_departments_linked_officials(desk: Desk) -> None:
    sara = desk.official("sara", "secretaria")
    admin = desk.official("alba", "alcaldia", role="admin")
    _juan, pilar, pedro, number, to_pilar, to_pedro = police_handoff(desk)
    assert to_pilar.text.startswith(f"#{number} · Policía Local · juan (telegram): Me han robado la bicicleta")
    assert f"/tomar {number}" in to_pilar.text
    assert to_pedro.text == to_pilar.text
    # a private department's content never goes elsewhere: not to another department, not to a town admin
    assert sara.inbox() == [] and admin.inbox() == []
    with desk.bot.database.reader.connect() as connection:
        resident_conversation = connection.execute(
            select(CONVERSATIONS.c.id).where(CONVERSATIONS.c.chat_id == "juan")
        ).scalar_one()
    assert number == resident_conversation
    # the notices are not part of the resident's conversation (nor cancelled by a takeover)
    assert all(row.conversation_id == number for row in to_resident(desk, "juan"))

    # another department's handoff goes to that department only
    ana = desk.resident("ana")
    ana.say()
    ask_for(ana, "secretaría", "Un certificado, por favor")
    [to_sara] = sara.inbox()
    assert "Secretaría · ana (telegram): Un certificado, por favor" in to_sara.text
    assert pilar.inbox() == [] and pedro.inbox() == [] and admin.inbox() == []


def test_english_officials_read_english(desk: Desk) -> None:
    tom = desk.official("tom", "servicios", language="en")
    eva = desk.resident("eva")
    eva.say()
    ask_for(eva, "servicios municipales", "omitir")
    [notice] = tom.inbox()
    number = number_of(notice)
    assert notice.text.startswith(f"#{number} · Municipal Services · eva (telegram): ")
    assert f"/take {number} to take it" in notice.text
    [taken] = tom.send(f"/take {number}")
    assert taken.text.startswith(f"#{number} is yours")


def test_resident_messages_go_to_the_department_while_waiting_then_only_to_the_taker(desk: Desk) -> None:
    juan, pilar, pedro, number, _to_pilar, _ = police_handoff(desk)
    juan.say("Era roja, de montaña")
    [waiting_pilar] = pilar.inbox()
    [waiting_pedro] = pedro.inbox()
    assert waiting_pilar.text == f"#{number} · juan: Era roja, de montaña" == waiting_pedro.text

    [confirmation] = pilar.send(f"/take {number}")
    assert confirmation.text.startswith(f"#{number} es suya")
    assert confirmation.about == number
    assert juan.pop()[0].text.startswith("Pilar Ruiz, del Ayuntamiento, le atiende ahora")

    assert juan.say("¿Sigue ahí?") == ""  # the bot is silent
    juan.send(photos=(Photo("file-1", "image/jpeg"),))
    assert [got.text for got in pilar.inbox()] == [f"#{number} · juan: ¿Sigue ahí?", f"#{number} · juan: [foto]"]
    assert pedro.inbox() == []


def test_a_reply_to_the_relayed_message_reaches_the_resident(desk: Desk) -> None:
    juan, pilar, pedro, number, to_pilar, _ = police_handoff(desk)
    juan.pop()
    [taken] = pilar.reply(to_pilar, "Hola Juan, ¿dónde la tenía aparcada?")
    assert taken.text.startswith(f"#{number} es suya")  # the reply took the conversation over

    rows = to_resident(desk, "juan")
    told, said = rows[-2], rows[-1]
    assert told.payload["text"].startswith("Pilar Ruiz, del Ayuntamiento, le atiende")
    assert said.payload["text"] == "Pilar Ruiz: Hola Juan, ¿dónde la tenía aparcada?"
    assert said.official_id == pilar.id and said.conversation_id == number and said.status == "pending"
    assert mode(desk, number) == "official"
    juan.pop()

    # the resident answers: only Pilar gets it, the bot says nothing
    assert juan.say("En la plaza") == ""
    [relayed] = pilar.inbox()
    assert relayed.text == f"#{number} · juan: En la plaza"
    assert juan.pop() == []

    # replying to that relayed message answers again, with no new confirmation
    assert pilar.reply(relayed, "Vamos para allá") == []
    assert [reply.text for reply in juan.pop()] == ["Pilar Ruiz: Vamos para allá"]
    with desk.bot.database.reader.connect() as connection:
        actions = [(entry.actor, entry.action) for entry in entries(connection, conversation_id=number)]
    assert actions == [("pilar", "reply"), ("pilar", "reply"), ("pilar", "take")]
    assert pedro.inbox() == []


def test_take_release_resolve_and_their_refusals(desk: Desk) -> None:
    sara = desk.official("sara", "secretaria")
    juan, pilar, pedro, number, _, _ = police_handoff(desk)
    juan.pop()

    [refused] = sara.send(f"/take {number}")
    assert refused.text == f"No hay ninguna conversación #{number} en su departamento."
    assert refused.about is None  # nothing about a conversation she may not see
    assert mode(desk, number) == "waiting"

    [taken] = pilar.send(f"tomar #{number}")
    assert taken.text.startswith(f"#{number} es suya")
    [refused] = pedro.send(f"/take {number}")
    assert refused.text == f"#{number} ya la está atendiendo Pilar Ruiz; no se ha hecho nada."
    [refused] = pedro.send(f"/resolve {number}")
    assert refused.text == f"#{number} ya la está atendiendo Pilar Ruiz; no se ha hecho nada."
    assert desk.handoff(number)["official_id"] == pilar.id

    [released] = pilar.send(f"/liberar {number}")
    assert released.text == f"#{number} vuelve al asistente automático."
    assert mode(desk, number) == "bot"
    assert juan.pop()[-1].text.startswith("Vuelve a atenderle el asistente automático")
    [already] = pilar.send(f"/resolver {number}")
    assert already.text == f"#{number} ya está con el asistente automático."

    # a command sent as a reply to a relayed message may leave the number out
    juan.say("persona")
    for step in ("con un departamento", "policía", "Otra cosa"):
        juan.say(step)
    [notice] = pedro.inbox()
    pilar.inbox()
    assert number_of(notice) == number
    [taken] = pedro.reply(notice, "/take")
    assert taken.text.startswith(f"#{number} es suya")
    [resolved] = pedro.send(f"/resolve {number}")
    assert resolved.text == f"#{number} queda resuelta; el asistente automático vuelve a atender."
    assert desk.handoff(number)["status"] == "resolved"
    assert mode(desk, number) == "bot"
    assert juan.pop()[-1].text.startswith("Damos su consulta por resuelta")
    with desk.bot.database.reader.connect() as connection:
        actions = [(entry.actor, entry.action) for entry in entries(connection, conversation_id=number)]
    assert actions == [("pedro", "resolve"), ("pedro", "take"), ("pilar", "release"), ("pilar", "take")]


def test_the_queue_and_help(desk: Desk) -> None:
    juan, pilar, pedro, number, _, to_pedro = police_handoff(desk)
    [queue] = pilar.send("/cola")
    assert queue.text.splitlines()[0] == "Conversaciones abiertas:"
    assert queue.text.splitlines()[1].startswith(f"#{number} · Policía Local · juan · espera desde hace ")
    pilar.send(f"/take {number}")
    [queue] = pilar.send("queue")
    assert queue.text.splitlines()[1] == f"#{number} · Policía Local · juan · la atiende usted"
    [queue] = pedro.send("/queue")
    assert queue.text == "No hay nadie esperando."
    [helped] = pedro.send("/start")
    assert helped.text.startswith("Para contestar a un vecino, responda a su mensaje")
    [helped] = pedro.send("hola")
    assert helped.text.startswith("Para contestar a un vecino")
    [which] = pedro.send("/take")
    assert which.text.startswith("¿Qué conversación?")
    [helped] = pedro.send(f"/take {number} ya", reply_to=to_pedro.platform_id)
    assert helped.text.startswith("Para contestar a un vecino")
    [helped] = pedro.send("/tomarla", reply_to=to_pedro.platform_id)
    assert helped.text.startswith("Para contestar a un vecino")
    [unknown] = pedro.send("Ya voy", reply_to="tg-999999")
    assert unknown.text.startswith("No sé a qué conversación responde ese mensaje")
    # nothing of it reached the resident: only Pilar's takeover
    assert [reply.text for reply in juan.pop()] == [
        "Pilar Ruiz, del Ayuntamiento, le atiende ahora por este chat. El asistente automático queda en pausa."
    ]


def test_reply_by_command_and_what_cannot_be_passed_on(desk: Desk) -> None:
    juan, pilar, pedro, number, to_pilar, to_pedro = police_handoff(desk)
    juan.pop()
    [taken] = pilar.send(f"/responder {number} Buenos días, Juan")
    assert taken.text.startswith(f"#{number} es suya")
    assert [reply.text for reply in juan.pop()][-1] == "Pilar Ruiz: Buenos días, Juan"
    accept(desk.bot.database.writer, [pilar.message(None, reply_to=to_pilar.platform_id)])
    desk.process()
    [refused] = pilar.inbox()
    assert refused.text == f"No hay texto que enviar a #{number}."
    [refused] = pilar.reply(to_pilar, "x" * 4001)
    assert refused.text.startswith("La respuesta tiene 4001 caracteres")
    [refused] = pedro.reply(to_pedro, "Yo me encargo")
    assert refused.text == f"#{number} ya la está atendiendo Pilar Ruiz; no se ha hecho nada."
    assert juan.pop() == []


def test_an_officials_message_is_never_a_residents(desk: Desk) -> None:
    pilar = desk.official("pilar", "policia")
    for text in ("hola", "menú", "persona", "1"):
        pilar.send(text)
    with desk.bot.database.reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(CONVERSATIONS)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(IDENTITIES)).scalar_one() == 0
        statuses = connection.execute(select(INBOX.c.status).where(INBOX.c.sender_id == pilar.user_id)).scalars()
        assert list(statuses) == ["done"] * 4


def test_a_redelivered_official_update_acts_once(desk: Desk) -> None:
    juan, pilar, _pedro, _number, to_pilar, _ = police_handoff(desk)
    juan.pop()
    first = pilar.message("Le llamo ahora", reply_to=to_pilar.platform_id, message_id="update-77")
    again = pilar.message("Le llamo ahora", reply_to=to_pilar.platform_id, message_id="update-77")
    [stored] = accept(desk.bot.database.writer, [first])
    [duplicate] = accept(desk.bot.database.writer, [again])
    assert duplicate.duplicate and duplicate.id == stored.id
    desk.process()
    with desk.bot.database.writer.begin() as connection:
        row = connection.execute(
            select(INBOX.c.id, INBOX.c.channel, INBOX.c.platform_message_id, INBOX.c.payload).where(
                INBOX.c.id == stored.id
            )
        ).one()
        assert desk.bot.engine.step(connection, row) is False  # a second step over the same row does nothing
    assert [reply.text for reply in juan.pop()] == [
        "Pilar Ruiz, del Ayuntamiento, le atiende ahora por este chat. El asistente automático queda en pausa.",
        "Pilar Ruiz: Le llamo ahora",
    ]
    assert len(pilar.inbox()) == 1  # one confirmation of the takeover


def test_a_transfer_and_a_failed_step_are_relayed(
    desk: Desk, config: Config, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sara = desk.official("sara", "secretaria")
    alba = desk.official("alba", "alcaldia")
    _juan, pilar, pedro, number, _, _ = police_handoff(desk)
    pilar.send(f"/take {number}")
    pilar.inbox()
    with database.writer.begin() as connection:
        actor = official_of(connection, CHANNEL, pilar.user_id)
        assert actor is not None
        Handoffs(Wording(config)).transfer(connection, actor.actor(), number, department="secretaria")
    [notice] = sara.inbox()
    assert notice.text.startswith(
        f"#{number} · Secretaría · juan (telegram), le llega de Policía Local (Pilar Ruiz): Me han robado la bicicleta"
    ), "in the official's language, with what the resident asked"
    assert pilar.inbox() == [] and pedro.inbox() == []

    # the bot fails every step of another resident: the conversation goes to handoff.failures (alcaldia)
    ana = desk.resident("ana")
    ana.say()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("flow bug")

    monkeypatch.setattr("bot.engine.Turn.handle", broken)
    ana.say("Quiero pedir cita")
    [notice] = alba.inbox()
    assert re.match(r"#\d+ · Alcaldía · ana \(telegram\): Quiero pedir cita", notice.text), notice.text
    assert sara.inbox() == []


def test_a_failing_officials_message_gets_an_apology_and_hands_nothing_over(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    alba = desk.official("alba", "alcaldia")
    pilar = desk.official("pilar", "policia")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("relay bug")

    monkeypatch.setattr("bot.engine.OfficialMessages.handle", broken)
    [apology] = pilar.send("/queue")
    assert apology.text.startswith("Lo siento, algo ha fallado por nuestra parte.")
    assert alba.inbox() == []
    with desk.bot.database.reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(CONVERSATIONS)).scalar_one() == 0
        assert list(connection.execute(select(INBOX.c.status)).scalars()) == ["failed"]


def test_a_withdrawn_request_is_told_to_the_linked_officials(desk: Desk) -> None:
    juan, pilar, pedro, number, _, _ = police_handoff(desk)
    assert "retiro su petición" in juan.say("cancelar")
    [to_pilar] = pilar.inbox()
    assert to_pilar.text == f"#{number} · juan ya no necesita que le atiendan: ha retirado su petición."
    assert [got.text for got in pedro.inbox()] == [to_pilar.text]
