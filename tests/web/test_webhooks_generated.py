"""Generated webhook deliveries (Telegram and X): never a 500, never a crash, nothing half-stored, nothing doubled.

Hypothesis posts thousands of bodies to ``/webhooks/telegram`` and
``/webhooks/x`` of the real app, in process (httpx's ASGITransport, which
raises any exception the app lets through): valid updates with generated
text (emoji, HTML, control characters, NUL, lone surrogates), presses,
locations and stickers, some delivered twice; valid updates with one field
dropped, retyped or replaced by any JSON; invalid UTF-8, truncated JSON,
deep nesting, NaN, empty and oversized bodies; wrong content types; and a
share with a forged or missing secret/signature. Every answer must be
200/400/401/403/413 with a reason. Afterwards the engine runs over the
inbox and the database must hold each acknowledged message exactly once,
complete, processed once and answered once (:func:`tests.support.fuzz.inbox_verdict`).

``PLAZA_FUZZ_EXAMPLES=10000`` runs the full size asked by the issue; the
default is small enough for ``make test``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import WebhookRequest
from adapters.telegram import SECRET_HEADER, TelegramChannel
from adapters.testing.telegram_server import FakeTelegram, serve_fake_telegram
from adapters.testing.x_server import CONSUMER_KEY, CONSUMER_SECRET
from adapters.web import WebChannel
from adapters.x import SIGNATURE_HEADER, XChannel, XCredentials, signature_of
from bot.config import Config
from bot.runtime import Plaza
from bot.throttle import UNTHROTTLED
from bot.web.app import create_app
from models.db import Database
from tests.support.fuzz import HOSTILE, drain, examples, hostile_body, in_process, inbox_verdict, mutate

SECRET = "fuzz-Secret_token"
ANSWERS = {200, 400, 401, 403, 413}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "", "multipart/form-data"]
resident_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["hola", "1", "menú", "<script>alert(1)</script>", "\x00\x07", "🙂" * 400, "x" * 5000, "\ud83d"]),
)


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with serve_fake_telegram() as fake:
        yield fake


def _settings(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- Telegram ----------------------------------------------------------------------------------------------


def telegram_update(update_id: int, user_id: int, kind: str, value: Any) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "es"}
    chat = {"id": user_id, "type": "private", "first_name": "Ana"}
    if kind == "callback":
        return {
            "update_id": update_id,
            "callback_query": {"id": f"cq{update_id}", "from": user, "chat_instance": "ci", "data": value},
        }
    content: dict[str, Any]
    if kind == "location":
        content = {"location": {"latitude": value[0], "longitude": value[1]}}
    elif kind == "sticker":
        content = {
            "sticker": {
                "file_id": "s1",
                "file_unique_id": "us1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        }
    else:
        content = {"text": value}
    message = {"message_id": update_id, "date": 1_700_000_000, "chat": chat, "from": user, **content}
    return {"update_id": update_id, "edited_message" if kind == "edited" else "message": message}


telegram_content = st.one_of(
    resident_text.map(lambda t: ("text", t)),
    resident_text.map(lambda t: ("edited", t)),
    st.text(min_size=1, max_size=64).map(lambda t: ("callback", t)),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(lambda p: ("location", p)),
    st.just(("sticker", None)),
)


def served(config: Config, database: Database, channel: Any) -> tuple[Plaza, Any]:
    """Plaza with the web chat and ``channel``, and its app, in process."""
    web = WebChannel()
    # generated senders repeat a few chat ids thousands of times: the per-chat limit (tests/abuse) is not under test
    plaza = Plaza(
        replace(config, limits=UNTHROTTLED),
        [web, channel],
        database=database,
        reminder_interval=None,
        reload_interval=None,
    )
    return plaza, create_app(plaza, web, manage_lifespan=False)


def run_telegram(config: Config, database: Database, fake: FakeTelegram, count: int) -> dict[str, int]:
    channel = TelegramChannel(fake.token, api_base_url=fake.base_url, mode="webhook", webhook_secret=SECRET)
    plaza, app = served(config, database, channel)
    ids = itertools.count(1)
    accepted: set[str] = set()
    tally = {"requests": 0, "valid": 0, "forged": 0}
    with in_process(app) as client:

        def post(body: bytes, headers: dict[str, str]) -> Any:
            response = client.post("/webhooks/telegram", content=body, headers=headers)
            tally["requests"] += 1
            assert response.status_code in ANSWERS, (response.status_code, response.text, body[:300])
            answer = response.json()
            assert ("error" in answer) == (response.status_code != 200), answer
            return response, answer

        @_settings(count)
        @given(data=st.data())
        def deliver(data: st.DataObject) -> None:
            update_id = next(ids)
            kind, value = data.draw(telegram_content)
            update = telegram_update(update_id, data.draw(st.integers(1, 40)), kind, value)
            how = data.draw(st.sampled_from(["valid", "valid", "mutated", "hostile", "forged"]))
            content_type = data.draw(st.sampled_from(CONTENT_TYPES))
            headers = {SECRET_HEADER: SECRET, "content-type": content_type}
            if how == "forged":
                tally["forged"] += 1
                forged = data.draw(st.sampled_from([None, "wrong", SECRET + "x", SECRET[:-1], ""]))
                headers.pop(SECRET_HEADER)
                if forged is not None:
                    headers[SECRET_HEADER] = forged
                response, _ = post(json.dumps(update).encode("utf-8", "surrogatepass"), headers)
                assert response.status_code in (401, 403), response.text
                return
            if how == "valid":
                body = json.dumps(update, ensure_ascii=False).encode("utf-8", "surrogatepass")
                for _ in range(data.draw(st.sampled_from([1, 1, 1, 2]))):  # a redelivery is a no-op
                    response, answer = post(body, headers)
                    if response.status_code == 200:
                        accepted.add(str(update_id))
                if "\ud83d" not in json.dumps(update, ensure_ascii=False):  # a lone surrogate is not Unicode
                    tally["valid"] += 1
                    assert response.status_code == 200 and answer == {"accepted": 1}, (answer, update)
                return
            document = mutate(update, data) if how == "mutated" else update
            shape = data.draw(st.sampled_from(HOSTILE)) if how == "hostile" else "json"
            response, answer = post(hostile_body(document, shape, data), headers)
            if response.status_code == 200 and answer["accepted"]:
                accepted.add(str(document["update_id"]))

        deliver()
        client.quiesce("TelegramChannel._answer")  # answerCallbackQuery for the presses
        client.call(channel.stop)  # the button presses' answerCallbackQuery connections
    processed = drain(plaza)
    verdict = inbox_verdict(database, "telegram", accepted)
    return {**tally, "stored": verdict.stored, "processed": processed, "replies": verdict.replies}


def test_generated_telegram_updates(config: Config, sqlite: Database, fake: FakeTelegram) -> None:
    figures = run_telegram(config, sqlite, fake, examples())
    print(f"telegram webhook (SQLite): {figures}")
    assert figures["valid"] > 0 and figures["stored"] > 0


@pytest.mark.postgres
def test_generated_telegram_updates_on_postgres(config: Config, database: Database, fake: FakeTelegram) -> None:
    if database.sqlite:
        pytest.skip("the SQLite run is test_generated_telegram_updates")
    figures = run_telegram(config, database, fake, examples(60, share=0.1))
    print(f"telegram webhook (PostgreSQL): {figures}")
    assert figures["stored"] > 0


# -- X -----------------------------------------------------------------------------------------------------


def x_payload(event_id: str, sender: str, text: str, shape: str) -> dict[str, Any]:
    if shape == "account_activity":
        return {
            "for_user_id": "1000",
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event_id,
                    "created_timestamp": "1700000000000",
                    "message_create": {
                        "sender_id": sender,
                        "target": {"recipient_id": "1000"},
                        "message_data": {"text": text},
                    },
                }
            ],
            "users": {sender: {"id": sender, "name": "Ana", "screen_name": "ana"}},
        }
    event = {
        "id": event_id,
        "event_type": "MessageCreate",
        "sender_id": sender,
        "text": text,
        "created_at": "2026-01-01T10:00:00.000Z",
    }
    return {"data": {"event_type": "dm.received", "payload": event, "filter": {"user_id": "1000"}}}


def run_x(config: Config, database: Database, count: int) -> dict[str, int]:
    credentials = XCredentials(CONSUMER_KEY, CONSUMER_SECRET, "token", "token-secret")
    channel = XChannel(credentials, base_url="http://127.0.0.1:9", user_id="1000")  # nothing is sent here
    plaza, app = served(config, database, channel)
    ids = itertools.count(1)
    accepted: set[str] = set()
    tally = {"requests": 0, "valid": 0, "forged": 0}

    def keys_of(body: bytes, headers: dict[str, str]) -> set[str]:
        """The event ids X's parser takes from a body (what the inbox must then hold)."""
        request = WebhookRequest("POST", {k.lower(): v for k, v in headers.items()}, {}, body)
        return {message.platform_message_id for message in channel.parse(request)}

    with in_process(app) as client:

        def post(body: bytes, headers: dict[str, str]) -> Any:
            response = client.post("/webhooks/x", content=body, headers=headers)
            tally["requests"] += 1
            assert response.status_code in ANSWERS, (response.status_code, response.text, body[:300])
            answer = response.json()
            assert ("error" in answer) == (response.status_code != 200), answer
            return response, answer

        @_settings(count)
        @given(data=st.data())
        def deliver(data: st.DataObject) -> None:
            event_id = str(10**18 + next(ids))
            text = data.draw(resident_text)
            shape = data.draw(st.sampled_from(["account_activity", "activity"]))
            payload = x_payload(event_id, str(data.draw(st.integers(2000, 2040))), text, shape)
            how = data.draw(st.sampled_from(["valid", "valid", "mutated", "hostile", "forged"]))
            headers = {"content-type": data.draw(st.sampled_from(CONTENT_TYPES))}
            if how == "forged":
                tally["forged"] += 1
                body = json.dumps(payload).encode("utf-8", "surrogatepass")
                forged = data.draw(
                    st.sampled_from(
                        [None, "", "sha256=AAAA", signature_of("other", body), signature_of(CONSUMER_SECRET, b"{}")]
                    )
                )
                if forged is not None:
                    headers[SIGNATURE_HEADER] = forged
                response, _ = post(body, headers)
                assert response.status_code in (401, 403), response.text
                return
            if how == "valid":
                body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
                headers[SIGNATURE_HEADER] = signature_of(CONSUMER_SECRET, body)
                for _ in range(data.draw(st.sampled_from([1, 1, 1, 2]))):
                    response, answer = post(body, headers)
                    if response.status_code == 200:
                        accepted.add(event_id)
                if "\ud83d" not in text:
                    tally["valid"] += 1
                    assert response.status_code == 200 and answer == {"accepted": 1}, (answer, payload)
                return
            document = mutate(payload, data) if how == "mutated" else payload
            kind = data.draw(st.sampled_from(HOSTILE)) if how == "hostile" else "json"
            body = hostile_body(document, kind, data)
            headers[SIGNATURE_HEADER] = signature_of(CONSUMER_SECRET, body)
            response, answer = post(body, headers)
            if response.status_code == 200 and answer["accepted"]:
                found = keys_of(body, headers)
                assert len(found) >= 1, (answer, document)
                accepted.update(found)

        deliver()
    processed = drain(plaza)
    verdict = inbox_verdict(database, "x", accepted)
    return {**tally, "stored": verdict.stored, "processed": processed, "replies": verdict.replies}


def test_generated_x_events(config: Config, sqlite: Database) -> None:
    figures = run_x(config, sqlite, examples())
    print(f"x webhook (SQLite): {figures}")
    assert figures["valid"] > 0 and figures["stored"] > 0


@pytest.mark.postgres
def test_generated_x_events_on_postgres(config: Config, database: Database) -> None:
    if database.sqlite:
        pytest.skip("the SQLite run is test_generated_x_events")
    figures = run_x(config, database, examples(60, share=0.1))
    print(f"x webhook (PostgreSQL): {figures}")
    assert figures["stored"] > 0
