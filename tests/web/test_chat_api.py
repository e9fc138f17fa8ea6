"""The web chat's JSON API over real HTTP: uvicorn in a thread, httpx as the page."""

from __future__ import annotations

import gc
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from adapters.web import WebChannel
from bot.config import Config
from bot.runtime import Plaza
from bot.web.app import create_app
from models import InboxItem, MediaItem, OutboxItem
from models.db import Database
from tests.support.server import AppServer, tiny_png

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]
TICKET = re.compile(r"JUN-\d{4}-\d{6}")


@pytest.fixture
def client(config: Config, database: Database) -> Iterator[httpx.Client]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, poll_interval=0.05)
    app = create_app(plaza, web)
    with AppServer(app) as server, httpx.Client(base_url=server.base_url, timeout=15.0) as http:
        yield http


def new_session() -> str:
    return uuid.uuid4().hex


class Chat:
    """One browser tab: posts messages and long-polls the bot's replies."""

    def __init__(self, http: httpx.Client, session: str | None = None) -> None:
        self.http = http
        self.session = session or new_session()
        self.after = 0
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"/chat/api/{self.session}/messages"

    def post(self, **fields: Any) -> dict[str, Any]:
        response = self.http.post(self.url, json=fields)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def poll(self, wait: float = 5) -> list[dict[str, Any]]:
        response = self.http.get(self.url, params={"after": self.after, "wait": wait})
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()
        if messages:
            self.after = messages[-1]["id"]
            self.seen.extend(messages)
        return messages

    def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 15) -> list[dict[str, Any]]:
        """Poll until ``done`` holds for the messages received since this call; return them."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not done(got):
            assert time.monotonic() < deadline, f"no such reply in {timeout} s; got {got}"
            got.extend(self.poll())
        return got

    def says(self, needle: str, **fields: Any) -> list[dict[str, Any]]:
        """Post and wait for a reply containing ``needle``."""
        self.post(**fields)
        return self.until(lambda got: any(needle in m["text"] for m in got))


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


# --- the whole report -------------------------------------------------------


def test_streetlight_report_through_the_api(client: httpx.Client, database: Database) -> None:
    chat = Chat(client)
    greeting = chat.says("¿En qué puedo ayudarle?", start=True)
    assert "Jun" in text_of(greeting)
    menu = greeting[-1]
    assert {o["key"] for o in menu["options"]} >= {"report", "help_me"}

    category = chat.says("¿Qué ha pasado?", choice="report")
    assert "streetlight" in {o["key"] for o in category[-1]["options"]}
    chat.says("Cuénteme", choice="streetlight")
    chat.says("foto", text="La farola de la esquina no enciende")

    response = client.post(chat.url, files={"photo": ("farola.png", tiny_png(), "image/png")})
    assert response.status_code == 202, response.text
    assert response.json()["duplicate"] is False
    chat.until(lambda got: any("¿Dónde es?" in m["text"] for m in got))

    confirm = chat.says("¿Lo enviamos?", location={"latitude": 37.2186, "longitude": -3.5961})
    assert "La farola de la esquina no enciende" in text_of(confirm)

    done = chat.says("su aviso es el", text="sí")
    match = TICKET.search(text_of(done))
    assert match is not None, text_of(done)

    ids = [m["id"] for m in chat.seen]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    with database.reader.connect() as connection:
        statuses = connection.execute(select(INBOX.c.status).where(INBOX.c.chat_id == chat.session)).scalars().all()
        media = (
            connection.execute(
                select(MEDIA.c.mime_type).where(MEDIA.c.chat_id == chat.session, MEDIA.c.channel == "web")
            )
            .scalars()
            .all()
        )
    assert statuses == ["done"] * 7
    assert media == ["image/png"]


# --- page and health --------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "town": "Jun"}


def test_chat_page_is_html_with_the_town_name(client: httpx.Client) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Jun</title>" in response.text
    assert "{{TOWN}}" not in response.text and "{{LANG}}" not in response.text
    home = client.get("/")  # the transparency page, which links to the chat
    assert home.status_code == 200 and 'href="/chat"' in home.text


def test_page_script_puts_content_in_with_text_content_only(client: httpx.Client) -> None:
    page = client.get("/chat").text
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert scripts, "the page loads its script"
    for src in scripts:
        script = client.get(src)
        assert script.status_code == 200
        assert "innerHTML" not in script.text.replace("never innerHTML", "")
        assert "insertAdjacentHTML" not in script.text and "document.write" not in script.text


# --- 400s, 413, 415 ---------------------------------------------------------

BAD_BODIES = [
    pytest.param(b"{not json", "not valid JSON", id="not-json"),
    pytest.param(b"\xff\xfe\x00", "not valid JSON", id="not-utf8"),
    pytest.param(b'["hola"]', "JSON object", id="array"),
    pytest.param(b'"hola"', "JSON object", id="string"),
    pytest.param(b'{"txt": "hola"}', "unknown field(s): txt", id="unknown-field"),
    pytest.param(b'{"text": 5}', "`text` must be a string", id="text-number"),
    pytest.param(b'{"text": ["a"]}', "`text` must be a string", id="text-list"),
    pytest.param(('{"text": "' + "a" * 4001 + '"}').encode(), "longer than 4000", id="text-too-long"),
    pytest.param(b'{"location": {"latitude": 91, "longitude": 0}}', "not a place on Earth", id="lat-range"),
    pytest.param(b'{"location": {"latitude": 0, "longitude": -180.5}}', "not a place on Earth", id="lon-range"),
    pytest.param(b'{"location": {"latitude": NaN, "longitude": 0}}', "NaN is not a JSON number", id="lat-nan"),
    pytest.param(b'{"location": {"latitude": "37.2", "longitude": "-3.6"}}', "numeric", id="lat-string"),
    pytest.param(b'{"location": {"latitude": true, "longitude": 0}}', "numeric", id="lat-bool"),
    pytest.param(b'{"location": {"latitude": 37.2}}', "numeric", id="no-longitude"),
    pytest.param(b'{"location": [37.2, -3.6]}', "latitude and longitude", id="location-list"),
    pytest.param(b'{"start": false}', "`start` may only be true", id="start-false"),
    pytest.param(b'{"start": "yes"}', "`start` may only be true", id="start-string"),
    pytest.param(b"{}", "send one of", id="empty-object"),
    pytest.param(b'{"choice": ""}', "`choice`", id="empty-choice"),
    pytest.param(b'{"text": "a", "client_message_id": "has spaces"}', "client_message_id", id="bad-client-id"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_bad_json_gets_400_with_a_reason(client: httpx.Client, body: bytes, reason: str) -> None:
    session = new_session()
    response = client.post(f"/chat/api/{session}/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and reason in error


def test_a_rejected_body_stores_nothing(client: httpx.Client, database: Database) -> None:
    session = new_session()
    for body in (b"[]", b'{"start": false}', b"{}"):
        client.post(f"/chat/api/{session}/messages", content=body, headers={"content-type": "application/json"})
    with database.reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(INBOX)).scalar_one() == 0


@pytest.mark.parametrize(
    "session",
    [
        pytest.param("short", id="too-short"),
        pytest.param("a" * 15, id="15-chars"),
        pytest.param("a" * 65, id="65-chars"),
        pytest.param("abcdefgh.ijklmnopq", id="dot"),
        pytest.param("abcdefgh%20ijklmnopq", id="space"),
        pytest.param("abcdefghijklmnñopq", id="non-ascii"),
    ],
)
def test_bad_session_id_gets_400(client: httpx.Client, session: str) -> None:
    post = client.post(f"/chat/api/{session}/messages", json={"text": "hola"})
    assert post.status_code == 400 and "session id" in post.json()["error"]
    get = client.get(f"/chat/api/{session}/messages")
    assert get.status_code == 400 and "session id" in get.json()["error"]


def test_session_id_bounds_are_accepted(client: httpx.Client) -> None:
    for session in ("a" * 16, "A-_9" * 16):
        assert client.post(f"/chat/api/{session}/messages", json={"start": True}).status_code == 202


def test_bad_query_gets_400(client: httpx.Client) -> None:
    session = new_session()
    for params in ({"after": "x"}, {"wait": "soon"}):
        response = client.get(f"/chat/api/{session}/messages", params=params)
        assert response.status_code == 400 and "error" in response.json()


def test_text_plain_gets_415(client: httpx.Client) -> None:
    response = client.post(
        f"/chat/api/{new_session()}/messages", content=b"hola", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_missing_content_type_gets_415(client: httpx.Client) -> None:
    response = client.post(f"/chat/api/{new_session()}/messages", content=b'{"text": "hola"}')
    assert response.status_code == 415


def test_exactly_4000_chars_is_accepted(client: httpx.Client) -> None:
    response = client.post(f"/chat/api/{new_session()}/messages", json={"text": "a" * 4000})
    assert response.status_code == 202


@pytest.mark.parametrize("extra", [1, 64 * 1024 + 1, 1024 * 1024], ids=["10MB+1B", "10MB+64KB+1B", "11MB"])
def test_photo_over_10_mb_gets_413(client: httpx.Client, database: Database, extra: int) -> None:
    data = tiny_png() + b"\x00" * (10 * 1024 * 1024 - len(tiny_png()) + extra)
    response = client.post(f"/chat/api/{new_session()}/messages", files={"photo": ("big.png", data, "image/png")})
    assert response.status_code == 413, response.text
    assert "10 MB" in response.json()["error"]
    with database.reader.connect() as connection:
        assert connection.execute(select(func.count()).select_from(MEDIA)).scalar_one() == 0


def test_photo_of_exactly_10_mb_is_accepted(client: httpx.Client) -> None:
    data = tiny_png() + b"\x00" * (10 * 1024 * 1024 - len(tiny_png()))
    response = client.post(f"/chat/api/{new_session()}/messages", files={"photo": ("big.png", data, "image/png")})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"%PDF-1.4 not a photo", id="pdf"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", id="svg"),
        pytest.param(b"", id="empty"),
    ],
)
def test_non_image_photo_gets_400(client: httpx.Client, data: bytes) -> None:
    response = client.post(f"/chat/api/{new_session()}/messages", files={"photo": ("farola.png", data, "image/png")})
    assert response.status_code == 400
    assert "not a JPEG, PNG, GIF or WebP" in response.json()["error"]


def test_multipart_without_photo_or_text_gets_400(client: httpx.Client) -> None:
    response = client.post(f"/chat/api/{new_session()}/messages", files={"choice": (None, "report")})
    assert response.status_code == 400
    assert "photo" in response.json()["error"]


# --- idempotency ------------------------------------------------------------


def test_same_client_message_id_twice_is_a_duplicate_and_answered_once(
    client: httpx.Client, database: Database
) -> None:
    chat = Chat(client)
    first = chat.post(start=True, client_message_id="tab1:0001")
    second = chat.post(start=True, client_message_id="tab1:0001")
    assert first["duplicate"] is False
    assert second == {"id": first["id"], "duplicate": True}

    chat.until(lambda got: any("¿En qué puedo ayudarle?" in m["text"] for m in got))
    assert chat.poll(wait=1) == []  # nothing more comes
    assert text_of(chat.seen).count("Hola, soy el asistente") == 1
    assert text_of(chat.seen).count("¿En qué puedo ayudarle?") == 1
    with database.reader.connect() as connection:
        inbox = connection.execute(select(INBOX.c.id, INBOX.c.attempts).where(INBOX.c.chat_id == chat.session)).all()
        outbox = connection.execute(select(OUTBOX.c.inbox_id).where(OUTBOX.c.chat_id == chat.session)).scalars().all()
    assert [(row.id, row.attempts) for row in inbox] == [(first["id"], 1)]
    assert outbox and set(outbox) == {first["id"]}


def test_same_client_message_id_in_another_session_is_not_a_duplicate(client: httpx.Client) -> None:
    a, b = Chat(client), Chat(client)
    assert a.post(start=True, client_message_id="m1")["duplicate"] is False
    assert b.post(start=True, client_message_id="m1")["duplicate"] is False


# --- media ------------------------------------------------------------------


def test_media_is_served_only_to_its_own_session(client: httpx.Client, database: Database) -> None:
    owner = Chat(client)
    png = tiny_png()
    response = client.post(owner.url, files={"photo": ("farola.png", png, "image/png")})
    assert response.status_code == 202, response.text
    with database.reader.connect() as connection:
        media_id = connection.execute(select(MEDIA.c.id).where(MEDIA.c.chat_id == owner.session)).scalar_one()

    mine = client.get(f"/chat/api/{owner.session}/media/{media_id}")
    assert mine.status_code == 200
    assert mine.content == png
    assert mine.headers["content-type"] == "image/png"
    assert mine.headers["x-content-type-options"] == "nosniff"

    other = client.get(f"/chat/api/{new_session()}/media/{media_id}")
    assert other.status_code == 404
    assert "error" in other.json()
    assert client.get(f"/chat/api/{owner.session}/media/{media_id + 1000}").status_code == 404


def test_uploaded_photo_files_are_closed(client: httpx.Client) -> None:
    """Each upload's temporary file is closed when the request ends, not left to the garbage collector.

    Starlette does not close a parsed form by itself: the endpoint must (``async with request.form()``).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            response = client.post(
                f"/chat/api/{new_session()}/messages", files={"photo": ("farola.png", tiny_png(), "image/png")}
            )
            assert response.status_code == 202
            bad = client.post(f"/chat/api/{new_session()}/messages", files={"photo": ("x.png", b"%PDF", "image/png")})
            assert bad.status_code == 400
        time.sleep(0.2)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], leaks


def test_declared_mime_type_is_not_trusted(client: httpx.Client, database: Database) -> None:
    chat = Chat(client)
    response = client.post(chat.url, files={"photo": ("x.jpg", tiny_png(), "image/jpeg")})
    assert response.status_code == 202
    with database.reader.connect() as connection:
        assert connection.execute(select(MEDIA.c.mime_type).where(MEDIA.c.chat_id == chat.session)).scalar_one() == (
            "image/png"
        )


# --- long poll --------------------------------------------------------------


def test_long_poll_returns_empty_within_the_wait(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get(f"/chat/api/{new_session()}/messages", params={"after": 0, "wait": 1})
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json() == []
    assert 0.9 <= elapsed < 3.0


def test_long_poll_without_wait_returns_at_once(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get(f"/chat/api/{new_session()}/messages")
    assert response.json() == [] and time.monotonic() - started < 1.0


def test_long_poll_wakes_when_the_reply_is_sent(client: httpx.Client) -> None:
    chat = Chat(client)
    chat.post(start=True)
    started = time.monotonic()
    got = chat.poll(wait=10)
    assert got and time.monotonic() - started < 5.0


def test_after_skips_what_was_already_read(client: httpx.Client) -> None:
    chat = Chat(client)
    chat.says("¿En qué puedo ayudarle?", start=True)
    last = chat.seen[-1]["id"]
    again = client.get(chat.url, params={"after": 0}).json()
    assert [m["id"] for m in again] == [m["id"] for m in chat.seen]
    assert client.get(chat.url, params={"after": last}).json() == []


def test_replies_of_one_session_never_reach_another(client: httpx.Client) -> None:
    alice, bob = Chat(client), Chat(client)
    alice.says("¿En qué puedo ayudarle?", start=True)
    assert client.get(bob.url, params={"after": 0}).json() == []


# --- XSS --------------------------------------------------------------------

XSS = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"quotes\""


def test_markup_comes_back_verbatim_in_json(client: httpx.Client) -> None:
    chat = Chat(client)
    chat.says("¿En qué puedo ayudarle?", start=True)
    chat.says("¿Qué ha pasado?", choice="report")
    chat.says("Cuénteme", choice="streetlight")
    chat.says("foto", text=XSS)
    chat.says("¿Dónde es?", text="omitir")
    confirm = chat.says("¿Lo enviamos?", text="Calle Real 3")
    assert XSS in text_of(confirm)
    assert "&lt;script&gt;" not in text_of(confirm)


def test_a_webhook_for_a_channel_this_server_does_not_run_is_404(client: httpx.Client) -> None:
    for name in ("telegram", "web", "nope"):
        response = client.post(f"/webhooks/{name}", content=b"{}")
        assert response.status_code == 404
        assert response.json() == {"error": f"no webhook channel `{name}` here"}
