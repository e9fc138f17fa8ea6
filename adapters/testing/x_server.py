"""A fake X API (the v2 endpoints the X channel uses) and a webhook sender that plays X.

:class:`FakeX` is a Starlette app to run with :class:`~adapters.testing.serving.AppServer`:

- ``GET /2/users/me`` -> the bot's account;
- ``POST /2/dm_conversations/with/{participant_id}/messages`` -> records the DM
  (with the time it arrived) and answers ``{"data": {"dm_conversation_id",
  "dm_event_id"}}``;
- ``GET /2/dm_events`` -> the DM events, newest first, with ``max_results``,
  ``pagination_token`` and ``event_types``;
- ``POST /2/tweets`` -> records the tweet (``tweets``; a reply keeps the id it
  answers) and answers ``{"data": {"id", "text"}}``.

Every request must carry OAuth 1.0a user context: the ``Authorization: OAuth``
header is parsed, its consumer key and token checked, its nonce used once, and
its HMAC-SHA1 signature verified for the URL the request reached (401
otherwise, as X answers). ``fail_next`` makes the next sends answer a given
status, e.g. a 429 with X's ``x-rate-limit-*`` headers.

For load (``plaza bench``): :attr:`FakeX.latency` (each request waits a
random time in that range), :attr:`FakeX.error_rate` (that share of DM sends
answers 503) and :attr:`FakeX.dm_limit` (X's DM limit: over ``count`` sends
in ``window`` seconds answers a real 429 with the ``x-rate-limit-*`` headers
of the window, counted in :attr:`FakeX.limit_refused`).

:class:`WebhookSender` does what X does to a webhook: the CRC check, and POSTs
of signed events, in the Account Activity shape (:func:`account_activity_dm`)
or the X Activity shape (:func:`x_activity_dm`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONSUMER_KEY = "fake-consumer-key"
CONSUMER_SECRET = "fake-consumer-secret"
ACCESS_TOKEN = "1500000000000000001-fakeaccesstoken"
ACCESS_TOKEN_SECRET = "fake-access-token-secret"
BOT_ID = "1500000000000000001"
BOT_USERNAME = "JunAyuntamiento"
OAUTH_FIELDS = {
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_token",
    "oauth_version",
}


def environment(base_url: str) -> dict[str, str]:
    """The environment that points the X channel at a fake on ``base_url``."""
    return {
        "X_CONSUMER_KEY": CONSUMER_KEY,
        "X_CONSUMER_SECRET": CONSUMER_SECRET,
        "X_ACCESS_TOKEN": ACCESS_TOKEN,
        "X_ACCESS_TOKEN_SECRET": ACCESS_TOKEN_SECRET,
        "X_API_BASE_URL": base_url,
    }


@dataclass(frozen=True, slots=True)
class SentDM:
    """One DM the bot sent, as the fake received it."""

    event_id: str
    participant_id: str
    text: str
    at: float
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tweet:
    """One tweet the bot posted, as the fake received it."""

    tweet_id: str
    text: str
    in_reply_to: str | None
    at: float


@dataclass(slots=True)
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


class FakeX:
    """The fake X API's state and its Starlette app (``.app``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1_800_000_000_000_000_000)
        self._nonces: set[str] = set()
        self._failures: list[Failure] = []
        self.sent: list[SentDM] = []
        self.tweets: list[Tweet] = []
        self.events: list[dict[str, Any]] = []
        """v2 DM events, oldest first (the bot's sends and :meth:`receive`'d ones)."""
        self.media: dict[str, dict[str, Any]] = {}
        self.refused: list[str] = []
        """Why requests were refused (401s), for test failure messages."""
        self.send_attempts: list[tuple[float, int]] = []
        """Every DM send request that reached the API: (``time.monotonic()``, the status answered)."""
        self.latency: tuple[float, float] = (0.0, 0.0)
        """Seconds each request waits before it is answered, drawn uniformly from this range."""
        self.error_rate = 0.0
        """The share of DM sends that answer 503, at random."""
        self.dm_limit: tuple[int, float] | None = None
        """``(count, window seconds)``: X's DM send limit for the bot's account (None: no limit)."""
        self.limit_refused = 0
        """How many DM sends the limit refused with a 429."""
        self.random = random.Random(0)
        self.app = Starlette(
            routes=[
                Route("/2/users/me", self._me, methods=["GET"]),
                Route("/2/dm_conversations/with/{participant_id}/messages", self._send, methods=["POST"]),
                Route("/2/dm_events", self._dm_events, methods=["GET"]),
                Route("/2/tweets", self._tweet, methods=["POST"]),
            ]
        )

    # --- what tests do --------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, reset_in: float | None = None) -> None:
        """Make the next ``times`` DM sends answer ``status`` (429 carries the x-rate-limit headers)."""
        headers: dict[str, str] = {}
        if status == 429:
            reset = int(time.time() + (reset_in if reset_in is not None else 900))
            headers = {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        titles = {403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}
        body = {"title": titles.get(status, "Error"), "detail": titles.get(status, "Error"), "status": status}
        with self._lock:
            self._failures.extend(Failure(status, headers, body) for _ in range(times))

    def receive(
        self, sender_id: str, text: str, *, photo_url: str | None = None, at: float | None = None
    ) -> dict[str, Any]:
        """A DM a resident sends the bot (listed by ``/2/dm_events``)."""
        event: dict[str, Any] = {
            "id": str(next(self._ids)),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender_id,
            "dm_conversation_id": conversation_id(sender_id, BOT_ID),
            "created_at": _iso(time.time() if at is None else at),
        }
        if photo_url is not None:
            key = f"3_{next(self._ids)}"
            event["attachments"] = {"media_keys": [key]}
            with self._lock:
                self.media[key] = {"media_key": key, "type": "photo", "url": photo_url}
        with self._lock:
            self.events.append(event)
        return event

    def sent_to(self, participant_id: str) -> list[SentDM]:
        with self._lock:
            return [dm for dm in self.sent if dm.participant_id == participant_id]

    # --- the API --------------------------------------------------------------

    def _authorize(self, request: Request) -> Response | None:
        """401 unless the request carries a valid OAuth 1.0a user-context signature."""
        header = request.headers.get("authorization", "")
        problem = self._oauth_problem(request, header)
        if problem is None:
            return None
        with self._lock:
            self.refused.append(problem)
        return JSONResponse({"title": "Unauthorized", "detail": problem, "status": 401}, status_code=401)

    def _oauth_problem(self, request: Request, header: str) -> str | None:
        if not header.startswith("OAuth "):
            return "no OAuth 1.0a Authorization header"
        params: dict[str, str] = {}
        for item in header[len("OAuth ") :].split(","):
            key, sep, value = item.strip().partition("=")
            if not sep or not (value.startswith('"') and value.endswith('"')):
                return f"malformed OAuth parameter {item.strip()!r}"
            params[key] = unquote(value[1:-1])
        missing = OAUTH_FIELDS - params.keys()
        if missing:
            return f"OAuth parameters missing: {sorted(missing)}"
        if params["oauth_signature_method"] != "HMAC-SHA1" or params["oauth_version"] != "1.0":
            return "only HMAC-SHA1, OAuth 1.0"
        if params["oauth_consumer_key"] != CONSUMER_KEY or params["oauth_token"] != ACCESS_TOKEN:
            return "unknown consumer key or token"
        if abs(int(params["oauth_timestamp"]) - time.time()) > 300:
            return "timestamp out of range"
        with self._lock:
            if params["oauth_nonce"] in self._nonces:
                return "nonce used twice"
            self._nonces.add(params["oauth_nonce"])
        collected = [(k, v) for k, v in params.items() if k != "oauth_signature"]
        collected += list(request.query_params.multi_items())
        normalized = oauth_signature.normalize_parameters(collected)
        uri = oauth_signature.base_string_uri(str(request.url).split("?")[0])
        base = oauth_signature.signature_base_string(request.method, uri, normalized)
        key = f"{oauth_utils.escape(CONSUMER_SECRET)}&{oauth_utils.escape(ACCESS_TOKEN_SECRET)}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            return f"bad OAuth signature for {request.method} {uri}"
        return None

    async def _me(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        return JSONResponse({"data": {"id": BOT_ID, "name": "Ayuntamiento de Jun", "username": BOT_USERNAME}})

    async def _send(self, request: Request) -> Response:
        if self.latency[1] > 0:
            await asyncio.sleep(self.random.uniform(*self.latency))
        refused = self._authorize(request)
        if refused is not None:
            return refused
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            if failure is None:
                failure = self._pressure()
            self.send_attempts.append((time.monotonic(), failure.status if failure is not None else 201))
        if failure is not None:
            return JSONResponse(failure.body, status_code=failure.status, headers=failure.headers)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"title": "Invalid Request", "detail": "body is not JSON"}, status_code=400)
        text = body.get("text")
        attachments = tuple(str(a.get("media_id")) for a in body.get("attachments") or [])
        if not isinstance(text, str) and not attachments:
            return JSONResponse({"title": "Invalid Request", "detail": "text or attachments required"}, 400)
        if isinstance(text, str) and len(text) > 10_000:
            return JSONResponse({"title": "Invalid Request", "detail": "text is longer than 10000"}, 400)
        participant = request.path_params["participant_id"]
        event_id = str(next(self._ids))
        now = time.time()
        with self._lock:
            self.sent.append(SentDM(event_id, participant, text or "", now, attachments))
            self.events.append(
                {
                    "id": event_id,
                    "event_type": "MessageCreate",
                    "text": text or "",
                    "sender_id": BOT_ID,
                    "dm_conversation_id": conversation_id(participant, BOT_ID),
                    "created_at": _iso(now),
                }
            )
        conversation = conversation_id(participant, BOT_ID)
        return JSONResponse({"data": {"dm_conversation_id": conversation, "dm_event_id": event_id}}, 201)

    def _pressure(self) -> Failure | None:
        """A random 503 (:attr:`error_rate`) or a 429 over :attr:`dm_limit`; call with the lock held."""
        if self.error_rate and self.random.random() < self.error_rate:
            return Failure(503, {}, {"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503})
        if self.dm_limit is None:
            return None
        count, window = self.dm_limit
        now = time.monotonic()
        accepted = [at for at, status in self.send_attempts if status == 201 and at > now - window]
        if len(accepted) < count:
            return None
        self.limit_refused += 1
        reset = int(time.time() + window - (now - accepted[0])) + 1
        headers = {"x-rate-limit-limit": str(count), "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        return Failure(429, headers, {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429})

    async def _tweet(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"title": "Invalid Request", "detail": "body is not JSON"}, status_code=400)
        text = body.get("text")
        if not isinstance(text, str) or not text or len(text) > 280:
            return JSONResponse({"title": "Invalid Request", "detail": "text must be 1 to 280 characters"}, 400)
        reply = body.get("reply") or {}
        tweet = Tweet(str(next(self._ids)), text, reply.get("in_reply_to_tweet_id"), time.time())
        with self._lock:
            self.tweets.append(tweet)
        return JSONResponse(
            {"data": {"id": tweet.tweet_id, "text": text, "edit_history_tweet_ids": [tweet.tweet_id]}}, 201
        )

    async def _dm_events(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        query = request.query_params
        size = max(1, min(100, int(query.get("max_results", "100"))))
        kinds = set(query.get("event_types", "MessageCreate,ParticipantsJoin,ParticipantsLeave").split(","))
        with self._lock:
            newest_first = [e for e in reversed(self.events) if e["event_type"] in kinds]
        start = int(query["pagination_token"]) if query.get("pagination_token", "").isdigit() else 0
        # X returns id, event_type and text unless more dm_event.fields are asked for
        fields = {"id", "event_type", "text"} | set(query.get("dm_event.fields", "").split(","))
        page = [{k: v for k, v in event.items() if k in fields} for event in newest_first[start : start + size]]
        meta: dict[str, Any] = {"result_count": len(page)}
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        if start > 0:
            meta["previous_token"] = str(max(0, start - size))
        answer: dict[str, Any] = {"data": page, "meta": meta} if page else {"meta": meta}
        if "attachments.media_keys" in query.get("expansions", "").split(","):
            keys = [k for e in page for k in e.get("attachments", {}).get("media_keys", [])]
            with self._lock:
                media = [self.media[k] for k in keys if k in self.media]
            if media:
                answer["includes"] = {"media": media}
        return JSONResponse(answer)


def conversation_id(a: str, b: str) -> str:
    """X's id of the one-to-one conversation between two users (the smaller id first)."""
    return "-".join(sorted((a, b), key=int))


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


# --- webhooks -------------------------------------------------------------------


def webhook_signature(body: bytes, secret: str = CONSUMER_SECRET) -> str:
    """``sha256=`` + base64(HMAC-SHA256(consumer secret, body)), as X signs webhook POSTs."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def account_activity_dm(
    sender_id: str,
    text: str,
    *,
    event_id: str | None = None,
    recipient_id: str = BOT_ID,
    for_user_id: str = BOT_ID,
    photo_url: str | None = None,
    quick_reply: str | None = None,
    sender_name: str = "Vecina de Jun",
) -> dict[str, Any]:
    """An Account Activity API webhook payload carrying one ``message_create`` DM event."""
    data: dict[str, Any] = {"text": text, "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}}
    if photo_url is not None:
        link = "https://t.co/" + secrets.token_hex(5)
        data["text"] = f"{text} {link}".strip()
        data["attachment"] = {
            "type": "media",
            "media": {"id_str": "1", "type": "photo", "media_url_https": photo_url, "url": link},
        }
    if quick_reply is not None:
        data["quick_reply_response"] = {"type": "options", "metadata": quick_reply}
    return {
        "for_user_id": for_user_id,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id or str(secrets.randbelow(10**18) + 10**18),
                "created_timestamp": str(int(time.time() * 1000)),
                "message_create": {
                    "target": {"recipient_id": recipient_id},
                    "sender_id": sender_id,
                    "source_app_id": "268278",
                    "message_data": data,
                },
            }
        ],
        "apps": {"268278": {"id": "268278", "name": "X Web App", "url": "https://x.com"}},
        "users": {
            sender_id: {"id": sender_id, "name": sender_name, "screen_name": f"user{sender_id[-4:]}"},
            recipient_id: {"id": recipient_id, "name": "Ayuntamiento de Jun", "screen_name": BOT_USERNAME},
        },
    }


def x_activity_dm(
    sender_id: str,
    text: str,
    *,
    event_id: str | None = None,
    event_type: str = "dm.received",
    subscribed_user: str = BOT_ID,
) -> dict[str, Any]:
    """An X Activity API webhook event: the envelope around a v2 ``MessageCreate`` DM event."""
    return {
        "data": {
            "event_type": event_type,
            "event_uuid": secrets.token_hex(8),
            "filter": {"user_id": subscribed_user},
            "tag": "plaza",
            "payload": {
                "id": event_id or str(secrets.randbelow(10**18) + 10**18),
                "event_type": "MessageCreate",
                "text": text,
                "sender_id": sender_id,
                "dm_conversation_id": conversation_id(sender_id, BOT_ID),
                "created_at": _iso(time.time()),
            },
        }
    }


class WebhookSender:
    """Plays X towards a webhook URL: the CRC check and signed event POSTs."""

    def __init__(self, url: str, consumer_secret: str = CONSUMER_SECRET) -> None:
        self.url = url
        self.secret = consumer_secret
        self.http = httpx.Client(timeout=15.0)

    def crc(self) -> httpx.Response:
        """GET ``?crc_token=``; raises AssertionError unless the answer is the right response_token."""
        token = secrets.token_urlsafe(24)
        response = self.http.get(self.url, params={"crc_token": token})
        assert response.status_code == 200, response.text
        expected = webhook_signature(token.encode(), self.secret)
        assert response.json() == {"response_token": expected}, response.text
        return response

    def post(self, payload: dict[str, Any] | bytes, *, signature: str | None = "sign") -> httpx.Response:
        """POST ``payload`` signed with the consumer secret (``signature=None``: unsigned; any other: that one)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        if signature == "sign":
            headers["x-twitter-webhooks-signature"] = webhook_signature(body, self.secret)
        elif signature is not None:
            headers["x-twitter-webhooks-signature"] = signature
        return self.http.post(self.url, content=body, headers=headers)

    def close(self) -> None:
        self.http.close()
