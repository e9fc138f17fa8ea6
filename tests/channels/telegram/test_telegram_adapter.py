"""The Telegram adapter on its own against the fake Bot API: mapping updates, sending, failures, config."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.base import Channel, Checkable, WebhookChannel, WebhookRequest
from adapters.telegram import TelegramChannel, from_config
from adapters.testing.telegram_server import FakeTelegram
from bot.errors import BadPayload, BadSignature, ChannelError, ConfigError, PartlySent, RetryLater, Undeliverable
from bot.messages import Location, Option, OutboundMessage, Photo, SentReceipt
from tests.support.server import free_port, tiny_png

SECRET = "the-secret"


@pytest.fixture
async def channel(fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(fake.token, api_base_url=fake.base_url, mode="webhook", webhook_secret=SECRET)
    yield channel
    await channel.stop()


def request(update: dict[str, Any] | bytes, secret: str | None = SECRET) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return WebhookRequest(method="POST", headers=headers, query={}, body=body)


def message(**content: Any) -> dict[str, Any]:
    user = {"id": 9, "is_bot": False, "first_name": "Ana", "last_name": "Ruiz", "language_code": "en-GB"}
    return {"message_id": 3, "date": 1_700_000_000, "chat": {"id": 9, "type": "private"}, "from": user, **content}


def out(text: str, *options: Option, photo: Photo | None = None, chat_id: int = 9) -> OutboundMessage:
    return OutboundMessage(id=int(time.monotonic_ns()), channel="telegram", chat_id=str(chat_id), text=text,
                           options=options, photo=photo)  # fmt: skip


async def send_whole(channel: TelegramChannel, message: OutboundMessage) -> SentReceipt:
    """Send every part at once (the outbox would wait the chat's interval between them)."""
    while True:
        try:
            return await channel.send(message)
        except PartlySent as partly:
            assert partly.sent < partly.total and partly.retry_after == 1.0


def test_the_channel_plays_every_role(channel: TelegramChannel) -> None:
    assert isinstance(channel, Channel) and isinstance(channel, WebhookChannel) and isinstance(channel, Checkable)
    limits = channel.limits
    assert (limits.max_text, limits.per_chat_per_s, limits.overall_per_s) == (4096, 1.0, 25.0)


# --- parse ---------------------------------------------------------------------------


def test_a_text_update(channel: TelegramChannel) -> None:
    [got] = channel.parse(request({"update_id": 41, "message": message(text="hola")}))
    assert (got.channel, got.platform_message_id, got.sender_id, got.chat_id) == ("telegram", "41", "9", "9")
    assert (got.text, got.language, got.sender_name) == ("hola", "en-GB", "Ana Ruiz")
    assert got.sent_at.timestamp() == 1_700_000_000 and got.sent_at.utcoffset() is not None
    assert got.raw["update_id"] == 41


def test_a_photo_takes_the_largest_size_and_the_caption(channel: TelegramChannel) -> None:
    sizes = [
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960},
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 67},
    ]
    [got] = channel.parse(request({"update_id": 42, "message": message(photo=sizes, caption="la farola")}))
    assert got.photos == (Photo("big", "image/jpeg"),) and got.text == "la farola"


def test_a_location(channel: TelegramChannel) -> None:
    [got] = channel.parse(
        request({"update_id": 43, "message": message(location={"latitude": 37.2, "longitude": -3.6})})
    )
    assert got.location == Location(37.2, -3.6) and got.text is None


@pytest.mark.parametrize("kind", ["sticker", "voice", "document"])
def test_content_the_bot_cannot_read_is_delivered_as_unsupported(channel: TelegramChannel, kind: str) -> None:
    content = {"file_id": "f", "file_unique_id": "u", "duration": 2, "width": 1, "height": 1}
    content |= {"type": "regular", "is_animated": False, "is_video": False}
    [got] = channel.parse(request({"update_id": 44, "message": message(**{kind: content})}))
    assert got.unsupported == kind and got.text is None and not got.photos


def test_a_button_press_is_a_choice(channel: TelegramChannel) -> None:
    query = {
        "id": "q1",
        "from": message()["from"],
        "chat_instance": "c",
        "data": "report",
        "message": message(text="?"),
    }
    [got] = channel.parse(request({"update_id": 45, "callback_query": query}))
    assert (got.choice, got.text, got.chat_id, got.platform_message_id) == ("report", None, "9", "45")


def test_an_edit_is_a_new_message_with_its_own_key(channel: TelegramChannel) -> None:
    [got] = channel.parse(request({"update_id": 46, "edited_message": message(text="corrected", edit_date=1)}))
    assert (got.text, got.platform_message_id) == ("corrected", "46")


def test_updates_that_are_not_a_resident_talking_are_acknowledged_without_messages(channel: TelegramChannel) -> None:
    assert channel.parse(request({"update_id": 47, "my_chat_member": None})) == []


@pytest.mark.parametrize(("secret", "missing"), [(None, True), ("nope", False), ("", False), (SECRET + "x", False)])
def test_the_secret_is_checked_first(channel: TelegramChannel, secret: str | None, missing: bool) -> None:
    with pytest.raises(BadSignature) as caught:
        channel.parse(request(b"not even json", secret=secret))
    assert caught.value.missing is missing


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"null",
        b"[" * 100_000,
        b"\xff\xfe",
        b'{"update_id": "1"}',
        b'{"update_id": true}',
        b'{"update_id": 1, "message": 5}',
    ],
)
def test_what_is_not_an_update_is_a_bad_payload(channel: TelegramChannel, body: bytes) -> None:
    with pytest.raises(BadPayload):
        channel.parse(request(body))


def test_a_location_off_the_earth_is_a_bad_payload(channel: TelegramChannel) -> None:
    with pytest.raises(BadPayload, match="not a place on Earth"):
        channel.parse(request({"update_id": 48, "message": message(location={"latitude": 99, "longitude": 0})}))


async def test_a_polling_channel_takes_no_webhook(fake: FakeTelegram) -> None:
    polling = TelegramChannel(fake.token, api_base_url=fake.base_url)
    with pytest.raises(BadSignature):
        polling.parse(request({"update_id": 1, "message": message(text="hola")}))


# --- send -------------------------------------------------------------------------------


async def test_options_become_an_inline_keyboard_and_long_keys_travel_as_numbers(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    user = fake.user(9)
    long_key = "slot:" + "x" * 80
    receipt = await channel.send(out("¿Cuándo?", Option("mon", "Lunes"), Option(long_key, "Martes 10:00")))
    [sent] = fake.sent_to(9)
    assert receipt.platform_message_ids == (str(sent.message_id),)
    assert sent.buttons == [{"text": "Lunes", "callback_data": "mon"}, {"text": "Martes 10:00", "callback_data": "#2"}]
    fake.press(user, sent, "Martes 10:00")
    [update] = await channel._bot.get_updates(timeout=0)
    [got] = channel.messages_of(update)
    assert got.choice is None and got.text == "Martes 10:00"  # the engine takes a label as the answer


async def test_a_photo_with_a_short_text_carries_it_as_caption(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.user(9)
    file_id = fake.add_file(tiny_png(), "photos/menu.png")
    await channel.send(out("Menú de la semana", Option("ok", "Vale"), photo=Photo(file_id)))
    [sent] = fake.sent_to(9)
    assert (sent.method, sent.photo, sent.caption, sent.buttons[0]["callback_data"]) == (
        "sendPhoto",
        file_id,
        "Menú de la semana",
        "ok",
    )


async def test_a_photo_with_a_long_text_goes_first_then_the_text(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.user(9)
    file_id = fake.add_file(tiny_png(), "photos/menu.png")
    with pytest.raises(PartlySent) as first:
        await channel.send(out_long := out("palabra " * 300, photo=Photo(file_id)))
    assert (first.value.sent, first.value.total) == (1, 2)
    assert [s.method for s in fake.sent_to(9)] == ["sendPhoto"]  # one part per send: the outbox paces the next
    await channel.send(out_long)
    assert [s.method for s in fake.sent_to(9)] == ["sendPhoto", "sendMessage"]


async def test_a_retry_after_a_429_mid_message_sends_only_the_rest(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    fake.user(9)
    message = out("\n\n".join(["a" * 4000, "b" * 4000, "c" * 200]))
    await channel.send(out("warm-up"))  # getMe done; the next sendMessage calls are the message's
    fake.rate_limit_next("sendMessage", retry_after=3, after=1)
    with pytest.raises(RetryLater) as caught:
        await send_whole(channel, message)
    assert caught.value.retry_after == 3
    receipt = await send_whole(channel, message)
    texts = [s.text for s in fake.sent_to(9)][1:]
    assert texts == ["a" * 4000, "b" * 4000, "c" * 200]
    assert len(receipt.platform_message_ids) == 3


@pytest.mark.parametrize(
    ("status", "description", "error", "reason"),
    [
        (403, "Forbidden: bot was blocked by the user", Undeliverable, "Forbidden: bot was blocked by the user"),
        (400, "Bad Request: chat not found", Undeliverable, "Chat not found"),
        (500, "Internal Server Error", RetryLater, "Internal Server Error"),
        (502, "Bad Gateway", RetryLater, "Bad Gateway"),
    ],
)
async def test_refusals_map_to_the_outbox_errors(
    channel: TelegramChannel, fake: FakeTelegram, status: int, description: str, error: type, reason: str
) -> None:
    fake.user(9)
    fake.fail_next("sendMessage", status, description)
    with pytest.raises(error) as caught:
        await channel.send(out("hola"))
    assert caught.value.reason == reason
    if isinstance(caught.value, RetryLater):
        assert 0 < caught.value.retry_after <= 10


async def test_a_chat_the_bot_never_met_is_undeliverable(channel: TelegramChannel) -> None:
    with pytest.raises(Undeliverable, match="Chat not found"):
        await channel.send(out("hola", chat_id=404))


async def test_an_unreachable_api_is_retried_later() -> None:
    channel = TelegramChannel("1:x", api_base_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(RetryLater):
            await channel.send(out("hola"))
        with pytest.raises(ChannelError, match="getMe failed"):
            await channel.check()
    finally:
        await channel.stop()


async def test_check_names_the_bot(channel: TelegramChannel) -> None:
    assert await channel.check() == "@JunBot"


async def test_fetch_photo_downloads_through_get_file(channel: TelegramChannel, fake: FakeTelegram) -> None:
    file_id = fake.add_file(tiny_png(), "photos/farola.jpg")
    assert await channel.fetch_photo(file_id) == tiny_png()
    with pytest.raises(Undeliverable, match="Invalid file_id"):
        await channel.fetch_photo("no-such-file")


# --- configuration ------------------------------------------------------------------------


def test_from_config_defaults_to_polling() -> None:
    channel = from_config({}, {"TELEGRAM_BOT_TOKEN": "1:abc"})
    assert channel.mode == "polling" and channel._bot.base_url == "https://api.telegram.org/bot1:abc"


def test_from_config_points_the_library_at_the_base_url() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "1:abc",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/",
        "TELEGRAM_WEBHOOK_SECRET": "s",
    }
    channel = from_config({"mode": "webhook"}, env)
    assert channel.mode == "webhook"
    assert channel._bot.base_url == "http://127.0.0.1:9/bot1:abc"
    assert channel._bot.base_file_url == "http://127.0.0.1:9/file/bot1:abc"


@pytest.mark.parametrize(
    ("settings", "env", "problem"),
    [
        ({}, {}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"mode": "webhook"}, {"TELEGRAM_BOT_TOKEN": "1:a"}, "TELEGRAM_WEBHOOK_SECRET is not set"),
        ({"mode": "push"}, {"TELEGRAM_BOT_TOKEN": "1:a"}, "unknown mode 'push'"),
        ({"poll_timeout": "long"}, {"TELEGRAM_BOT_TOKEN": "1:a"}, "'long'"),
        (
            {"mode": "webhook"},
            {"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_WEBHOOK_SECRET": "no spaces!"},
            "TELEGRAM_WEBHOOK_SECRET has characters Telegram does not allow",
        ),
    ],
)
def test_from_config_names_what_is_missing(settings: dict[str, Any], env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_config(settings, env)
    assert caught.value.problem == problem and caught.value.key.startswith("channels.telegram")
