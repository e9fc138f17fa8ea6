"""Department isolation over HTTP, escaping of residents' text, search and the town admin's view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from models import Conversation, ServiceRequest
from tests.inbox.conftest import Town, act, csrf_of

REQUESTS = ServiceRequest.__table__
CONVERSATIONS = Conversation.__table__
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def report(town: Town, chat_id: str, department: str, ticket: str, description: str, **extra: Any) -> int:
    """A service request of ``department`` reported from the resident's conversation (created if needed)."""
    chat = town.resident(chat_id)
    chat.say()
    with town.database.writer.begin() as connection:
        conversation = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.resident_id).where(CONVERSATIONS.c.chat_id == chat_id)
        ).one()
        return int(
            connection.execute(
                insert(REQUESTS)
                .values(
                    ticket=ticket,
                    kind="incident",
                    category=extra.pop("category", "streetlight"),
                    department=department,
                    description=description,
                    status="received",
                    private=extra.pop("private", False),
                    language="es",
                    channel="test",
                    resident_id=conversation.resident_id,
                    conversation_id=conversation.id,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                    **extra,
                )
                .returning(REQUESTS.c.id)
            ).scalar_one()
        )


def test_an_official_never_sees_another_departments_conversations(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("ramon", "policia")
    ours = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache en la calle Real")
    theirs = town.ask_for(town.resident("pedro"), "Policía Local", "Me han robado la bici")
    marta = town.login("marta")
    for which in ("waiting", "open", "mine", "resolved"):
        page = marta.get(f"/inbox/queues/{which}")
        assert page.status_code == 200
        assert f"/inbox/conversations/{theirs}" not in page.text and "robado" not in page.text
    assert f"/inbox/conversations/{ours}" in marta.get("/inbox/queues/waiting").text
    hidden = marta.get(f"/inbox/conversations/{theirs}")
    assert hidden.status_code == 404 and "robado" not in hidden.text
    # acting on it is refused the same way, and nothing happens
    page = marta.get(f"/inbox/conversations/{ours}")
    for action in ("take", "reply", "note", "release", "resolve"):
        response = marta.post(f"/inbox/conversations/{theirs}/{action}", data={"csrf": csrf_of(page), "text": "hola"})
        assert response.status_code == 404, action
    assert (
        marta.get(f"/inbox/conversations/{theirs}/events", headers={"accept": "text/event-stream"}).status_code == 404
    )
    searched = marta.get("/inbox/search", params={"q": "robado"}).text
    assert f"/inbox/conversations/{theirs}" not in searched and "Nada coincide" in searched
    assert [e for e in town.audit(conversation_id=theirs)] == []
    # a department filter is ignored for an official who is not a town admin
    assert "robado" not in marta.get("/inbox/queues/waiting", params={"department": "policia"}).text

    ramon = town.login("ramon")
    assert ramon.get(f"/inbox/conversations/{theirs}").status_code == 200
    assert ramon.get(f"/inbox/conversations/{ours}").status_code == 404


def test_an_official_never_sees_another_departments_requests_or_photos(town: Town) -> None:
    from bot.inbox import Upload
    from tests.support.server import tiny_png

    town.official("marta", "servicios")
    ours = report(town, "lucia", "servicios", "JUN-2026-000001", "Farola apagada")
    theirs = report(town, "pedro", "policia", "JUN-2026-000002", "Robo en el bar", category="police", private=True)
    town.resident("pedro").send(None, uploads=[Upload(tiny_png(), "image/png")])
    marta = town.login("marta")
    listing = marta.get("/inbox/requests", params={"list": "all"})
    assert "JUN-2026-000001" in listing.text and "JUN-2026-000002" not in listing.text
    assert marta.get(f"/inbox/requests/{ours}").status_code == 200
    assert marta.get(f"/inbox/requests/{theirs}").status_code == 404
    page = marta.get(f"/inbox/requests/{ours}")
    changed = marta.post(f"/inbox/requests/{theirs}/status", data={"csrf": csrf_of(page), "status": "closed"})
    assert changed.status_code == 404
    with town.database.reader.connect() as connection:
        assert connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == theirs)).scalar_one() == "received"
    assert marta.get("/inbox/media/1").status_code == 404, "the photo of a police conversation"
    assert "Nada coincide" in marta.get("/inbox/search", params={"q": "JUN-2026-000002"}).text


def test_a_town_admin_sees_every_department(town: Town) -> None:
    town.official("alcalde", "alcaldia", "admin", name="Ana Admin")
    police = town.ask_for(town.resident("pedro"), "Policía Local", "Me han robado la bici")
    services = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    admin = town.login("alcalde")
    page = admin.get("/inbox/queues/waiting")
    assert f"/inbox/conversations/{police}" in page.text and f"/inbox/conversations/{services}" in page.text
    narrowed = admin.get("/inbox/queues/waiting", params={"department": "policia"})
    assert f"/inbox/conversations/{police}" in narrowed.text
    assert f"/inbox/conversations/{services}" not in narrowed.text
    assert admin.get(f"/inbox/conversations/{police}").status_code == 200
    assert admin.get("/inbox/queues/waiting", params={"department": "nowhere"}).status_code == 404


def test_residents_html_is_shown_as_text_to_officials(town: Town) -> None:
    town.official("marta", "servicios")
    chat = town.resident("lucia", name=XSS)
    conversation_id = town.ask_for(chat, "Servicios Municipales", XSS)
    chat.say(XSS)
    request_id = report(town, "lucia", "servicios", "JUN-2026-000003", XSS)
    http = town.login("marta")
    for url in (
        "/inbox/queues/waiting",
        f"/inbox/conversations/{conversation_id}",
        f"/inbox/requests/{request_id}",
        "/inbox/requests",
        "/inbox/search?q=script",
    ):
        page = http.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text, url
    assert "default-src 'self'" in http.get("/inbox/queues/waiting").headers["content-security-policy"]


def test_search_finds_by_text_ticket_and_name(town: Town) -> None:
    town.official("marta", "servicios")
    lucia = town.ask_for(town.resident("lucia", name="Lucía Gómez"), "Servicios Municipales", "bache")
    town.resident("lucia").say("El contenedor de vidrio está lleno")
    pedro_request = report(town, "pedro", "servicios", "JUN-2026-000010", "farola")
    with town.database.reader.connect() as connection:
        pedro = connection.execute(
            select(REQUESTS.c.conversation_id).where(REQUESTS.c.id == pedro_request)
        ).scalar_one()
    http = town.login("marta")

    def found(q: str) -> str:
        page = http.get("/inbox/search", params={"q": q})
        assert page.status_code == 200
        return page.text

    assert f"/inbox/conversations/{lucia}" in found("contenedor de VIDRIO")
    assert f"/inbox/conversations/{lucia}" in found("gómez")
    assert f"/inbox/conversations/{pedro}" in found("jun-2026-000010")
    assert "Nada coincide" in found("no existe tal cosa")
    assert "Nada coincide" in found("100%_")


def test_unknown_pages_and_queues_read_as_not_found(town: Town) -> None:
    town.official("marta", "servicios")
    http = town.login("marta")
    missing = http.get("/inbox/conversations/999999")
    assert missing.status_code == 404 and "No encontrado" in missing.text
    assert http.get("/inbox/queues/everything").status_code == 404
    assert http.get("/inbox/requests/424242").status_code == 404
    assert http.get("/inbox/requests", params={"list": "weird"}).status_code == 404
    page = http.get("/inbox/queues/waiting")
    bogus = http.post("/inbox/conversations/1/explode", data={"csrf": csrf_of(page)})
    assert bogus.status_code == 404


def test_english_speaking_officials_read_english(town: Town) -> None:
    town.official("mary", "servicios", language="en")
    conversation_id = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache")
    http = town.login("mary")
    assert "Waiting" in http.get("/inbox/queues/waiting").text
    page = act(http, conversation_id, "take")
    assert http.get(page.headers["location"]).text.count("You now have this conversation") == 1
