"""The X channel over real HTTP: tweepy against a fake X API, webhooks through the real app's ``/webhooks/x``."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tweepy
from sqlalchemy import func, select

from adapters.base import Checkable, Limits, WebhookChannel, WebhookRequest
from adapters.testing.x_server import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    BOT_ID,
    BOT_USERNAME,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeX,
    SentDM,
    WebhookSender,
    account_activity_dm,
    environment,
    webhook_signature,
    x_activity_dm,
)
from adapters.web import WebChannel
from adapters.x import HostRewrite, XChannel, XCredentials, from_config
from bot.config import Config
from bot.errors import ConfigError, RetryLater, Undeliverable
from bot.messages import Option, OutboundMessage
from bot.runtime import Plaza
from bot.web.app import create_app
from models import InboxItem
from models.db import Database
from tests.support.server import AppServer, run_plaza, wait_for

ROOT = Path(__file__).resolve().parents[3]
INBOX = InboxItem.__table__  # type: ignore[attr-defined]
FAST = Limits(max_text=10_000, max_options=20, per_chat_per_s=1000.0, overall_per_s=1000.0)
NUMBERED = re.compile(r"^1\. .+$", re.MULTILINE)
RESIDENT = "2244994945"


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, str]]:
    api = FakeX()
    with AppServer(api.app) as server:
        yield api, server.base_url


def credentials() -> XCredentials:
    return XCredentials(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET)


@pytest.fixture
def channel(fake: tuple[FakeX, str]) -> XChannel:
    return XChannel(credentials(), base_url=fake[1], limits=FAST)


@pytest.fixture
def webhook(config: Config, database: Database, channel: XChannel) -> Iterator[WebhookSender]:
    """The real app hosting the web and X channels; a sender that plays X towards its /webhooks/x."""
    web = WebChannel()
    plaza = Plaza(config, [web, channel], database=database, poll_interval=0.05, reload_interval=None)
    with AppServer(create_app(plaza, web)) as server:
        sender = WebhookSender(f"{server.base_url}/webhooks/x")
        try:
            yield sender
        finally:
            sender.close()


def stored(database: Database, channel: str = "x") -> int:
    with database.reader.connect() as connection:
        return int(connection.execute(select(func.count()).where(INBOX.c.channel == channel)).scalar_one())


def replies(api: FakeX, to: str, count: int = 1) -> list[SentDM]:
    got: list[SentDM] = wait_for(lambda: (lambda dms: dms if len(dms) >= count else None)(api.sent_to(to)), 20)
    return got


def outbound(text: str, options: tuple[Option, ...] = (), chat_id: str = RESIDENT, id: int = 1) -> OutboundMessage:
    return OutboundMessage(id=id, channel="x", chat_id=chat_id, text=text, options=options)


# --- the channel contract ----------------------------------------------------------


def test_is_a_checkable_webhook_channel(channel: XChannel) -> None:
    assert isinstance(channel, WebhookChannel)
    assert isinstance(channel, Checkable)


def test_from_config_needs_every_key() -> None:
    env = environment("http://127.0.0.1:9")
    assert isinstance(from_config({"enabled": True}, env), XChannel)
    del env["X_ACCESS_TOKEN_SECRET"]
    with pytest.raises(ConfigError, match="X_ACCESS_TOKEN_SECRET is not set"):
        from_config({"enabled": True}, env)


def test_honest_limits() -> None:
    limits = from_config({}, environment("http://127.0.0.1:9")).limits
    assert limits.max_text == 10_000
    assert limits.per_chat_per_s == pytest.approx(1 / 60)


# --- webhooks through the real app -----------------------------------------------------


def test_crc_challenge(webhook: WebhookSender) -> None:
    webhook.crc()
    bare = webhook.http.get(webhook.url)
    assert bare.status_code == 400


def test_account_activity_dm_is_stored_and_answered_with_numbered_options(
    fake: tuple[FakeX, str], webhook: WebhookSender, database: Database
) -> None:
    api, _ = fake
    response = webhook.post(account_activity_dm(RESIDENT, "Hola"))
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1}
    assert stored(database) == 1
    dms = replies(api, RESIDENT)
    assert "Ayuntamiento de Jun" in "\n".join(dm.text for dm in dms)
    menu = wait_for(lambda: [dm for dm in api.sent_to(RESIDENT) if NUMBERED.search(dm.text)], 20)
    assert re.search(r"^2\. .+$", menu[0].text, re.MULTILINE), menu[0].text
    assert not api.refused


def test_x_activity_dm_is_stored_and_answered(
    fake: tuple[FakeX, str], webhook: WebhookSender, database: Database
) -> None:
    api, _ = fake
    response = webhook.post(x_activity_dm("3344556677", "Buenos días"))
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1}
    assert stored(database) == 1
    menu = wait_for(lambda: [dm for dm in api.sent_to("3344556677") if NUMBERED.search(dm.text)], 20)
    assert menu


def test_the_bots_own_echoes_are_skipped(webhook: WebhookSender, database: Database) -> None:
    echo = account_activity_dm(BOT_ID, "Hola, soy el asistente", recipient_id=RESIDENT)
    assert webhook.post(echo).json() == {"accepted": 0}
    sent = x_activity_dm(BOT_ID, "Hola, soy el asistente", event_type="dm.sent")
    assert webhook.post(sent).json() == {"accepted": 0}
    received_from_self = x_activity_dm(BOT_ID, "Hola")
    assert webhook.post(received_from_self).json() == {"accepted": 0}
    assert stored(database) == 0


def test_wrong_signature_is_403_and_nothing_stored(webhook: WebhookSender, database: Database) -> None:
    response = webhook.post(account_activity_dm(RESIDENT, "Hola"), signature="sha256=bm90IHRoZSByaWdodCBvbmU=")
    assert response.status_code == 403
    other_secret = WebhookSender(webhook.url, consumer_secret="someone-else")
    try:
        assert other_secret.post(x_activity_dm(RESIDENT, "Hola")).status_code == 403
    finally:
        other_secret.close()
    assert stored(database) == 0


def test_missing_signature_is_401(webhook: WebhookSender, database: Database) -> None:
    response = webhook.post(account_activity_dm(RESIDENT, "Hola"), signature=None)
    assert response.status_code == 401
    assert "x-twitter-webhooks-signature" in response.text
    assert stored(database) == 0


def test_malformed_payloads_are_400(webhook: WebhookSender, database: Database) -> None:
    assert webhook.post(b'{"direct_message_events": [').status_code == 400
    assert webhook.post(b"[1, 2]").status_code == 400
    assert webhook.post({"something": "else"}).status_code == 400
    broken = {"for_user_id": BOT_ID, "direct_message_events": [{"type": "message_create", "id": "1"}]}
    assert webhook.post(broken).status_code == 400
    assert stored(database) == 0


def test_a_redelivered_event_is_answered_once(
    fake: tuple[FakeX, str], webhook: WebhookSender, database: Database
) -> None:
    api, _ = fake
    payload = account_activity_dm("5566778899", "Hola", event_id="1700000000000000042")
    for _ in range(3):
        assert webhook.post(payload).status_code == 200
    assert stored(database) == 1
    # the same "Hola" from a second resident, delivered once, is the yardstick for one answer
    assert webhook.post(account_activity_dm("9988776655", "Hola")).status_code == 200
    once = wait_for(lambda: [dm.text for dm in api.sent_to("9988776655") if NUMBERED.search(dm.text)], 20)
    assert once
    wait_for(lambda: [dm.text for dm in api.sent_to("5566778899")] == [dm.text for dm in api.sent_to("9988776655")], 20)
    assert stored(database) == 2


def test_photo_and_quick_reply_are_mapped(channel: XChannel) -> None:
    payload = account_activity_dm(RESIDENT, "La farola", photo_url="https://ton.x.com/i/ton/data/dm/1/2/a.jpg")
    payload["direct_message_events"][0]["message_create"]["message_data"]["quick_reply_response"] = {
        "type": "options",
        "metadata": "report",
    }
    [message] = channel.parse(signed(payload))
    assert message.text == "La farola"
    assert message.choice == "report"
    assert message.photos[0].ref == "https://ton.x.com/i/ton/data/dm/1/2/a.jpg"
    assert message.photos[0].mime_type == "image/jpeg"
    assert message.chat_id == message.sender_id == RESIDENT
    assert message.sender_name == "Vecina de Jun"


# --- sending through tweepy ----------------------------------------------------------


async def test_a_long_reply_arrives_complete_and_in_order(fake: tuple[FakeX, str], channel: XChannel) -> None:
    api, _ = fake
    paragraphs = [f"Párrafo {n}: " + " ".join(f"palabra{n}-{i}" for i in range(300)) for n in range(12)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 25_000
    options = (Option("yes", "Sí"), Option("no", "No"))
    receipt = await channel.send(outbound(text, options))
    dms = api.sent_to(RESIDENT)
    assert len(dms) == len(receipt.platform_message_ids) >= 3
    assert [dm.event_id for dm in dms] == list(receipt.platform_message_ids)
    assert all(len(dm.text) <= 10_000 for dm in dms)
    joined = "\n\n".join(dm.text for dm in dms)
    assert joined == text + "\n\n1. Sí\n2. No"
    assert not api.refused


async def test_429_is_retry_later_until_the_reset(fake: tuple[FakeX, str], channel: XChannel) -> None:
    api, _ = fake
    api.fail_next(429, reset_in=600)
    with pytest.raises(RetryLater) as caught:
        await channel.send(outbound("Hola"))
    assert 590 <= caught.value.retry_after <= 601
    assert api.sent_to(RESIDENT) == []
    receipt = await channel.send(outbound("Hola"))
    assert [dm.text for dm in api.sent_to(RESIDENT)] == ["Hola"]
    assert len(receipt.platform_message_ids) == 1


async def test_a_retry_resumes_after_the_parts_already_sent(fake: tuple[FakeX, str], channel: XChannel) -> None:
    api, _ = fake
    text = "\n\n".join(["a" * 9_000, "b" * 9_000, "c" * 9_000])
    original = channel._send_part
    calls = 0

    def fail_second(chat_id: str, part: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            api.fail_next(429, reset_in=5)
        return original(chat_id, part)

    channel._send_part = fail_second  # type: ignore[method-assign]
    with pytest.raises(RetryLater):
        await channel.send(outbound(text, id=7))
    receipt = await channel.send(outbound(text, id=7))
    assert [dm.text[0] for dm in api.sent_to(RESIDENT)] == ["a", "b", "c"]
    assert len(receipt.platform_message_ids) == 3


@pytest.mark.parametrize("status", [403, 404])
async def test_dms_closed_or_user_gone_is_undeliverable(
    fake: tuple[FakeX, str], channel: XChannel, status: int
) -> None:
    api, _ = fake
    api.fail_next(status)
    with pytest.raises(Undeliverable):
        await channel.send(outbound("Hola"))


async def test_server_errors_and_a_dead_api_retry_soon(fake: tuple[FakeX, str], channel: XChannel) -> None:
    api, _ = fake
    api.fail_next(503)
    with pytest.raises(RetryLater) as caught:
        await channel.send(outbound("Hola"))
    assert caught.value.retry_after <= 30
    dead = XChannel(credentials(), base_url="http://127.0.0.1:9", limits=FAST)
    with pytest.raises(RetryLater):
        await dead.send(outbound("Hola"))


async def test_wrong_keys_are_refused_by_the_fake(fake: tuple[FakeX, str]) -> None:
    api, base_url = fake
    wrong = XChannel(XCredentials(CONSUMER_KEY, "not-the-secret", ACCESS_TOKEN, ACCESS_TOKEN_SECRET), base_url=base_url)
    with pytest.raises(RetryLater, match="401"):
        await wrong.send(outbound("Hola"))
    assert api.refused and "signature" in api.refused[0]
    assert api.sent_to(RESIDENT) == []


async def test_check_names_the_account(channel: XChannel) -> None:
    assert await channel.check() == f"@{BOT_USERNAME} ({BOT_ID})"
    assert channel.user_id == BOT_ID


def test_plaza_channels_check_prints_the_account(fake: tuple[FakeX, str], tmp_path: Path) -> None:
    _, base_url = fake
    config = (ROOT / "config.yaml").read_text(encoding="utf-8")
    enabled = config.replace("  x:\n    enabled: false", "  x:\n    enabled: true")
    assert enabled != config
    (tmp_path / "config.yaml").write_text(enabled, encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    result = run_plaza(tmp_path / "config.yaml", "channels", "check", env=environment(base_url))
    assert result.returncode == 0, result.stderr
    assert f"x: ok, as @{BOT_USERNAME} ({BOT_ID})" in result.stdout
    missing = {k: v for k, v in environment(base_url).items() if k != "X_CONSUMER_SECRET"}
    failed = run_plaza(tmp_path / "config.yaml", "channels", "check", env=missing)
    assert failed.returncode != 0
    assert "X_CONSUMER_SECRET" in failed.stderr


def test_the_fake_lists_dm_events_with_pagination(fake: tuple[FakeX, str]) -> None:
    api, base_url = fake
    for n in range(5):
        api.receive(RESIDENT, f"mensaje {n}")
    client = tweepy.Client(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        access_token=ACCESS_TOKEN,
        access_token_secret=ACCESS_TOKEN_SECRET,
        return_type=dict,
    )
    client.session.mount("https://api.twitter.com", HostRewrite(base_url, credentials()))
    first = client.get_direct_message_events(max_results=2, event_types="MessageCreate")
    assert [e["text"] for e in first["data"]] == ["mensaje 4", "mensaje 3"]
    second = client.get_direct_message_events(max_results=2, pagination_token=first["meta"]["next_token"])
    assert [e["text"] for e in second["data"]] == ["mensaje 2", "mensaje 1"]
    assert not api.refused
    assert httpx.get(f"{base_url}/2/users/me").status_code == 401


# --- polling mode -----------------------------------------------------------------------


async def until(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        assert asyncio.get_running_loop().time() < deadline, f"condition not met within {timeout} s"
        await asyncio.sleep(0.05)
    return value


async def test_polling_stores_new_dms_once_and_skips_old_ones_and_its_own(
    fake: tuple[FakeX, str], config: Config, database: Database
) -> None:
    api, base_url = fake
    api.receive("1111", "un mensaje de hace dos horas", at=time.time() - 7200)
    polling = XChannel(credentials(), base_url=base_url, limits=FAST, mode="polling", poll_interval=0.1)
    plaza = Plaza(config, [polling], database=database, poll_interval=0.05, reload_interval=None)
    async with plaza:
        api.receive(RESIDENT, "Hola")
        await until(lambda: [dm for dm in api.sent_to(RESIDENT) if NUMBERED.search(dm.text)])
        sent_so_far = len(api.sent)
        api.receive(RESIDENT, "", photo_url="https://ton.x.com/i/ton/data/dm/9/9/farola.jpg")
        await until(lambda: stored(database) == 2)
        await until(lambda: len(api.sent) > sent_so_far)  # the bot answered the photo too
    assert stored(database) == 2  # neither the old DM nor the bot's own replies
    with database.reader.connect() as connection:
        rows = connection.execute(select(INBOX.c.sender_id, INBOX.c.payload).order_by(INBOX.c.id)).all()
    assert [row.sender_id for row in rows] == [RESIDENT, RESIDENT]
    assert "farola.jpg" in json.dumps(rows[1].payload)
    assert not api.refused


def test_polling_settings_are_checked() -> None:
    env = environment("http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="15 requests per 15 minutes"):
        from_config({"mode": "polling", "poll_interval": 5}, env)
    with pytest.raises(ConfigError, match="unknown mode"):
        from_config({"mode": "stream"}, env)


def signed(payload: dict[str, Any]) -> WebhookRequest:
    body = json.dumps(payload).encode()
    return WebhookRequest("POST", {"x-twitter-webhooks-signature": webhook_signature(body)}, {}, body)


def test_v2_events_with_media_includes_and_unsupported_media(channel: XChannel) -> None:
    event = {
        "id": "1800000000000000123",
        "event_type": "MessageCreate",
        "text": "mire",
        "sender_id": RESIDENT,
        "dm_conversation_id": f"{RESIDENT}-{BOT_ID}",
        "created_at": "2026-11-20T10:30:00.000Z",
        "attachments": {"media_keys": ["3_1"]},
    }
    payload = {
        "dm_events": [event, {**event, "id": "1800000000000000124", "event_type": "ParticipantsJoin"}],
        "includes": {
            "media": [{"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/a.png"}],
            "users": [{"id": RESIDENT, "name": "Vecino", "username": "vecino"}],
        },
    }
    [message] = channel.parse(signed(payload))
    assert message.platform_message_id == "1800000000000000123"
    assert message.photos[0].ref == "https://pbs.twimg.com/media/a.png"
    assert message.photos[0].mime_type == "image/png"
    assert message.sender_name == "Vecino"
    assert message.sent_at.isoformat() == "2026-11-20T10:30:00+00:00"

    video = account_activity_dm(RESIDENT, "", photo_url="https://video.twimg.com/v.mp4")
    video["direct_message_events"][0]["message_create"]["message_data"]["attachment"]["media"]["type"] = "video"
    [clip] = channel.parse(signed(video))
    assert clip.unsupported == "video"
    assert clip.photos == ()
    assert clip.text is None
