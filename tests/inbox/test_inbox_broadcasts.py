"""Broadcasts from the inbox: a lead writes, previews, sends and watches an announcement; officials may not."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from models import Broadcast
from tests.inbox.conftest import Town, csrf_of
from tests.support.server import wait_for
from tests.support.subscribers import add_subscribers, outbox_rows

BROADCASTS = Broadcast.__table__


def test_a_lead_previews_sends_and_watches_an_announcement(town: Town) -> None:
    chats = add_subscribers(town.database.writer, 12, topic="outages", channel="web")
    town.official("marta", "servicios", role="lead", name="Marta Ruiz")
    http = town.login("marta")
    page = http.get("/inbox/broadcasts")
    assert page.status_code == 200 and 'data-testid="broadcast-topic"' in page.text

    missing = http.post(
        "/inbox/broadcasts",
        data={"csrf": csrf_of(page), "topic": "outages", "text_es": "Corte de agua mañana de 9 a 12.", "text_en": ""},
    )
    assert missing.status_code == 400
    assert "no text in en" in missing.text
    assert "Corte de agua mañana de 9 a 12." in missing.text, "what was written is kept in the form"

    created = http.post(
        "/inbox/broadcasts",
        data={
            "csrf": csrf_of(page),
            "topic": "outages",
            "text_es": "Corte de agua mañana de 9 a 12 en la calle Real. <b>Disculpen</b>",
            "text_en": "Water cut tomorrow 9 to 12 on Calle Real.",
        },
    )
    assert created.status_code == 303
    detail = http.get(created.headers["location"])
    assert detail.status_code == 200
    assert "&lt;b&gt;Disculpen&lt;/b&gt;" in detail.text, "the preview is escaped"
    assert "borrador" in detail.text and "Destinatarios: 12" in detail.text
    assert " · Cortes y avisos · " in detail.text, "the topic by its name, in the official's language"
    assert outbox_rows(town.database.writer) == [], "a preview sends nothing"

    sent = http.post(created.headers["location"] + "/send", data={"csrf": csrf_of(detail)})
    assert sent.status_code == 303
    broadcast_id = int(created.headers["location"].rsplit("/", 1)[1])

    def delivered() -> bool:
        rows = outbox_rows(town.database.writer, broadcast_id)
        return len(rows) == 12 and all(row["status"] == "sent" for row in rows)

    wait_for(delivered, timeout=30)
    assert Counter(str(row["chat_id"]) for row in outbox_rows(town.database.writer, broadcast_id)) == Counter(chats)
    done = http.get(created.headers["location"])
    assert "12 de 12 enviados" in done.text and "enviado" in done.text
    assert [e.action for e in reversed(town.audit())][-2:] == ["broadcast_draft", "broadcast_send"]


def test_a_draft_can_be_cancelled_and_officials_cannot_broadcast(town: Town) -> None:
    add_subscribers(town.database.writer, 3, topic="news", channel="web")
    town.official("marta", "servicios", role="lead")
    town.official("pepe", "servicios")
    lead = town.login("marta")
    page = lead.get("/inbox/broadcasts")
    created = lead.post(
        "/inbox/broadcasts",
        data={"csrf": csrf_of(page), "topic": "news", "text_es": "Fiestas el sábado.", "text_en": "Fair on Saturday."},
    )
    detail = lead.get(created.headers["location"])
    cancelled = lead.post(created.headers["location"] + "/cancel", data={"csrf": csrf_of(detail)})
    assert cancelled.status_code == 303
    with town.database.reader.connect() as connection:
        assert connection.execute(select(BROADCASTS.c.status)).scalar_one() == "cancelled"
    assert outbox_rows(town.database.writer) == []

    official = town.login("pepe")
    assert official.get("/inbox/broadcasts").status_code == 403
    assert 'data-testid="nav-broadcasts"' not in official.get("/inbox/queues/waiting").text
    refused = official.post(
        "/inbox/broadcasts",
        data={"csrf": csrf_of(official.get("/inbox/queues/waiting")), "topic": "news", "text_es": "x", "text_en": "y"},
    )
    assert refused.status_code == 403
    assert lead.get("/inbox/broadcasts/999").status_code == 404
    no_token = lead.post(created.headers["location"] + "/send", data={})
    assert no_token.status_code == 403, "CSRF"
