"""X (Twitter) direct messages, through tweepy's v2 ``Client``.

Receiving is by webhook (``/webhooks/x``): X first checks the endpoint with a
CRC challenge (``GET ?crc_token=...``, answered with the HMAC-SHA256 of the
token keyed by the consumer secret), then POSTs events signed the same way
over the body in ``x-twitter-webhooks-signature``. Two payload shapes reach
the same endpoint and both are decoded here:

- the Account Activity API: ``{"for_user_id", "direct_message_events":
  [{"type": "message_create", "id", "created_timestamp", "message_create":
  {"sender_id", "target": {"recipient_id"}, "message_data": {"text",
  "attachment", "quick_reply_response"}}}], "users": {...}}``;
- the X Activity API: an envelope ``{"event_type": "dm.received",
  "filter": {"user_id"}, "payload": <v2 DM event>, "includes"}`` (also
  wrapped in ``"data"``), or a v2 list ``{"dm_events": [...], "includes"}``,
  where a v2 DM event is ``{"id", "event_type": "MessageCreate",
  "dm_conversation_id", "sender_id", "text", "created_at", "attachments":
  {"media_keys"}}``.

The bot's own messages come back as events too (``dm.sent``, or a
``message_create`` whose sender is the bot); they are skipped. The chat id is
the resident's user id, and replies go to ``/2/dm_conversations/with/<id>``.

Polling (``mode: polling`` in config.yaml, for accounts without webhook
access): ``GET /2/dm_events`` every ``poll_interval`` seconds (60 by default,
within X's 15 requests per 15 minutes), newest first, paging back to the last
event seen; new events are dispatched oldest first and the cursor advances
only once ``dispatch`` returned. The cursor lives in memory: after a restart
the events of the last ``backfill_minutes`` (60) are fetched again and the
inbox's dedup drops those already stored.

Sending: X has no buttons in v2 DMs, so options are numbered lines; a text
longer than a DM (10,000 characters) goes as several DMs in order, and a
retry after a failure mid-way resumes at the first part not yet accepted.
An outgoing photo is sent as its link when it has one (no media upload: X
charges for it and the fake X API has none). A photo Plaza stored
(``media:<id>``, e.g. an official's photo with a status change) is private
to the resident and has no public link, so the words go alone and the log
says the photo was left out.
A ``public`` message (a broadcast's announcement) is a tweet instead
(``POST /2/tweets``), split at :data:`MAX_TWEET` characters into a thread.
429 is :class:`RetryLater` until ``x-rate-limit-reset``; 403/404 (the user
is gone or closed their DMs) is :class:`Undeliverable`, ``gone`` on 404; 5xx and network
errors retry soon.

tweepy hard-codes ``https://api.twitter.com``; :class:`HostRewrite`, a
requests transport adapter mounted on the client's session, sends to
``X_API_BASE_URL`` instead and signs the request (OAuth 1.0a) for the URL it
really goes to.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from adapters.base import (
    Dispatch,
    Limits,
    WebhookRequest,
    WebhookResponse,
    decode_json,
    numbered_options,
    split_text,
)
from bot.errors import BadPayload, BadSignature, ChannelError, ConfigError, RetryLater, Undeliverable
from bot.messages import InboundMessage, OutboundMessage, Photo, SentReceipt

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_DM",
    "MAX_TWEET",
    "NAME",
    "SIGNATURE_HEADER",
    "HostRewrite",
    "XChannel",
    "XCredentials",
    "crc_response_token",
    "from_config",
    "signature_of",
]

log = logging.getLogger(__name__)

NAME = "x"
MAX_DM = 10_000
"""Characters in one DM (X's documented limit for v2 DM text)."""
MAX_TWEET = 270
"""Characters per tweet of a public post: X's 280 weighted characters, less room for
characters X counts twice (emoji, CJK)."""
TWEEPY_HOST = "https://api.twitter.com"
DEFAULT_BASE_URL = "https://api.twitter.com"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
REQUEST_TIMEOUT = 30.0
SERVER_ERROR_RETRY = 10.0
"""Seconds to wait after a 5xx or a network error."""
RATE_LIMIT_RETRY = 60.0
"""Seconds to wait after a 429 that did not say when the limit resets."""
LIMITS = Limits(max_text=MAX_DM, max_options=20, per_chat_per_s=15 / 900, overall_per_s=15 / 900)
"""X allows 15 DM sends per 15 minutes per user on the basic tiers; never more."""
MODES = ("webhook", "polling")
DM_EVENT_FIELDS = ["id", "event_type", "text", "sender_id", "created_at", "dm_conversation_id", "attachments"]
MAX_POLL_PAGES = 10
ENVIRONMENT = ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
PHOTO_TYPES = {"photo"}
"""Media types delivered as photos; video and GIFs are ``unsupported``."""


def signature_of(secret: str, data: bytes) -> str:
    """``sha256=`` + base64 of HMAC-SHA256(secret, data): X's webhook and CRC signature."""
    digest = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def crc_response_token(secret: str, crc_token: str) -> str:
    """The ``response_token`` that answers X's CRC challenge."""
    return signature_of(secret, crc_token.encode())


class XCredentials:
    """The four OAuth 1.0a user-context keys of the bot's account."""

    __slots__ = ("access_token", "access_token_secret", "consumer_key", "consumer_secret")

    def __init__(self, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret

    def __repr__(self) -> str:
        return f"XCredentials(consumer_key={self.consumer_key[:4]}…)"


class HostRewrite(HTTPAdapter):
    """A requests transport that sends tweepy's ``api.twitter.com`` requests to ``base_url``.

    The OAuth 1.0a signature covers the URL, so the request is signed again
    for the URL it is really sent to. Requests without a timeout get one.
    """

    def __init__(self, base_url: str, credentials: XCredentials) -> None:
        super().__init__()
        self._base = base_url.rstrip("/")
        self._auth: Any = tweepy.OAuth1UserHandler(
            credentials.consumer_key,
            credentials.consumer_secret,
            credentials.access_token,
            credentials.access_token_secret,
        ).apply_auth()  # requests-oauthlib's OAuth1, as tweepy itself signs

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST) and self._base != TWEEPY_HOST:
            request.url = self._base + url[len(TWEEPY_HOST) :]
            if "Authorization" in request.headers and str(request.headers["Authorization"]).startswith("OAuth "):
                del request.headers["Authorization"]
                request = self._auth(request)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        return super().send(request, **kwargs)


class XChannel:
    """Direct messages on X, received by webhook and sent with tweepy (see the module docstring)."""

    def __init__(
        self,
        credentials: XCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        limits: Limits = LIMITS,
        user_id: str | None = None,
        mode: str = "webhook",
        poll_interval: float = 60.0,
        backfill_minutes: float = 60.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._credentials = credentials
        self._limits = limits
        self._user_id = user_id
        self._mode = mode
        self._poll_interval = poll_interval
        self._backfill = timedelta(minutes=backfill_minutes)
        self._last_id: int | None = None
        self._since: datetime | None = None
        self._poller: asyncio.Task[None] | None = None
        self._client = tweepy.Client(
            consumer_key=credentials.consumer_key,
            consumer_secret=credentials.consumer_secret,
            access_token=credentials.access_token,
            access_token_secret=credentials.access_token_secret,
            return_type=dict,
        )
        session: requests.Session = self._client.session
        session.mount(TWEEPY_HOST, HostRewrite(base_url, credentials))
        if urlsplit(base_url).hostname in ("127.0.0.1", "localhost", "::1"):
            session.trust_env = False  # a local API is never reached through a proxy
        self._progress: OrderedDict[int, list[str]] = OrderedDict()
        """Outbox id -> the DM ids of the parts already accepted, so a retry resumes."""

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def user_id(self) -> str | None:
        """The bot's own X user id, once known (from ``users/me``)."""
        return self._user_id

    async def start(self, dispatch: Dispatch) -> None:
        """Learn the bot's user id (to skip its own echoes); in polling mode, start polling.

        Webhook events arrive through the HTTP app's route, not here.
        """
        if self._user_id is None:
            try:
                await self.check()
            except ChannelError as error:
                log.warning("x: cannot reach the API at start (%s); will try again", error)
        if self._mode == "polling" and self._poller is None:
            self._since = datetime.now(UTC) - self._backfill
            self._poller = asyncio.create_task(self._poll_forever(dispatch), name="x-poll")

    async def stop(self) -> None:
        """Stop polling (webhook mode has nothing to stop)."""
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass

    async def _poll_forever(self, dispatch: Dispatch) -> None:
        while True:
            delay = self._poll_interval
            try:
                await self.poll_once(dispatch)
            except RetryLater as error:
                delay = max(delay, error.retry_after)
                log.warning("x: polling paused for %.0f s: %s", delay, error.reason)
            except (ChannelError, Undeliverable) as error:
                log.warning("x: polling failed: %s", error)
            except Exception:
                log.exception("x: polling failed")
            await asyncio.sleep(delay)

    async def poll_once(self, dispatch: Dispatch) -> int:
        """Fetch the DM events since the last one seen, dispatch them; the number dispatched."""
        if self._user_id is None:
            await self.check()  # without it the bot's own DMs would look like residents'
        events, includes = await asyncio.to_thread(self._fetch_new)
        messages = self._v2_events(events, includes, None)
        if messages:
            await dispatch(messages)
        if events:
            self._last_id = max(int(str(event["id"])) for event in events)
            self._since = None  # from now on the cursor decides
        return len(messages)

    def _fetch_new(self) -> tuple[list[Mapping[str, Any]], dict[str, list[Any]]]:
        """The MessageCreate events after the cursor, oldest first, and their includes."""
        newest_first: list[Mapping[str, Any]] = []
        includes: dict[str, list[Any]] = {"media": [], "users": []}
        token: str | None = None
        for _ in range(MAX_POLL_PAGES):
            page = self._call(
                self._client.get_direct_message_events,
                event_types=["MessageCreate"],
                max_results=100,
                pagination_token=token,
                dm_event_fields=DM_EVENT_FIELDS,
                expansions=["attachments.media_keys", "sender_id"],
                media_fields=["media_key", "type", "url"],
                user_fields=["id", "name", "username"],
            )
            if not isinstance(page, Mapping):
                raise ChannelError(NAME, f"dm_events answered {page!r}")
            reached = False
            for event in page.get("data") or []:
                if not isinstance(event, Mapping) or not str(event.get("id", "")).isdigit():
                    continue
                if self._last_id is not None and int(str(event["id"])) <= self._last_id:
                    reached = True
                    break
                if self._since is not None and _from_iso(event.get("created_at")) < self._since:
                    reached = True
                    break
                newest_first.append(event)
            page_includes = page.get("includes")
            if isinstance(page_includes, Mapping):
                for key in includes:
                    includes[key].extend(page_includes.get(key) or [])
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, Mapping) else None
            if reached or not token:
                break
        return list(reversed(newest_first)), includes

    async def check(self) -> str:
        """``@username (id)`` of the account the keys act as."""
        me = await asyncio.to_thread(self._call, self._client.get_me)
        data = me.get("data") if isinstance(me, Mapping) else None
        if not isinstance(data, Mapping) or not data.get("id"):
            raise ChannelError(NAME, f"users/me answered without a user: {me!r}")
        self._user_id = str(data["id"])
        return f"@{data.get('username', '?')} ({self._user_id})"

    # --- webhooks -------------------------------------------------------------

    def challenge(self, request: WebhookRequest) -> WebhookResponse | None:
        """Answer X's CRC check (``GET ?crc_token=``); POSTs are events, not handshakes."""
        if request.method != "GET":
            return None
        token = request.query.get("crc_token")
        if not token:
            body = {"error": "a GET must carry crc_token (X's CRC check); events are POSTed"}
            return WebhookResponse(400, json.dumps(body).encode())
        answer = {"response_token": crc_response_token(self._credentials.consumer_secret, token)}
        return WebhookResponse(200, json.dumps(answer).encode())

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """Verify the signature, then decode either payload shape into messages."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise BadSignature(NAME, f"the {SIGNATURE_HEADER} header is missing", missing=True)
        expected = signature_of(self._credentials.consumer_secret, request.body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise BadSignature(NAME, f"the {SIGNATURE_HEADER} header does not match the body")
        try:
            payload = decode_json(request.body)
        except ValueError as error:
            raise BadPayload(NAME, f"the body is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise BadPayload(NAME, "the body must be a JSON object")
        if "direct_message_events" in payload or "for_user_id" in payload:
            return self._account_activity(payload)
        if isinstance(payload.get("data"), dict) and "event_type" in payload["data"]:
            return self._activity_envelope(payload["data"])
        if "event_type" in payload and "payload" in payload:
            return self._activity_envelope(payload)
        if "dm_events" in payload:
            return self._v2_events(payload.get("dm_events"), payload.get("includes"), None)
        raise BadPayload(
            NAME, "neither an Account Activity payload (direct_message_events) nor an X Activity event (event_type)"
        )

    def _own(self, sender_id: str, subscribed: object) -> bool:
        return sender_id in {self._user_id, str(subscribed) if subscribed is not None else None}

    def _account_activity(self, payload: Mapping[str, Any]) -> list[InboundMessage]:
        events = payload.get("direct_message_events", [])
        users = payload.get("users") or {}
        if not isinstance(events, list) or not isinstance(users, Mapping):
            raise BadPayload(NAME, "direct_message_events must be a list and users an object")
        messages: list[InboundMessage] = []
        for event in events:
            if not isinstance(event, Mapping) or event.get("type") != "message_create":
                continue
            create = event.get("message_create")
            if not isinstance(create, Mapping) or not event.get("id") or not create.get("sender_id"):
                raise BadPayload(NAME, "a message_create event needs id and message_create.sender_id")
            sender = str(create["sender_id"])
            if self._own(sender, payload.get("for_user_id")):
                continue
            data = create.get("message_data") or {}
            if not isinstance(data, Mapping):
                raise BadPayload(NAME, "message_data must be an object")
            text = str(data.get("text") or "")
            photos: tuple[Photo, ...] = ()
            unsupported: str | None = None
            attachment = data.get("attachment")
            if isinstance(attachment, Mapping) and isinstance(attachment.get("media"), Mapping):
                media = attachment["media"]
                link = media.get("url")
                if isinstance(link, str) and link and text.endswith(link):
                    text = text[: -len(link)].rstrip()  # X appends the media's t.co link to the text
                if media.get("type", "photo") in PHOTO_TYPES and media.get("media_url_https"):
                    photos = (Photo(ref=str(media["media_url_https"]), mime_type=_mime_of(media["media_url_https"])),)
                else:
                    unsupported = str(media.get("type") or "media")
            reply = data.get("quick_reply_response")
            choice = str(reply["metadata"]) if isinstance(reply, Mapping) and reply.get("metadata") else None
            user = users.get(sender)
            messages.append(
                InboundMessage(
                    channel=NAME,
                    platform_message_id=str(event["id"]),
                    sender_id=sender,
                    chat_id=sender,
                    sent_at=_from_millis(event.get("created_timestamp")),
                    text=text or None,
                    choice=choice,
                    photos=photos,
                    sender_name=_name_of(user),
                    unsupported=unsupported,
                    raw=dict(event),
                )
            )
        return messages

    def _activity_envelope(self, envelope: Mapping[str, Any]) -> list[InboundMessage]:
        kind = envelope.get("event_type")
        if kind == "dm.sent":
            return []
        if kind != "dm.received":
            return []  # another activity the subscription delivers (profile updates...): nothing to say
        event = envelope.get("payload")
        if not isinstance(event, Mapping):
            raise BadPayload(NAME, "a dm.received event needs a payload object")
        if "direct_message_events" in event:
            return self._account_activity(event)
        events = event.get("dm_events") if "dm_events" in event else [event]
        subscribed = envelope.get("filter", {}).get("user_id") if isinstance(envelope.get("filter"), Mapping) else None
        return self._v2_events(events, envelope.get("includes") or event.get("includes"), subscribed)

    def _v2_events(self, events: object, includes: object, subscribed: object) -> list[InboundMessage]:
        if not isinstance(events, list):
            raise BadPayload(NAME, "dm_events must be a list")
        media_by_key: dict[str, Mapping[str, Any]] = {}
        users_by_id: dict[str, Mapping[str, Any]] = {}
        if isinstance(includes, Mapping):
            for media in includes.get("media") or []:
                if isinstance(media, Mapping) and media.get("media_key"):
                    media_by_key[str(media["media_key"])] = media
            for user in includes.get("users") or []:
                if isinstance(user, Mapping) and user.get("id"):
                    users_by_id[str(user["id"])] = user
        messages: list[InboundMessage] = []
        for event in events:
            if not isinstance(event, Mapping) or event.get("event_type") != "MessageCreate":
                continue
            if not event.get("id") or not event.get("sender_id"):
                raise BadPayload(NAME, "a MessageCreate event needs id and sender_id")
            sender = str(event["sender_id"])
            if self._own(sender, subscribed):
                continue
            photos: list[Photo] = []
            unsupported: str | None = None
            attachments = event.get("attachments")
            keys = attachments.get("media_keys") if isinstance(attachments, Mapping) else None
            for key in keys or []:
                media = media_by_key.get(str(key), {})
                if media.get("type", "photo") in PHOTO_TYPES:
                    ref = str(media.get("url") or f"x-media:{key}")
                    photos.append(Photo(ref=ref, mime_type=_mime_of(ref)))
                else:
                    unsupported = str(media.get("type"))
            messages.append(
                InboundMessage(
                    channel=NAME,
                    platform_message_id=str(event["id"]),
                    sender_id=sender,
                    chat_id=sender,
                    sent_at=_from_iso(event.get("created_at")),
                    text=str(event.get("text") or "") or None,
                    photos=tuple(photos),
                    sender_name=_name_of(users_by_id.get(sender)),
                    unsupported=unsupported,
                    raw=dict(event),
                )
            )
        return messages

    # --- sending --------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SentReceipt:
        """Send ``message`` as one or more DMs to ``chat_id``, resuming after a part already accepted."""
        text = numbered_options(message.text, message.options)
        if message.photo is not None:
            if message.photo.ref.startswith(("https://", "http://")):
                text = f"{text}\n\n{message.photo.ref}" if text else message.photo.ref
            else:
                log.warning(
                    "x: outbox row %s: photo %s left out (X media upload is not supported; it has no public link)",
                    message.id,
                    message.photo.ref,
                )
        parts = [part for part in split_text(text, MAX_TWEET if message.public else MAX_DM) if part]
        done = self._progress.setdefault(message.id, [])
        try:
            for part in parts[len(done) :]:
                if message.public:  # a tweet, the next parts as replies to the previous one (a thread)
                    done.append(await asyncio.to_thread(self._tweet, part, done[-1] if done else None))
                else:
                    done.append(await asyncio.to_thread(self._send_part, message.chat_id, part))
        except RetryLater:
            self._progress.move_to_end(message.id)
            while len(self._progress) > 1000:
                self._progress.popitem(last=False)
            raise
        except BaseException:
            self._progress.pop(message.id, None)
            raise
        self._progress.pop(message.id, None)
        return SentReceipt(platform_message_ids=tuple(done), sent_at=datetime.now(UTC))

    def _send_part(self, chat_id: str, text: str) -> str:
        answer = self._call(self._client.create_direct_message, participant_id=chat_id, text=text)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping) or not data.get("dm_event_id"):
            raise RetryLater(NAME, SERVER_ERROR_RETRY, f"X accepted a DM without an event id: {answer!r}")
        return str(data["dm_event_id"])

    def _tweet(self, text: str, reply_to: str | None) -> str:
        answer = self._call(self._client.create_tweet, text=text, in_reply_to_tweet_id=reply_to)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping) or not data.get("id"):
            raise RetryLater(NAME, SERVER_ERROR_RETRY, f"X accepted a tweet without an id: {answer!r}")
        return str(data["id"])

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a tweepy method, turning its errors into Plaza's."""
        try:
            return method(*args, **kwargs)
        except tweepy.TooManyRequests as error:
            reset = getattr(error, "reset_time", None)
            delay = max(1.0, float(reset) - time.time()) if reset else RATE_LIMIT_RETRY
            raise RetryLater(NAME, delay, f"rate limited (429) until {reset}", rate_limited=True) from None
        except (tweepy.Forbidden, tweepy.NotFound) as error:
            gone = isinstance(error, tweepy.NotFound)
            raise Undeliverable(NAME, f"X refused the DM ({_status(error)}): {_detail(error)}", gone=gone) from None
        except tweepy.Unauthorized as error:
            raise RetryLater(NAME, RATE_LIMIT_RETRY, f"X refused the keys (401): {_detail(error)}") from None
        except tweepy.BadRequest as error:
            raise Undeliverable(NAME, f"X rejected the request (400): {_detail(error)}") from None
        except tweepy.TwitterServerError as error:
            raise RetryLater(NAME, SERVER_ERROR_RETRY, f"X server error ({_status(error)})") from None
        except tweepy.HTTPException as error:
            raise RetryLater(NAME, SERVER_ERROR_RETRY, f"X answered {_status(error)}: {_detail(error)}") from None
        except requests.RequestException as error:
            raise RetryLater(NAME, SERVER_ERROR_RETRY, f"cannot reach X: {error}") from None


def _status(error: Any) -> str:
    response = getattr(error, "response", None)
    return str(getattr(response, "status_code", "?"))


def _detail(error: Any) -> str:
    messages: Sequence[str] = getattr(error, "api_messages", None) or []
    return "; ".join(messages) or str(error)


def _mime_of(url: object) -> str | None:
    path = urlsplit(str(url)).path.lower()
    if path.endswith((".jpg", ".jpeg")):
        return "image/jpeg"
    if path.endswith(".png"):
        return "image/png"
    return None


def _name_of(user: object) -> str | None:
    if not isinstance(user, Mapping):
        return None
    name = user.get("name") or user.get("screen_name") or user.get("username")
    return str(name) if name else None


def _from_millis(value: object) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _from_iso(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def from_config(settings: Mapping[str, Any], environ: Mapping[str, str]) -> XChannel:
    """The X channel from its config.yaml section and the four keys in the environment."""
    missing = [variable for variable in ENVIRONMENT if not environ.get(variable)]
    if missing:
        raise ConfigError(
            "config.yaml",
            None,
            "channels.x",
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
            "set the X app's consumer key and secret and the bot account's access token and secret "
            "in the environment, or set enabled: false",
        )
    credentials = XCredentials(*(environ[variable] for variable in ENVIRONMENT))
    base_url = environ.get("X_API_BASE_URL") or DEFAULT_BASE_URL
    user_id = settings.get("user_id")
    mode = str(settings.get("mode", "webhook"))
    if mode not in MODES:
        raise ConfigError("config.yaml", None, "channels.x.mode", f"unknown mode {mode!r}", "use webhook or polling")
    try:
        poll_interval = float(settings.get("poll_interval", 60))
        backfill = float(settings.get("backfill_minutes", 60))
    except (TypeError, ValueError):
        raise ConfigError(
            "config.yaml", None, "channels.x", "poll_interval and backfill_minutes must be numbers", ""
        ) from None
    if poll_interval < 60:
        raise ConfigError(
            "config.yaml",
            None,
            "channels.x.poll_interval",
            f"{poll_interval:g} s would exceed X's 15 requests per 15 minutes",
            "use 60 or more",
        )
    return XChannel(
        credentials,
        base_url=base_url,
        user_id=str(user_id) if user_id else None,
        mode=mode,
        poll_interval=poll_interval,
        backfill_minutes=backfill,
    )
