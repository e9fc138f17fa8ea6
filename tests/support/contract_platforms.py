"""The contract's three platforms: Telegram, Mastodon and X, each reached its own way.

- Telegram: the fake Bot API delivers updates to Plaza's webhook (``plaza
  serve`` polls it instead); options are inline buttons.
- Mastodon: ``mastodon-mock``; residents post direct mentions with
  Mastodon.py and Plaza streams its notifications (polling when the
  stream is down); replies start with the
  resident's mention, which :meth:`MastodonPlatform.replies` takes off.
- X: the fake X API takes the DMs tweepy sends; residents' DMs arrive as
  signed webhook POSTs, text in the X Activity API's shape and media in the
  Account Activity API's.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from adapters.base import Channel, Limits
from adapters.mastodon import MastodonChannel
from adapters.mastodon_html import status_text
from adapters.telegram import TelegramChannel
from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from adapters.testing.telegram_server import FakeTelegram, User, serve_fake_telegram
from adapters.testing.x_server import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_SECRET,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    FakeX,
    WebhookSender,
    account_activity_dm,
    environment,
    webhook_signature,
    x_activity_dm,
)
from adapters.x import XChannel, XCredentials
from tests.support.contract import Credential, Platform, Resident
from tests.support.server import AppServer, tiny_png, wait_for

TELEGRAM_SECRET = "contract-Secret_123"
_LEADING_MENTION = re.compile(r"^@\S+\s*")


class TelegramPlatform(Platform):
    """The fake Bot API; Plaza in webhook mode (the fake POSTs each update), ``plaza serve`` polling."""

    name = "telegram"
    webhook = True
    hints_language = True
    max_text = 4096

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self._ids = itertools.count(501)
        self.request_timeout = 5.0
        """How long the adapter waits for an answer (a fault test shortens it)."""

    def channel(self, app_url: str) -> Channel:
        return TelegramChannel(
            self.fake.token,
            api_base_url=self.fake.base_url,
            mode="webhook",
            webhook_secret=TELEGRAM_SECRET,
            webhook_url=f"{app_url}/webhooks/telegram",
            retry_pause=0.2,
            request_timeout=self.request_timeout,
        )

    def serve(self) -> tuple[str, str, dict[str, str]]:
        env = {"TELEGRAM_BOT_TOKEN": self.fake.token, "TELEGRAM_API_BASE_URL": self.fake.base_url}
        return "  telegram:\n    enabled: false", "  telegram:\n    enabled: true\n    poll_timeout: 1", env

    def ready(self) -> None:
        wait_for(lambda: self.fake.calls_of("setWebhook"), 15)

    def resident(self, language: str = "es") -> Resident:
        user = self.fake.user(next(self._ids), "Ana", language_code=language)
        return Resident(str(user.id), user, language)

    def _user(self, resident: Resident) -> User:
        user: User = resident.handle
        return user

    def say(self, resident: Resident, text: str) -> str:
        return str(self.fake.push_text(self._user(resident), text))

    def photo(self, resident: Resident) -> str:
        return str(self.fake.push_photo(self._user(resident), tiny_png()))

    def location(self, resident: Resident, latitude: float, longitude: float) -> str:
        return str(self.fake.push_location(self._user(resident), latitude, longitude))

    def choose(self, resident: Resident, label: str) -> str:
        """Press the inline button ``label`` under the bot's last message that has it."""
        for sent in reversed(self.fake.sent_to(int(resident.chat_id))):
            if any(button["text"] == label for button in sent.buttons):
                return str(self.fake.press(self._user(resident), sent, label))
        raise AssertionError(f"no button {label!r} sent to {resident.chat_id}")

    buttons = True

    def last_options(self, resident: Resident) -> list[str]:
        sent = self.fake.sent_to(int(resident.chat_id))
        return [button["text"] for button in sent[-1].buttons] if sent else []

    def unsupported(self, resident: Resident, kind: Literal["sticker", "voice"]) -> str:
        if kind == "sticker":
            self.fake.push_sticker(self._user(resident))
        else:
            self.fake.push_voice(self._user(resident))
        return kind

    def say_three_times(self, resident: Resident, text: str) -> str:
        self.fake.webhook_repeat = 3
        try:
            update_id = self.fake.push_text(self._user(resident), text)
            wait_for(lambda: update_id not in self.fake.pending_updates(), 20)
        finally:
            self.fake.webhook_repeat = 1
        deliveries = [d for d in self.fake.webhook_deliveries() if d[0] == update_id]
        assert deliveries == [(update_id, 200)] * 3, deliveries
        return str(update_id)

    def replies(self, resident: Resident) -> list[str]:
        return [sent.text or sent.caption or "" for sent in self.fake.sent_to(int(resident.chat_id))]

    def rate_limit_sends(self, seconds: int) -> Callable[[float], float]:
        self.fake.rate_limit_next("sendMessage", retry_after=seconds)
        return lambda refused_at: refused_at + seconds

    def send_attempts(self) -> list[float]:
        return self.fake.calls_of("sendMessage")

    burst = (500, 50)

    def sent_log(self) -> list[tuple[float, str]]:
        return [(sent.at, str(sent.chat_id)) for sent in self.fake.sent()]

    def event(self) -> tuple[Resident, bytes]:
        user = self.fake.user(next(self._ids), "Eve")
        message = {
            "message_id": 1,
            "date": int(time.time()),
            "chat": user.chat(),
            "from": user.as_json(),
            "text": "hola",
        }
        body = json.dumps({"update_id": 900_000 + user.id, "message": message}).encode()
        return Resident(str(user.id), user), body

    def headers(self, body: bytes, credential: Credential) -> dict[str, str]:
        secrets = {"right": TELEGRAM_SECRET, "wrong": "not-the-secret"}
        secret = secrets.get(credential)
        return {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}

    def malformed(self) -> list[bytes]:
        return [b"{not json", b"[1, 2]", b'{"message": {"text": "no update_id"}}', b'{"update_id": "seven"}']


class MastodonPlatform(Platform):
    """``mastodon-mock``: residents post direct mentions with Mastodon.py; Plaza streams its notifications."""

    name = "mastodon"
    webhook = False
    hints_language = True
    max_text = 500

    def __init__(self, server: MastodonServer) -> None:
        self.server = server
        self._free = ["maria", "pepe", "ana"]
        self.request_timeout = 15.0
        """How long the adapter waits for an answer (a fault test shortens it)."""

    def channel(self, app_url: str) -> Channel:
        # Polling spends the account's request budget that sending shares: at 2 s the bot may still send 0.5/s.
        return MastodonChannel(JUN_TOKEN, self.server.base_url, poll_interval=2.0, request_timeout=self.request_timeout)

    def serve(self) -> tuple[str, str, dict[str, str]]:
        env = {"MASTODON_ACCESS_TOKEN": JUN_TOKEN, "MASTODON_API_BASE_URL": self.server.base_url}
        return "  mastodon:\n    enabled: false", "  mastodon:\n    enabled: true\n    poll_interval: 0.2", env

    def ready(self) -> None:
        wait_for(lambda: self.server.policy()["for_private_mentions"] == "accept", 15)
        wait_for(lambda: self.server.requests_to("GET", "/api/v1/markers"), 15)

    def resident(self, language: str = "es") -> Resident:
        assert self._free, "mastodon-mock is seeded with three residents"
        name = self._free.pop(0)
        me = self.server.client(name).account_verify_credentials()
        return Resident(str(me["id"]), name, language)

    def _post(self, resident: Resident, text: str, media: bytes | None = None, mime: str | None = None) -> str:
        client = self.server.client(resident.handle)
        media_ids = [client.media_post(media, mime_type=mime)["id"]] if media is not None else None
        status = client.status_post(text, visibility="direct", language=resident.language, media_ids=media_ids)
        return str(status["id"])

    def say(self, resident: Resident, text: str) -> str:
        return self._post(resident, f"@jun {text}")

    def photo(self, resident: Resident) -> str:
        return self._post(resident, "@jun", tiny_png(), "image/png")

    def unsupported(self, resident: Resident, kind: Literal["sticker", "voice"]) -> str:
        # Mastodon has no stickers: an animation (video) is the nearest; a voice note is an audio attachment.
        if kind == "sticker":
            self._post(resident, "@jun", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
            return "video"
        self._post(resident, "@jun", b"ID3\x03\x00\x00\x00", "audio/mpeg")
        return "voice"

    def say_three_times(self, resident: Resident, text: str) -> str:
        """The mention comes by the stream; the stream drops and, as the read marker fails twice, the
        poller reads (and stores) the same mention three more times."""
        markers = len(self.server.requests_to("POST", "/api/v1/markers"))
        with self.server.fault(path="/api/v1/markers", status=500, count=2):
            key = self.say(resident, text)
            self.server.drop_streams()
            wait_for(lambda: len(self.server.requests_to("POST", "/api/v1/markers")) >= markers + 3, 20)
        statuses = [status for _, status in self.server.requests_to("POST", "/api/v1/markers")[markers:]]
        assert statuses[:3] == [500, 500, 200], statuses
        return key

    def replies(self, resident: Resident) -> list[str]:
        return [_LEADING_MENTION.sub("", status_text(s["content"])) for s in self.server.replies_to(resident.handle)]

    def rate_limit_sends(self, seconds: int) -> Callable[[float], float]:
        reset = int(time.time()) + seconds + 1
        earliest = time.monotonic() + (reset - time.time())
        effect = {"type": "ratelimit", "status": 429, "headers": {"X-RateLimit-Reset": str(reset)}}
        rule = {"match": {"path": "/api/v1/statuses"}, "effect": effect, "count": 1}
        self.server.http.post("/api/v1/_mock/faults", json=rule).raise_for_status()
        return lambda refused_at: earliest

    def send_attempts(self) -> list[float]:
        return [at for at, _ in self.server.requests_to("POST", "/api/v1/statuses", JUN_TOKEN)]

    burst = (6, 2)  # at 0.5 statuses per second, 12 s

    def sent_log(self) -> list[tuple[float, str]]:
        accepted = [
            at for at, status in self.server.requests_to("POST", "/api/v1/statuses", JUN_TOKEN) if status == 200
        ]
        # in the order they were posted, as the accepted requests (a status may be stored before its answer left)
        statuses = self.server.bot_statuses()[: len(accepted)]
        accepted = accepted[: len(statuses)]
        return [(at, str(status["mentions"][0]["id"])) for at, status in zip(accepted, statuses, strict=True)]


FAST = Limits(max_text=10_000, max_options=20, per_chat_per_s=1000.0, overall_per_s=1000.0)
"""X allows one DM a minute; the contract's conversations would take an hour at that pace."""


class XPlatform(Platform):
    """The fake X API for sending; signed Account Activity webhook POSTs, as X makes them, for receiving."""

    name = "x"
    webhook = True
    hints_language = False
    max_text = 10_000

    def __init__(self, api: FakeX, api_url: str) -> None:
        self.api = api
        self.api_url = api_url
        self.sender: WebhookSender | None = None
        self._ids = itertools.count(2_244_994_945)

    def channel(self, app_url: str) -> Channel:
        self.attach(app_url)
        credentials = XCredentials(CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET)
        return XChannel(credentials, base_url=self.api_url, limits=FAST)

    def serve(self) -> tuple[str, str, dict[str, str]]:
        return "  x:\n    enabled: false", "  x:\n    enabled: true", environment(self.api_url)

    def attach(self, app_url: str) -> None:
        if self.sender is not None:
            self.sender.close()
        self.sender = WebhookSender(f"{app_url}/webhooks/x")

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()

    def resident(self, language: str = "es") -> Resident:
        user_id = str(next(self._ids))
        return Resident(user_id, user_id, language)

    def _deliver(self, payload: dict[str, Any], times: int = 1) -> str:
        assert self.sender is not None, "attach() first"
        for _ in range(times):
            response = self.sender.post(payload)
            assert response.status_code == 200, response.text
        if "data" in payload:
            return str(payload["data"]["payload"]["id"])
        return str(payload["direct_message_events"][0]["id"])

    def say(self, resident: Resident, text: str) -> str:
        """Text comes in the X Activity API's shape; photos and other media in the Account Activity API's."""
        return self._deliver(x_activity_dm(resident.chat_id, text))

    def photo(self, resident: Resident) -> str:
        return self._deliver(account_activity_dm(resident.chat_id, "", photo_url="https://ton.x.com/i/ton/1/2/a.jpg"))

    def unsupported(self, resident: Resident, kind: Literal["sticker", "voice"]) -> str:
        # X DMs have no stickers or voice notes: an animated GIF and a video are what a resident can send instead.
        media_type = "animated_gif" if kind == "sticker" else "video"
        payload = account_activity_dm(resident.chat_id, "", photo_url="https://video.twimg.com/v/1.mp4")
        payload["direct_message_events"][0]["message_create"]["message_data"]["attachment"]["media"]["type"] = (
            media_type
        )
        self._deliver(payload)
        return media_type

    def say_three_times(self, resident: Resident, text: str) -> str:
        return self._deliver(account_activity_dm(resident.chat_id, text), times=3)

    def replies(self, resident: Resident) -> list[str]:
        return [dm.text for dm in self.api.sent_to(resident.chat_id)]

    def rate_limit_sends(self, seconds: int) -> Callable[[float], float]:
        reset = int(time.time() + seconds)  # what the fake puts in x-rate-limit-reset
        earliest = time.monotonic() + (reset - time.time())
        self.api.fail_next(429, reset_in=seconds)
        return lambda refused_at: max(earliest, refused_at + 1.0)  # the channel waits at least a second

    def send_attempts(self) -> list[float]:
        return [at for at, _ in self.api.send_attempts]

    burst = None

    def event(self) -> tuple[Resident, bytes]:
        resident = self.resident()
        return resident, json.dumps(account_activity_dm(resident.chat_id, "hola")).encode()

    def headers(self, body: bytes, credential: Credential) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if credential == "right":
            headers["x-twitter-webhooks-signature"] = webhook_signature(body)
        elif credential == "wrong":
            headers["x-twitter-webhooks-signature"] = webhook_signature(body, "someone-elses-secret")
        return headers

    def malformed(self) -> list[bytes]:
        broken = {"for_user_id": "1", "direct_message_events": [{"type": "message_create", "id": "1"}]}
        return [b'{"direct_message_events": [', b"[1, 2]", b'{"something": "else"}', json.dumps(broken).encode()]


@contextmanager
def platform_named(name: str) -> Iterator[Platform]:
    """The platform's local server, running for the block."""
    if name == "telegram":
        with serve_fake_telegram() as fake:
            yield TelegramPlatform(fake)
    elif name == "mastodon":
        with MastodonServer() as server:
            yield MastodonPlatform(server)
    elif name == "x":
        api = FakeX()
        with AppServer(api.app) as running:
            platform = XPlatform(api, running.base_url)
            try:
                yield platform
            finally:
                platform.close()
    else:
        raise ValueError(name)
