"""Officials work a conversation over HTTP: take, reply, note, transfer, release, resolve, each audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.messages import Location
from models import ConversationNote, HandoffRequest, OutboxItem
from tests.inbox.conftest import Town, act

OUTBOX = OutboxItem.__table__
HANDOFFS = HandoffRequest.__table__
NOTES = ConversationNote.__table__


def outbox_rows(town: Town, conversation_id: int) -> list[Any]:
    with town.database.reader.connect() as connection:
        return list(
            connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.official_id, OUTBOX.c.payload)
                .where(OUTBOX.c.conversation_id == conversation_id)
                .order_by(OUTBOX.c.id)
            ).all()
        )


def handoff_rows(town: Town, conversation_id: int) -> list[Any]:
    with town.database.reader.connect() as connection:
        return list(
            connection.execute(
                select(HANDOFFS).where(HANDOFFS.c.conversation_id == conversation_id).order_by(HANDOFFS.c.id)
            ).all()
        )


def test_the_waiting_queue_shows_the_resident_and_the_waiting_time(town: Town) -> None:
    town.official("marta", "servicios")
    chat = town.resident("lucia", name="Lucía Gómez")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "La farola de la plaza parpadea")
    http = town.login("marta")
    page = http.get("/inbox/queues/waiting")
    assert page.status_code == 200
    assert f'href="/inbox/conversations/{conversation_id}"' in page.text
    assert "Lucía Gómez" in page.text and "La farola de la plaza parpadea" in page.text
    assert 'class="elapsed">0 min<' in page.text
    assert 'data-testid="late"' not in page.text
    # over the alert threshold the row is marked late
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    with town.database.writer.begin() as connection:
        connection.execute(
            update(HANDOFFS).values(
                created_at=datetime.now(UTC) - timedelta(minutes=town.config.handoff.alert_after_minutes + 5)
            )
        )
    late = http.get("/inbox/queues/waiting")
    assert 'data-testid="late"' in late.text and "con retraso" in late.text
    assert http.get("/inbox/queues/mine").text.count('data-testid="queue-row"') == 0
    assert http.get("/inbox/queues/open").text.count('data-testid="queue-row"') == 1


def test_take_silences_the_bot_and_cancels_its_pending_replies(town: Town) -> None:
    marta = town.official("marta", "servicios", name="Marta Ruiz")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "Hay un bache enorme")
    # the resident writes again; the bot's answer is written but not yet sent when Marta takes over
    from bot.inbox import accept

    accept(town.database.writer, [chat.message("menú")])
    processor = town.bot.processor()
    while processor.run_once():
        pass
    pending = [row for row in outbox_rows(town, conversation_id) if row.status == "pending"]
    assert pending and all(row.official_id is None for row in pending)

    http = town.login("marta")
    taken = act(http, conversation_id, "take")
    assert (taken.status_code, taken.headers["location"]) == (303, f"/inbox/conversations/{conversation_id}?done=take")
    rows = {row.id: row for row in outbox_rows(town, conversation_id)}
    assert all(rows[row.id].status == "cancelled" for row in pending), "the bot's pending replies never go out"
    told = [row for row in rows.values() if row.official_id == marta.id]
    assert len(told) == 1 and "Marta Ruiz" in told[0].payload["text"]
    [handoff] = handoff_rows(town, conversation_id)
    assert (handoff.status, handoff.official_id) == ("taken", marta.id)

    assert [reply.text for reply in chat.pop()] == [told[0].payload["text"]]
    assert chat.say("¿Sigue ahí?") == "", "the bot says nothing while an official has the conversation"
    page = http.get(f"/inbox/conversations/{conversation_id}?done=take")
    assert "¿Sigue ahí?" in page.text and "Ahora atiende usted esta conversación" in page.text
    assert "cancelado (no enviado)" in page.text
    [audit] = [entry for entry in town.audit(conversation_id=conversation_id) if entry.action == "take"]
    assert audit.actor == "marta" and audit.detail["bot_replies_cancelled"] == len(pending)


def test_reply_goes_out_as_the_official_and_resolve_gives_it_back_to_the_bot(town: Town) -> None:
    marta = town.official("marta", "servicios", name="Marta Ruiz")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "Hay un bache enorme")
    http = town.login("marta")
    replied = act(http, conversation_id, "reply", text="Mañana pasa la brigada a taparlo.")
    assert replied.status_code == 303
    mine = [row for row in outbox_rows(town, conversation_id) if row.official_id == marta.id]
    assert [row.payload["text"] for row in mine][-1] == "Marta Ruiz: Mañana pasa la brigada a taparlo."
    assert "Marta Ruiz: Mañana pasa la brigada a taparlo." in [reply.text for reply in chat.pop()]
    assert chat.say("gracias") == ""
    page = http.get(f"/inbox/conversations/{conversation_id}")
    assert "Mañana pasa la brigada a taparlo." in page.text
    assert http.get("/inbox/queues/mine").text.count('data-testid="queue-row"') == 1

    resolved = act(http, conversation_id, "resolve")
    assert resolved.status_code == 303
    assert handoff_rows(town, conversation_id)[-1].status == "resolved"
    assert "¿En qué puedo ayudarle?" in chat.say("menú"), "the bot answers again"
    assert http.get("/inbox/queues/resolved").text.count('data-testid="queue-row"') == 1
    again = act(http, conversation_id, "resolve")
    assert again.status_code == 409
    assert "ya está con el asistente" in again.text or "already with the bot" in again.text
    actions = [entry.action for entry in town.audit(conversation_id=conversation_id)]
    assert actions[:3] == ["resolve", "reply", "take"]


def test_an_empty_reply_is_refused_with_a_reason(town: Town) -> None:
    town.official("marta", "servicios")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    http = town.login("marta")
    response = act(http, conversation_id, "reply", text="   ")
    assert response.status_code == 400
    assert "empty" in response.text
    assert "Traceback" not in response.text


def test_notes_are_internal_and_signed(town: Town) -> None:
    marta = town.official("marta", "servicios", name="Marta Ruiz")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "bache")
    http = town.login("marta")
    before = len(outbox_rows(town, conversation_id))
    assert act(http, conversation_id, "note", text="Vecina habitual; llamar si no contesta").status_code == 303
    assert len(outbox_rows(town, conversation_id)) == before, "a note is never sent to the resident"
    with town.database.reader.connect() as connection:
        [note] = connection.execute(select(NOTES)).all()
    assert (note.official_id, note.text) == (marta.id, "Vecina habitual; llamar si no contesta")
    page = http.get(f"/inbox/conversations/{conversation_id}")
    assert "Nota interna de Marta Ruiz" in page.text and "llamar si no contesta" in page.text
    assert [entry.action for entry in town.audit(conversation_id=conversation_id)] == ["note"]


def test_transfer_moves_the_conversation_to_the_other_department(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("sara", "secretaria")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "Quiero un certificado")
    marta = town.login("marta")
    moved = act(marta, conversation_id, "transfer", department="secretaria")
    assert (moved.status_code, moved.headers["location"]) == (303, "/inbox/queues/waiting?done=transfer")
    assert handoff_rows(town, conversation_id)[-1].department == "secretaria"
    assert marta.get(f"/inbox/conversations/{conversation_id}").status_code == 404, "no longer hers to see"
    sara = town.login("sara")
    assert f"/inbox/conversations/{conversation_id}" in sara.get("/inbox/queues/waiting").text
    assert any("Le pasamos con Secretaría" in reply.text for reply in chat.pop())
    [entry] = [e for e in town.audit(conversation_id=conversation_id) if e.action == "transfer"]
    assert entry.detail == {"from": "servicios", "to": "secretaria", "person": None}
    unknown = act(sara, conversation_id, "transfer", department="nowhere")
    assert unknown.status_code == 404 and "nowhere" in unknown.text


def test_release_gives_the_conversation_back_without_resolving(town: Town) -> None:
    town.official("marta", "servicios")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "bache")
    http = town.login("marta")
    act(http, conversation_id, "take")
    assert act(http, conversation_id, "release").status_code == 303
    assert handoff_rows(town, conversation_id)[-1].status == "released"
    assert "release" in [entry.action for entry in town.audit(conversation_id=conversation_id)]


def test_another_official_cannot_take_a_taken_conversation(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("pablo", "servicios")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    assert act(town.login("marta"), conversation_id, "take").status_code == 303
    refused = act(town.login("pablo"), conversation_id, "take")
    assert refused.status_code == 409
    assert "another official" in refused.text


def test_photos_and_locations_show_in_the_history(town: Town) -> None:
    from bot.inbox import Upload
    from tests.support.server import tiny_png

    town.official("marta", "servicios")
    chat = town.resident("lucia")
    conversation_id = town.ask_for(chat, "Servicios Municipales", "bache")
    chat.send(None, uploads=[Upload(tiny_png(), "image/png")])
    chat.send(None, location=Location(37.1301, -3.5902))
    http = town.login("marta")
    page = http.get(f"/inbox/conversations/{conversation_id}")
    assert "https://www.openstreetmap.org/?mlat=37.130100&amp;mlon=-3.590200" in page.text
    media = page.text.split('src="/inbox/media/')[1].split('"')[0]
    photo = http.get(f"/inbox/media/{media}")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert photo.content == tiny_png()


def test_only_the_official_who_has_it_or_a_lead_may_close_it(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("pablo", "servicios")
    town.official("jefa", "servicios", "lead")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    assert act(town.login("marta"), conversation_id, "take").status_code == 303
    refused = act(town.login("pablo"), conversation_id, "resolve")
    assert refused.status_code == 403
    assert "No permitido" in refused.text and "department lead" in refused.text
    assert handoff_rows(town, conversation_id)[-1].status == "taken"
    assert act(town.login("jefa"), conversation_id, "resolve").status_code == 303
    assert handoff_rows(town, conversation_id)[-1].status == "resolved"
