"""Telegram in webhook mode over real HTTP: fake Bot API -> /webhooks/telegram -> engine -> outbox -> fake."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

from adapters.telegram import TelegramChannel
from bot.outbox import Reply
from tests.channels.telegram.conftest import GREETING, MENU, SECRET, Town, texts, wait_text
from tests.support.server import tiny_png, wait_for

TICKET = re.compile(r"JUN-\d{4}-\d{6}")


def test_streetlight_report_with_buttons_photo_and_location(town_on_both: Town) -> None:
    town, fake = town_on_both, town_on_both.fake
    ana = fake.user(101, "Ana")
    fake.push_text(ana, "hola")
    menu = wait_text(fake, ana.id, MENU)
    assert GREETING in texts(fake, ana.id)
    keys = {button["callback_data"] for button in menu.buttons}
    assert {"report", "help_me"} <= keys

    seen = len(fake.sent_to(ana.id))
    fake.push_callback(ana, "report", menu)
    category = wait_text(fake, ana.id, "¿Qué ha pasado?", after=seen)
    assert "streetlight" in {button["callback_data"] for button in category.buttons}
    wait_for(lambda: fake.answered, 10)  # the button's spinner was stopped

    seen = len(fake.sent_to(ana.id))
    fake.push_callback(ana, "streetlight", category)
    wait_text(fake, ana.id, "Cuénteme", after=seen)
    seen = len(fake.sent_to(ana.id))
    fake.push_text(ana, "La farola de la esquina no enciende")
    wait_text(fake, ana.id, "foto", after=seen)
    seen = len(fake.sent_to(ana.id))
    fake.push_photo(ana, tiny_png())
    wait_text(fake, ana.id, "¿Dónde es?", after=seen)
    seen = len(fake.sent_to(ana.id))
    fake.push_location(ana, 37.2186, -3.5961)
    confirm = wait_text(fake, ana.id, "¿Lo enviamos?", after=seen)
    assert "La farola de la esquina no enciende" in (confirm.text or "")
    seen = len(fake.sent_to(ana.id))
    fake.push_text(ana, "sí")
    done = wait_text(fake, ana.id, "su aviso es el", after=seen)
    assert TICKET.search(done.text or "")

    town.settled(ana.id)
    rows = town.inbox(ana.id)
    assert [row.status for row in rows] == ["done"] * 7
    photo = rows[4].payload["photos"][0]
    assert rows[4].payload["location"] is None and photo["mime_type"] == "image/jpeg"
    assert rows[5].payload["location"] == {"latitude": 37.2186, "longitude": -3.5961}
    # the stored reference is Telegram's file id; the channel fetches the bytes through getFile
    assert asyncio.run(_fetch(fake.token, fake.base_url, photo["ref"])) == tiny_png()


async def _fetch(token: str, base_url: str, ref: str) -> bytes:
    channel = TelegramChannel(token, api_base_url=base_url)
    try:
        return await channel.fetch_photo(ref)
    finally:
        await channel.stop()


def test_the_same_update_delivered_three_times_is_answered_once(town: Town) -> None:
    fake = town.fake
    fake.webhook_repeat = 3
    ana = fake.user(102, "Ana")
    update_id = fake.push_text(ana, "hola")
    wait_text(fake, ana.id, MENU)
    wait_for(lambda: update_id not in fake.pending_updates(), 20)  # all three deliveries answered
    town.settled(ana.id)
    assert [d for d in fake.webhook_deliveries() if d[0] == update_id] == [(update_id, 200)] * 3
    assert [row.platform_message_id for row in town.inbox(ana.id)] == [str(update_id)]
    sent = fake.sent_to(ana.id)
    assert len(sent) == len(town.outbox(ana.id)) == len({s.text for s in sent})


def test_a_long_reply_arrives_complete_and_in_order(town: Town) -> None:
    fake = town.fake
    ana = fake.user(103, "Ana")
    paragraphs = [f"Párrafo {n}: " + " ".join(f"palabra{n}-{i}" for i in range(120)) for n in range(12)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 3 * 4096
    town.enqueue(ana.id, Reply(text=text))
    wait_for(lambda: [row.status for row in town.outbox(ana.id)] == ["sent"], 20)
    parts = [s.text or "" for s in fake.sent_to(ana.id)]
    assert len(parts) >= 4 and all(len(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text


def test_a_429_is_waited_out_and_the_message_arrives_later(town: Town) -> None:
    fake = town.fake
    ana = fake.user(104, "Ana")
    fake.rate_limit_next("sendMessage", retry_after=2)
    town.enqueue(ana.id, Reply(text="Su cita es el lunes."))
    arrived = wait_text(fake, ana.id, "Su cita es el lunes.")
    refused_at, *later = fake.calls_of("sendMessage")
    assert later and arrived.at - refused_at >= 1.9
    row = wait_for(lambda: [r for r in town.outbox(ana.id) if r.status == "sent"], 10)[0]
    assert row.attempts == 2 and "retry after 2" in row.last_error


def test_a_blocked_bot_fails_the_row_with_the_reason(town: Town) -> None:
    fake = town.fake
    ana = fake.user(105, "Ana")
    fake.block(ana)
    town.enqueue(ana.id, Reply(text="Hola"))
    row = wait_for(lambda: [r for r in town.outbox(ana.id) if r.status == "failed"], 20)[0]
    assert row.last_error == "Forbidden: bot was blocked by the user"
    assert fake.sent_to(ana.id) == []


@pytest.mark.parametrize(
    ("language", "greeting", "apology"),
    [
        ("es", GREETING, "todavía no sé leer este tipo de mensaje"),
        ("en", "Hello, I am the assistant of Jun Town Hall", "I cannot read this kind of message yet"),
    ],
)
def test_a_sticker_gets_the_polite_unsupported_answer(town: Town, language: str, greeting: str, apology: str) -> None:
    fake = town.fake
    ana = fake.user(106, "Ana", language_code=language)
    fake.push_text(ana, "hola")
    wait_text(fake, ana.id, greeting)
    town.settled(ana.id)
    seen = len(fake.sent_to(ana.id))
    fake.push_sticker(ana)
    wait_text(fake, ana.id, apology, after=seen)
    assert town.inbox(ana.id)[-1].payload["unsupported"] == "sticker"


def test_an_edited_message_is_read_as_the_next_message(town: Town) -> None:
    fake = town.fake
    ana = fake.user(107, "Ana")
    fake.push_text(ana, "hola")
    wait_text(fake, ana.id, MENU)
    town.settled(ana.id)
    seen = len(fake.sent_to(ana.id))
    fake.push_edited(ana, 1, "menú")
    wait_text(fake, ana.id, MENU, after=seen)
    assert town.inbox(ana.id)[-1].payload["text"] == "menú"


# --- what the route refuses: nothing stored ---------------------------------------


def _update(update_id: int = 1) -> bytes:
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": 5, "type": "private", "first_name": "Eve"},
        "from": {"id": 5, "is_bot": False, "first_name": "Eve"},
        "text": "hola",
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 403), ({}, 401)],
    ids=["wrong-secret", "missing-secret"],
)
def test_a_wrong_or_missing_secret_is_refused(town: Town, headers: dict[str, str], status: int) -> None:
    response = httpx.post(town.webhook_url, content=_update(), headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert "X-Telegram-Bot-Api-Secret-Token" in response.text
    assert town.count_inbox() == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": 7, "message": {"text": "no chat"}}'],
    ids=["malformed", "array", "no-update-id", "message-without-chat"],
)
def test_a_payload_that_is_not_an_update_is_refused(town: Town, body: bytes) -> None:
    response = httpx.post(
        town.webhook_url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10
    )
    assert response.status_code == 400, response.text
    assert town.count_inbox() == 0


def test_an_oversized_body_is_refused_with_413_and_nothing_stored(town: Town) -> None:
    huge = b'{"update_id": 9, "message": {"text": "' + b"a" * (1024 * 1024 + 10) + b'"}}'
    response = httpx.post(
        town.webhook_url, content=huge, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=30
    )
    assert response.status_code == 413, response.text
    assert "larger than 1 MB" in response.json()["error"]
    assert town.count_inbox() == 0


def test_a_right_secret_is_stored_and_acknowledged(town: Town) -> None:
    town.fake.user(5, "Eve")
    response = httpx.post(
        town.webhook_url, content=_update(77), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert [row.platform_message_id for row in town.inbox(5)] == ["77"]
    wait_text(town.fake, 5, MENU)


def test_telegram_redelivers_until_the_secret_matches(town: Town) -> None:
    """A webhook registered with a stale secret: every delivery gets 403 and nothing is stored, until it is fixed."""
    fake = town.fake
    api = f"{fake.base_url}/bot{fake.token}/setWebhook"
    wait_for(lambda: fake.calls_of("setWebhook"), 10)  # the channel registered itself at start
    assert httpx.post(api, data={"url": town.webhook_url, "secret_token": "stale"}, timeout=10).json()["ok"]
    ana = fake.user(108, "Ana")
    update_id = fake.push_text(ana, "hola")
    wait_for(lambda: len([d for d in fake.webhook_deliveries() if d == (update_id, 403)]) >= 2, 20)
    assert town.count_inbox() == 0 and fake.pending_updates() == [update_id]

    assert httpx.post(api, json={"url": town.webhook_url, "secret_token": SECRET}, timeout=10).json()["ok"]
    wait_text(fake, ana.id, MENU)
    assert fake.webhook_deliveries()[-1] == (update_id, 200)
    assert [row.platform_message_id for row in town.inbox(ana.id)] == [str(update_id)]
