"""The inbox against abuse, route by route: CSRF, stored XSS everywhere, other departments' data, brute force.

Routes are read from the app itself, so a route added later is covered
without editing this file (a path parameter this file cannot fill fails the
test, asking for it):

- every state-changing ``/inbox`` route refuses a POST without the session's
  CSRF token, with a forged one and with another official's, and changes
  nothing (no audit row, no state change);
- what residents and officials write (names, messages, notes, replies,
  broadcast texts, report descriptions, addresses, status notes) is shown
  escaped on every page that shows it: inbox pages, the public page, the
  Atom feed; the JSON figures are served as JSON;
- an official of one department gets 403/404 for every ``/inbox`` URL with
  another department's id in it, and the queue's live stream never carries
  another department's conversation;

Login throttling is covered elsewhere: per username over HTTP in
test_inbox_login.py, per address in test_login_throttle.py (each failed
argon2 check costs about a second here, so twenty more are not repeated).

These run on SQLite only (``database`` is overridden below): what they check
is the web layer; test_inbox_access.py runs department isolation on both
databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Route

from adapters.web import WebChannel
from bot.inbox import Upload
from bot.runtime import Plaza
from bot.web.app import create_app
from bot.web.inbox import ACTIONS
from models import AuditEntry, Conversation, InboxItem, MediaItem, OutboxItem, ServiceRequest
from models.db import Database
from models.rawsql import from_db_json
from tests.inbox.conftest import Town, act, csrf_of
from tests.inbox.test_inbox_access import report
from tests.support.server import tiny_png

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RAW = ("<script>alert", "<img src=x")
ESCAPED = "&lt;script&gt;alert("
CONVERSATIONS = Conversation.__table__
REQUESTS = ServiceRequest.__table__
AUDIT = AuditEntry.__table__
MEDIA = MediaItem.__table__


@pytest.fixture
def database(sqlite: Database) -> Database:
    return sqlite


def inbox_routes(town: Town, method: str) -> list[str]:
    """The app's ``/inbox`` route paths that take ``method`` (a throwaway app, nothing started)."""
    web = WebChannel()
    app = create_app(Plaza(town.config, [web], database=town.database), web, manage_lifespan=False)
    return [
        route.path
        for route in app.routes
        if isinstance(route, Route) and route.methods and method in route.methods and route.path.startswith("/inbox")
    ]


def fill(path: str, ids: dict[str, str]) -> Iterator[str]:
    """Concrete URLs for a route path: ids from ``ids``, every action for ``{action}``."""
    names = re.findall(r"\{([^}:]+)(?::[^}]+)?\}", path)
    unknown = [name for name in names if name not in ids and name not in ("action", "which")]
    assert not unknown, f"{path}: say in this test which id to use for {unknown}"
    concrete = re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda m: ids.get(m.group(1), "{" + m.group(1) + "}"), path)
    if "{action}" in concrete:
        yield from (concrete.replace("{action}", action) for action in ACTIONS)
    elif "{which}" in concrete:
        yield concrete.replace("{which}", "waiting")
    else:
        yield concrete


def audit_count(town: Town) -> int:
    with town.database.reader.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(AUDIT)).scalar_one())


def draft_broadcast(http: httpx.Client, text: str = "Corte de agua mañana") -> str:
    page = http.get("/inbox/broadcasts")
    assert page.status_code == 200, page.text[:300]
    made = http.post(
        "/inbox/broadcasts", data={"csrf": csrf_of(page), "topic": "outages", "text_es": text, "text_en": text}
    )
    assert made.status_code == 303, made.text[:500]
    return made.headers["location"].rsplit("/", 1)[1]


def test_every_state_changing_inbox_route_needs_the_sessions_csrf_token(town: Town) -> None:
    town.official("alcalde", "alcaldia", "admin")
    town.official("lidia", "servicios", "lead")
    conversation = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache en la calle Real")
    request_id = report(town, "pedro", "servicios", "JUN-2026-000001", "Farola apagada")
    lead = town.login("lidia")
    ids = {"conversation_id": str(conversation), "request_id": str(request_id), "broadcast_id": draft_broadcast(lead)}
    admin = town.login("alcalde")
    other_token = csrf_of(lead.get("/inbox/queues/waiting"))  # valid, but another official's session
    before = audit_count(town)
    with town.database.reader.connect() as connection:
        state = connection.execute(select(CONVERSATIONS.c.mode, CONVERSATIONS.c.version)).all()

    routes = [path for path in inbox_routes(town, "POST") if path != "/inbox/login"]  # the login has its own token
    assert {"/inbox/logout", "/inbox/broadcasts", "/inbox/requests/{request_id:id}/status"} <= set(routes), routes
    tried = 0
    for path in routes:
        for url in fill(path, ids):
            for sent in ({}, {"csrf": "forged"}, {"csrf": other_token}):
                answer = admin.post(url, data={**sent, "text": "hola", "status": "closed", "topic": "news"})
                assert answer.status_code == 403, (url, sent, answer.status_code)
                tried += 1
    assert tried >= 3 * (len(routes) + len(ACTIONS) - 1)
    assert audit_count(town) == before, "no forged request did anything"
    with town.database.reader.connect() as connection:
        assert connection.execute(select(CONVERSATIONS.c.mode, CONVERSATIONS.c.version)).all() == state
        assert connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == request_id)).scalar_one() == (
            "received"
        )
    assert admin.get("/inbox/queues/waiting").status_code == 200, "the forged logout did not log out"


def test_what_residents_and_officials_write_is_shown_escaped_everywhere(town: Town) -> None:
    town.official("alcalde", "alcaldia", "admin")
    chat = town.resident("lucia", name=XSS)
    conversation = town.ask_for(chat, "Servicios Municipales", XSS)
    request_id = report(town, "lucia", "servicios", "JUN-2026-000003", XSS, address=XSS)
    admin = town.login("alcalde")
    assert act(admin, conversation, "take").status_code == 303
    assert act(admin, conversation, "note", text=XSS).status_code == 303
    assert act(admin, conversation, "reply", text=XSS).status_code == 303
    page = admin.get(f"/inbox/requests/{request_id}")
    changed = admin.post(
        f"/inbox/requests/{request_id}/status", data={"csrf": csrf_of(page), "status": "in_progress", "note": XSS}
    )
    assert changed.status_code == 303, changed.text[:300]
    lead = town.login("alcalde")
    broadcast = draft_broadcast(lead, XSS)

    shown_escaped = {
        "/inbox/queues/open": admin,
        f"/inbox/conversations/{conversation}": admin,  # name, message, note, reply
        f"/inbox/requests/{request_id}": admin,  # description, address, status note
        "/inbox/requests?list=all": admin,
        "/inbox/search?q=script": admin,
        f"/inbox/broadcasts/{broadcast}": lead,
        "/": town.client(),
        "/feed.atom": town.client(),
    }
    for url, http in shown_escaped.items():
        answer = http.get(url)
        assert answer.status_code == 200, url
        assert not any(raw in answer.text for raw in RAW), url
        if url != "/":
            assert ESCAPED in answer.text, f"{url} shows what was written (escaped)"
    conversation_page = admin.get(f"/inbox/conversations/{conversation}").text
    assert conversation_page.count(ESCAPED) >= 4, "name, message, note and reply"
    request_page = admin.get(f"/inbox/requests/{request_id}").text
    assert request_page.count(ESCAPED) >= 3, "description, address and status note"
    data = town.client().get("/transparency.json")
    assert data.headers["content-type"].startswith("application/json")
    chat_page = town.client().get("/chat")
    assert not any(raw in chat_page.text for raw in RAW)


def test_no_inbox_url_shows_another_departments_data(town: Town) -> None:
    town.official("marta", "servicios")
    town.official("alcalde", "alcaldia", "admin")
    pedro = town.resident("pedro")
    theirs = town.ask_for(pedro, "Policía Local", "Me han robado la bici")
    pedro.send(None, uploads=[Upload(tiny_png(), "image/png")])
    police_request = report(
        town, "pedro", "policia", "JUN-2026-000002", "Robo en el bar", category="police", private=True
    )
    with town.database.reader.connect() as connection:
        media_id = connection.execute(select(func.max(MEDIA.c.id))).scalar_one()
        photo_message = next(
            row.id
            for row in connection.execute(select(InboxItem.__table__.c.id, InboxItem.__table__.c.payload))
            if (from_db_json(row.payload) or {}).get("photos")
        )
        sent = connection.execute(
            select(func.max(OutboxItem.__table__.c.id)).where(OutboxItem.__table__.c.conversation_id == theirs)
        ).scalar_one()
    admin = town.login("alcalde")
    broadcast = draft_broadcast(admin)
    ids = {
        "conversation_id": str(theirs),
        "request_id": str(police_request),
        "media_id": str(media_id),
        "broadcast_id": broadcast,
        "inbox_id": str(photo_message),
        "number": "0",
        "outbox_id": str(sent),
    }
    assert admin.get(f"/inbox/conversations/{theirs}").status_code == 200, "the ids are real"
    assert admin.get(f"/inbox/conversations/{theirs}/photos/{photo_message}/0").status_code == 200
    assert admin.get(f"/inbox/media/{media_id}").status_code == 200

    marta = town.login("marta")
    token = csrf_of(marta.get("/inbox/queues/waiting"))
    checked = 0
    for path in inbox_routes(town, "GET"):
        if not any("{" + name in path for name in ids):
            continue  # no id of anything in it
        for url in fill(path, ids):
            answer = marta.get(url)
            assert answer.status_code in (403, 404), (url, answer.status_code)
            assert "robado" not in answer.text and "Robo" not in answer.text, url
            checked += 1
    for path in inbox_routes(town, "POST"):
        if not any("{" + name in path for name in ids):
            continue  # no id of anything in it
        for url in fill(path, ids):
            answer = marta.post(url, data={"csrf": token, "text": "hola", "status": "closed"})
            assert answer.status_code in (403, 404), (url, answer.status_code)
            checked += 1
    assert checked >= 8
    with town.database.reader.connect() as connection:
        assert connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == police_request)).scalar_one() == (
            "received"
        )
    # whatever the query string says
    searched = marta.get("/inbox/search", params={"q": "robado", "department": "policia"}).text
    assert "han robado" not in searched and f"/inbox/conversations/{theirs}" not in searched
    assert "robado" not in marta.get("/inbox/queues/open", params={"department": "policia"}).text


def test_the_live_queue_never_streams_another_departments_conversation(town: Town) -> None:
    town.official("marta", "servicios")
    marta = town.login("marta")
    seen = ""
    with marta.stream("GET", "/inbox/events", params={"which": "waiting"}, timeout=30.0) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        town.ask_for(town.resident("pedro"), "Policía Local", "Me han robado la bici")
        town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache en la calle Real")
        for line in lines:
            seen += line + "\n"
            if "bache" in line:
                break
    assert "bache" in seen, "the stream carried the department's own handoff"
    assert "robado" not in seen, "and never the police's"


def test_an_overlong_note_is_refused_with_the_reason_never_cut_short(town: Town) -> None:
    town.official("marta", "servicios")
    conversation = town.ask_for(town.resident("lucia"), "Servicios Municipales", "bache en la calle Real")
    request_id = report(town, "pedro", "servicios", "JUN-2026-000001", "Farola apagada")
    marta = town.login("marta")
    before = audit_count(town)
    note = act(marta, conversation, "note", text="n" * 4001)
    assert note.status_code == 400 and "4001 characters" in note.text
    page = marta.get(f"/inbox/requests/{request_id}")
    status = marta.post(
        f"/inbox/requests/{request_id}/status", data={"csrf": csrf_of(page), "status": "fixed", "note": "s" * 2001}
    )
    assert status.status_code == 400 and "2001 characters" in status.text
    assert audit_count(town) == before, "nothing was stored"
    with town.database.reader.connect() as connection:
        assert connection.execute(select(REQUESTS.c.status).where(REQUESTS.c.id == request_id)).scalar_one() == (
            "received"
        )
    assert act(marta, conversation, "note", text="n" * 4000).status_code == 303, "the limit itself is fine"
