"""Generated requests to the web chat API: never a 500; every accepted message stored, processed, answered once.

Hypothesis sends the API what a page, a script or an attacker might: valid
messages (text with emoji, HTML, control characters and very long strings;
choices; locations; start) with a ``client_message_id``, some retried;
the same with a field dropped, retyped or added; invalid UTF-8, truncated,
deeply nested and oversized bodies; wrong content types and broken
multipart forms; bad session ids; and reads with out-of-range ``after``
values and media ids. Every answer is 200/202/400/404/413/415 with a reason.
Afterwards the engine runs over the inbox and the database must hold each
acknowledged message once, complete, processed once and answered once.

``PLAZA_FUZZ_EXAMPLES=10000`` runs the issue's full size.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.web import WebChannel, valid_session
from bot.answers import Accepted, Rejected, read_answer
from bot.config import Config
from bot.messages import InboundMessage
from bot.runtime import Plaza
from bot.web.app import create_app
from models.db import Database
from tests.support.fuzz import (
    HOSTILE,
    INBOX,
    drain,
    examples,
    hostile_body,
    in_process,
    inbox_verdict,
    mutate,
)

ANSWERS = {200, 202, 400, 404, 413, 415}
SESSIONS = [f"fuzz-session-{n:04d}" for n in range(30)]
text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["hola", "1", "menú", "<img src=x onerror=alert(1)>", "\x00\x1b[2J", "🙂" * 300, "x" * 4000]),
)
valid_fields = st.one_of(
    text.map(lambda t: {"text": t}),
    st.text(min_size=1, max_size=100).map(lambda c: {"choice": c}),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(
        lambda p: {"location": {"latitude": p[0], "longitude": p[1]}}
    ),
    st.just({"start": True}),
)
bad_sessions = st.one_of(
    st.text(max_size=80), st.sampled_from(["short", "x" * 65, "a/b" * 8, "%00" * 8, "é" * 20])
).filter(lambda session: not valid_session(session))
odd_numbers = st.one_of(
    st.integers().map(str),
    st.sampled_from(["-1", "1e3", "9" * 30, "9" * 5000, str(2**63), "abc", "", "nan", " 1 ", "0x10"]),
)


def _settings(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def run_chat_api(config: Config, database: Database, count: int) -> dict[str, int]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, reminder_interval=None, reload_interval=None)
    app = create_app(plaza, web, manage_lifespan=False)
    ids = itertools.count(1)
    accepted: set[str] = set()
    tally = {"requests": 0, "valid": 0}
    with in_process(app) as client:

        def check(response: Any, body: bytes | None = None) -> Any:
            tally["requests"] += 1
            assert response.status_code in ANSWERS, (response.status_code, response.text, (body or b"")[:300])
            if response.headers.get("content-type", "").startswith("application/json"):
                answer = response.json()
            else:  # no route matched (an empty or slashed session id): the router's plain 404
                assert response.status_code == 404 and response.text, (response.status_code, response.text)
                answer = {"error": response.text}
            if response.status_code >= 400:
                assert isinstance(answer, dict) and answer.get("error"), answer
            return answer

        @_settings(count)
        @given(data=st.data())
        def request(data: st.DataObject) -> None:
            session = data.draw(st.sampled_from(SESSIONS))
            url = f"/chat/api/{session}/messages"
            fields = {**data.draw(valid_fields), "client_message_id": f"m{next(ids)}"}
            how = data.draw(
                st.sampled_from(["valid", "valid", "mutated", "hostile", "content_type", "session", "read", "media"])
            )
            if how == "valid":
                for _ in range(data.draw(st.sampled_from([1, 1, 1, 2]))):  # a retry is a duplicate, not a second row
                    answer = check(client.post(url, json=fields))
                tally["valid"] += 1
                assert set(answer) == {"id", "duplicate"}, answer
                accepted.add(f"{session}:{fields['client_message_id']}")
            elif how in ("mutated", "hostile"):
                document = mutate(fields, data) if how == "mutated" else fields
                body = hostile_body(document, data.draw(st.sampled_from(HOSTILE)) if how == "hostile" else "json", data)
                response = client.post(url, content=body, headers={"content-type": "application/json"})
                answer = check(response, body)
                if response.status_code == 202:
                    stored = json.loads(body)
                    assert isinstance(stored, dict)
                    key = stored.get("client_message_id")
                    if isinstance(key, str):
                        accepted.add(f"{session}:{key}")
                    else:  # no client id: the server made one up; find it by the row id
                        accepted.add(f"#{answer['id']}")
            elif how == "content_type":
                kind = data.draw(st.sampled_from(["text/plain", "", "application/x-www-form-urlencoded", "multipart"]))
                if kind == "multipart":
                    form = data.draw(
                        st.dictionaries(st.sampled_from(["text", "photo", "x", "start"]), st.text(max_size=20))
                    )
                    files = {"photo": ("p.png", data.draw(st.binary(max_size=64)), "image/png")}
                    use_files = data.draw(st.booleans())
                    response = client.post(url, data=form, files=files if use_files else None)
                    if not use_files and not form:
                        response = client.post(url, content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
                else:
                    response = client.post(url, content=json.dumps(fields).encode(), headers={"content-type": kind})
                answer = check(response)
                if response.status_code == 202:
                    accepted.add(f"#{answer['id']}")
            elif how == "session":
                response = client.post(f"/chat/api/{quote(data.draw(bad_sessions), safe='/')}/messages", json=fields)
                assert check(response) is not None and response.status_code in (400, 404), response.text
            elif how == "read":
                params = {"after": data.draw(odd_numbers), "wait": data.draw(st.sampled_from(["0", "-5", "x", "nan"]))}
                answer = check(client.get(url, params=params))
                assert isinstance(answer, (list, dict))
            else:
                response = client.get(f"/chat/api/{session}/media/{data.draw(odd_numbers)}")
                assert check(response) is not None and response.status_code in (400, 404), response.text

        request()
    processed = drain(plaza)
    verdict = inbox_verdict(database, "web", resolve(database, accepted))
    return {**tally, "stored": verdict.stored, "processed": processed, "replies": verdict.replies}


def resolve(database: Database, accepted: set[str]) -> set[str]:
    """Accepted keys, with ``#<row id>`` (a message without a client id) replaced by the key the server made."""
    by_id = {key for key in accepted if not key.startswith("#")}
    rows = {int(key[1:]) for key in accepted if key.startswith("#")}
    if rows:
        with database.reader.connect() as connection:
            found = connection.execute(select(INBOX.c.platform_message_id).where(INBOX.c.id.in_(rows))).scalars()
            by_id |= set(found)
    return by_id


def test_generated_chat_api_requests(config: Config, sqlite: Database) -> None:
    figures = run_chat_api(config, sqlite, examples())
    print(f"web chat API (SQLite): {figures}")
    assert figures["valid"] > 0 and figures["stored"] > 0


@pytest.mark.postgres
def test_generated_chat_api_requests_on_postgres(config: Config, database: Database) -> None:
    if database.sqlite:
        pytest.skip("the SQLite run is test_generated_chat_api_requests")
    figures = run_chat_api(config, database, examples(60, share=0.1))
    print(f"web chat API (PostgreSQL): {figures}")
    assert figures["stored"] > 0


answers = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(lambda d: str(d).replace(".", ",")),
    st.from_regex(r"[0-9]{1,2}[/.-][0-9]{1,2}([/.-][0-9]{2,4})?", fullmatch=True),
    st.integers(0, 99).map(lambda n: f"unos {n} bultos"),
    st.sampled_from(["🙂", "3️⃣", "<b>3</b>", "<script>alert(1)</script>", "\x00", "\x1b[2J5", "１２", "٣", "1e309", ""]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
).filter(lambda text: not text.strip().isalpha())  # a bare word may be a global word (menú, ayuda...)


def test_generated_answers_to_a_number_question_through_the_api(config: Config, sqlite: Database) -> None:
    """Any answer to "how many items?" gets a reply: the next question, or the same one again with the hint."""
    web = WebChannel()
    plaza = Plaza(config, [web], database=sqlite, reminder_interval=None, reload_interval=None)
    app = create_app(plaza, web, manage_lifespan=False)
    flows = plaza.catalog.snapshot.flows
    step = flows.flows["procedure_bulky_waste"].states["count"]
    sessions = itertools.count(1)
    with in_process(app) as client:

        def say(session: str, after: int, **fields: Any) -> tuple[list[str], int]:
            response = client.post(f"/chat/api/{session}/messages", json={**fields, "language": "es"})
            assert response.status_code == 202, response.text
            drain(plaza)
            while client.call(plaza.dispatchers["web"].dispatch_once):  # "send": the page may read them
                pass
            replies = client.get(f"/chat/api/{session}/messages", params={"after": after}).json()
            assert replies, f"no reply to {fields}"
            return [reply["text"] for reply in replies], replies[-1]["id"]

        @_settings(examples(15, share=0.01))
        @given(text=answers)
        def answer(text: str) -> None:
            session = f"answers-{next(sessions):012d}"
            _, after = say(session, 0, start=True)
            _, after = say(session, after, choice="procedures")
            _, after = say(session, after, choice="bulky_waste")
            asked, after = say(session, after, text="un sofá y un colchón")
            assert any("¿Cuántos bultos" in line for line in asked), asked
            message = InboundMessage("web", "x", session, session, datetime.now(UTC), text=text)
            verdict = read_answer(step, [], message, "es", date.today())
            replies, _ = say(session, after, text=text)
            joined = "\n".join(replies)
            assert "Traceback" not in joined and "internal error" not in joined.lower(), joined
            if isinstance(verdict, Rejected) and text.strip():
                hint = flows.messages[verdict.hint]["es"].split("{")[0]
                helped = "Puede escribir en cualquier momento" in joined  # "?" is the global word for help
                assert (hint in joined or helped) and "¿Cuántos bultos" in joined, (text, replies)
            elif isinstance(verdict, Accepted):
                assert "¿Cuántos bultos" not in joined, (text, replies)

        answer()
