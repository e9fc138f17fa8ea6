"""The Mastodon channel: private mentions in, direct statuses out, through Mastodon.py.

On Mastodon a "DM" is a status with ``visibility="direct"`` that mentions its
recipients. Residents write to the bot account (``@jun``) that way; the bot
answers with a direct status that starts with the resident's ``@acct`` (with
the domain for residents on other servers) and replies to their last status,
so the exchange stays one thread.

Receiving is by streaming, with polling as the fallback. With ``streaming``
on (the default) the channel listens to the bot's user stream
(:mod:`adapters.mastodon_stream`, ``GET /api/v1/streaming/user``) and stores
each mention as it arrives. Each time the stream (re)connects, it first
catches up by polling from the cursor, so nothing posted while it was down is
lost. When the stream is refused (streaming off: 404; a 5xx), drops, or goes
silent (no event and no heartbeat for ``stream_timeout`` seconds), the channel
polls every ``poll_interval`` seconds and tries the stream again after
``stream_retry`` seconds, doubling up to ``stream_retry_max`` while it keeps
failing. While streaming it still polls every ``sweep_interval`` seconds (5
minutes) in case the stream lost an event, which real servers do now and then.
Polling is ``GET /api/v1/notifications?types[]=mention``; a streamed mention
and a polled one are the same message (``platform_message_id`` is the status
id), so one seen both ways is stored once. The cursor moves only by polling:
a streamed mention says nothing about the ones before it that the stream may
have missed.

Only mentions in direct statuses are conversations: a public or
followers-only mention is a public remark about the town, and answering it
(publicly, or privately with a menu nobody asked for) would be noise, so it
is skipped.
The cursor is Mastodon's own notifications read marker
(``POST /api/v1/markers``), advanced only after ``dispatch`` returned, i.e.
after the messages are in the inbox; a crash between the two makes the same
mentions come again, and the inbox drops them (``platform_message_id`` is the
status id). With no marker yet, the first start reads every mention there is.
At start the bot's notification policy is set to accept private mentions from
anyone (since Mastodon 4.3 they are filtered by default), and mentions already
filtered into notification requests are accepted.

Sending: text plus options as numbered lines, split so that each part *with*
the leading mention fits the instance's ``max_characters``; parts are chained
as replies; a photo is uploaded (``media_post``) and attached to the first
part: a photo Plaza stored (``media:<id>``, read through the function given to
:meth:`MastodonChannel.use_media`) or an attachment of this server (fetched
with :meth:`MastodonChannel.fetch_photo`); each part
carries an ``Idempotency-Key`` derived from the outbox row id, its index and
its text, so a resend after a crash (sent, but not yet marked sent) returns
the status already posted instead of posting it twice. A ``public`` message
(a broadcast's announcement) is a public status of the bot's own, with no
mention, its parts chained the same way.

Errors: 429 -> :class:`RetryLater` until the ``X-RateLimit-Reset`` time;
5xx, timeouts and network errors -> :class:`RetryLater` shortly; 404 (the
account or the status is gone; ``gone`` when the account is), 403 and 422
-> :class:`Undeliverable`.
Photos residents sent are fetched (:meth:`MastodonChannel.fetch_photo`) only
from the configured server's own origin (scheme, host and port of
``MASTODON_API_BASE_URL``, plus the ``media_hosts`` of config.yaml, e.g. a
CDN the server keeps attachments on), without following redirects and at most
:data:`MAX_PHOTO_BYTES` of them: an attachment URL is something a stranger
wrote into a status, and Plaza must not be made to fetch any other address.
Mastodon.py is synchronous: every call runs in a worker thread, one at a time
(its rate-limit bookkeeping is per client, not per thread); the stream has a
client of its own.

The request budget (300 per 5 minutes per account) is shared with the outbox
through :attr:`MastodonChannel.limits`: the outbox gets what polling (the
fallback, every ``poll_interval``) and stream connection attempts (at most one
per ``stream_retry``) leave. An open stream costs nothing more.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from adapters.base import Dispatch, Limits, LoadMedia, numbered_options, split_text
from adapters.mastodon_html import status_text
from adapters.mastodon_stream import NotificationStream, StreamEnded
from bot.errors import ChannelError, ConfigError, NotFound, RetryLater, Undeliverable
from bot.messages import InboundMessage, OutboundMessage, Photo, SentReceipt

__all__ = ["DEFAULT_MAX_CHARACTERS", "MastodonChannel", "from_config"]

log = logging.getLogger(__name__)

NAME = "mastodon"
DEFAULT_MAX_CHARACTERS = 500
PAGE = 40
REQUESTS_PER_S = 300 / 300  # Mastodon's default: 300 requests per 5 minutes per account
UNSUPPORTED_MEDIA = {"video": "video", "gifv": "animation", "audio": "voice", "unknown": "file"}
MAX_PHOTO_BYTES = 10 * 1024 * 1024
T = TypeVar("T")


class MastodonChannel:
    """One bot account on one Mastodon server (see the module docstring)."""

    def __init__(
        self,
        access_token: str,
        api_base_url: str,
        *,
        poll_interval: float = 5.0,
        request_timeout: float = 15.0,
        media_hosts: tuple[str, ...] = (),
        streaming: bool = True,
        stream_timeout: float = 60.0,
        stream_retry: float = 10.0,
        stream_retry_max: float = 300.0,
        sweep_interval: float = 300.0,
    ) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        base = urlsplit(self.api_base_url)
        self._media_origins = {(base.scheme, base.netloc.lower())} | {("https", host.lower()) for host in media_hosts}
        self._load_media: LoadMedia | None = None
        self.poll_interval = poll_interval
        self.streaming = streaming
        self.stream_timeout = stream_timeout
        self.stream_retry = stream_retry
        self.stream_retry_max = max(stream_retry, stream_retry_max)
        self.sweep_interval = sweep_interval

        def client() -> Mastodon:
            return Mastodon(
                access_token=access_token,
                api_base_url=self.api_base_url,
                ratelimit_method="throw",
                request_timeout=request_timeout,
                user_agent="Plaza",
            )

        self._client = client()
        self._stream_client = client()  # a stream holds its connection; requests must not wait behind it
        self._stream_wait = stream_retry  # before the next attempt after a failed one
        self._stream_after = 0.0  # monotonic time of the next attempt
        self.stream_status = "not started"
        """What the stream is doing: ``streaming``, or why the channel polls instead (logs, tests)."""
        self._lock = threading.Lock()
        self._max_characters = DEFAULT_MAX_CHARACTERS
        self._me: Any = None
        self._cursor: str | None = None
        self._accts: dict[str, str] = {}  # chat_id (account id) -> acct
        self._last_status: dict[str, str] = {}  # chat_id -> the resident's last direct status id
        self._poller: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        # Polling (the fallback) spends one request per interval of the account's shared budget,
        # and stream connection attempts one per retry at most; an open stream spends nothing.
        reserved = 1.0 / self.poll_interval + (1.0 / self.stream_retry if self.streaming else 0.0)
        overall = max(0.1, REQUESTS_PER_S - reserved)
        return Limits(max_text=self._max_characters, max_options=10, per_chat_per_s=0.5, overall_per_s=overall)

    # -- lifecycle -----------------------------------------------------------

    async def start(self, dispatch: Dispatch) -> None:
        """Start receiving (streaming or polling) in the background; a Mastodon outage does not stop Plaza."""
        if self._poller is None:
            self._poller = asyncio.create_task(self._run(dispatch), name="mastodon-receiver")

    async def stop(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass

    async def check(self) -> str:
        """The bot account, as ``@user@server``, and whether it can stream."""
        try:
            me = await self._call(self._client.account_verify_credentials)
        except MastodonError as error:
            raise ChannelError(NAME, f"{self.api_base_url}: {_describe(error)}") from None
        account = f"@{me['acct']}@{self._host(me)}"
        if not self.streaming:
            return f"{account} (polling; streaming is off in config.yaml)"
        stream = NotificationStream(self._stream_client, read_timeout=self.stream_timeout)
        try:
            await stream.open()
        except StreamEnded as ended:
            return f"{account} (polling: streaming is unavailable, {ended})"
        finally:
            stream.close()
        return f"{account} (streaming)"

    async def prepare(self) -> None:
        """Learn who the bot is, the instance's limit and the cursor; accept private mentions."""
        self._me = await self._call(self._client.account_verify_credentials)
        self._max_characters = await self._call(self._instance_max_characters)
        try:
            await self._call(self._client.update_notifications_policy, for_private_mentions="accept")
            requests = await self._call(self._client.notification_requests)
            for request in requests:
                await self._call(self._client.accept_notification_request, request["id"])
        except MastodonNotFoundError:  # before Mastodon 4.3 nothing is filtered
            log.info("mastodon: %s has no notification policy; nothing to open", self.api_base_url)
        markers = await self._call(self._client.markers_get, "notifications")
        marker = markers.get("notifications")
        self._cursor = str(marker["last_read_id"]) if marker else None

    async def _run(self, dispatch: Dispatch) -> None:
        while self._me is None:
            try:
                await self.prepare()
            except MastodonError as error:
                log.warning("mastodon: cannot start yet (%s); trying again", _describe(error))
                await asyncio.sleep(self._wait_after(error))
            except Exception:
                log.exception("mastodon: starting failed; trying again")
                await asyncio.sleep(max(10.0, self.poll_interval))
        loop = asyncio.get_running_loop()
        poll_at = 0.0  # loop time of the next poll
        while True:
            if self.streaming and loop.time() >= self._stream_after:
                started = loop.time()
                reason = await self._stream(dispatch)
                if self.stream_status == "streaming":  # it was up until now: read the gap at once
                    poll_at = loop.time()
                if loop.time() - started >= self.stream_retry_max:  # it had worked for a while: not flapping
                    self._stream_wait = self.stream_retry
                self._stream_after = loop.time() + self._stream_wait
                changed = self.stream_status != f"polling: {reason}"  # say it once, not at every attempt
                self.stream_status = f"polling: {reason}"
                log.log(
                    logging.WARNING if changed else logging.DEBUG,
                    "mastodon: %s; polling every %ss, streaming again in %ss",
                    reason,
                    self.poll_interval,
                    round(self._stream_wait, 1),
                )
                self._stream_wait = min(self.stream_retry_max, self._stream_wait * 2)
            if loop.time() >= poll_at:  # a refused stream does not make polls come faster than poll_interval
                poll_at = loop.time() + await self._poll_round(dispatch)
            wake = min(poll_at, self._stream_after) if self.streaming else poll_at
            await asyncio.sleep(max(0.0, wake - loop.time()))

    async def _poll_round(self, dispatch: Dispatch) -> float:
        """Read every page of new mentions; returns how long to wait before the next round."""
        try:
            while await self.poll_once(dispatch) == PAGE:
                pass
        except MastodonError as error:
            log.warning("mastodon: polling failed (%s); trying again", _describe(error))
            limited = isinstance(error, MastodonRatelimitError)
            return self._wait_after(error) if limited else max(1.0, self.poll_interval)
        except Exception:  # the inbox may be briefly unavailable: keep polling, lose nothing
            log.exception("mastodon: storing mentions failed; they will be read again")
        return self.poll_interval

    async def _stream(self, dispatch: Dispatch) -> str:
        """Stream mentions until the stream fails; returns why it stopped.

        Connect first, then catch up by polling from the cursor, then store what
        the stream brought meanwhile and after: a mention posted between the two
        is seen both ways and stored once.
        """
        loop = asyncio.get_running_loop()
        stream = NotificationStream(self._stream_client, read_timeout=self.stream_timeout)
        try:
            await stream.open()
            self.stream_status = "streaming"
            log.info("mastodon: streaming notifications from %s", self.api_base_url)
            await self._catch_up(dispatch)
            sweep_at = loop.time() + self.sweep_interval
            while True:
                notifications = await stream.next(timeout=sweep_at - loop.time())
                if not notifications and loop.time() >= sweep_at:
                    await self._catch_up(dispatch)  # in case the stream lost an event
                    sweep_at = loop.time() + self.sweep_interval
                    continue
                messages = [m for m in map(self._message, self._mentions(notifications)) if m is not None]
                if messages:
                    await dispatch(messages)
                for message in messages:
                    self._last_status[message.chat_id] = message.platform_message_id
        except StreamEnded as ended:
            return f"the stream ended ({ended})" if self.stream_status == "streaming" else f"cannot stream ({ended})"
        except MastodonError as error:
            return f"catching up failed ({_describe(error)})"
        except Exception:  # the inbox may be briefly unavailable: polling reads them again from the cursor
            log.exception("mastodon: storing a streamed mention failed; reading it again by polling")
            return "storing a streamed mention failed"
        finally:
            stream.close()

    async def _catch_up(self, dispatch: Dispatch) -> None:
        while await self.poll_once(dispatch) == PAGE:
            pass

    @staticmethod
    def _mentions(notifications: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [n for n in notifications if n.get("type") == "mention"]

    # -- receiving -----------------------------------------------------------

    async def poll_once(self, dispatch: Dispatch) -> int:
        """Read one page of mentions after the cursor, store them, then advance the cursor.

        Returns how many notifications the page had (``PAGE`` means there may be more).
        """
        page = await self._call(self._client.notifications, types=["mention"], min_id=self._cursor or "0", limit=PAGE)
        if not page:
            return 0
        notifications = sorted(page, key=lambda n: int(n["id"]))
        messages = [m for m in (self._message(n) for n in notifications) if m is not None]
        if messages:
            await dispatch(messages)  # stored: only now may the cursor move past them
        for message in messages:
            self._last_status[message.chat_id] = message.platform_message_id
        cursor = str(notifications[-1]["id"])
        await self._call(self._client.markers_set, "notifications", cursor)
        self._cursor = cursor
        return len(page)

    def _message(self, notification: Mapping[str, Any]) -> InboundMessage | None:
        status = notification.get("status")
        account = notification.get("account")
        if not status or not account or str(account["id"]) == str(self._me["id"]):
            return None
        if status.get("visibility") != "direct":
            log.info("mastodon: skipping a %s (not direct) mention, status %s", status.get("visibility"), status["id"])
            return None
        chat_id = str(account["id"])
        self._accts[chat_id] = str(account["acct"])
        text = status_text(str(status.get("content") or ""), own_urls=self._own_urls(), own_names=self._own_names())
        warning = str(status.get("spoiler_text") or "").strip()
        if warning:
            text = f"{warning}\n\n{text}".strip()
        photos: list[Photo] = []
        unsupported: str | None = None
        for media in status.get("media_attachments") or ():
            if media.get("type") == "image":
                photos.append(Photo(ref=str(media["url"])))
            else:
                unsupported = UNSUPPORTED_MEDIA.get(str(media.get("type")), "file")
        created = status.get("created_at")
        sent_at = created if isinstance(created, datetime) else datetime.now(UTC)
        return InboundMessage(
            channel=NAME,
            platform_message_id=str(status["id"]),
            sender_id=chat_id,
            chat_id=chat_id,
            sent_at=sent_at.astimezone(UTC) if sent_at.tzinfo else sent_at.replace(tzinfo=UTC),
            text=text or None,
            photos=tuple(photos),
            language=status.get("language") or None,
            sender_name=str(account.get("display_name") or account["acct"]),
            unsupported=unsupported if not photos and not text else None,
            reply_to=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
            raw={"notification_id": str(notification["id"]), "status_id": str(status["id"]), "acct": account["acct"]},
        )

    def _own_urls(self) -> list[str]:
        return [str(self._me.get("url") or ""), f"{self.api_base_url}/@{self._me['username']}"]

    def _own_names(self) -> list[str]:
        return [f"@{self._me['username']}", f"@{self._me['username']}@{self._host(self._me)}"]

    def _host(self, account: Mapping[str, Any]) -> str:
        """The server in the account's handle (its profile URL's), else the API's."""
        return urlsplit(str(account.get("url") or self.api_base_url)).hostname or ""

    # -- sending -------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SentReceipt:
        try:
            if message.public:  # an announcement on the bot's own timeline: nobody to mention or answer
                mention, reply_to = "", None
            else:
                acct, reply_to = await self._recipient(message.chat_id, message.reply_to)
                mention = f"@{acct}"
            visibility = "public" if message.public else "direct"
            text = numbered_options(message.text, message.options)
            parts = split_text(text, max(1, self._max_characters - (len(mention) + 1 if mention else 0)))
            media_ids = [await self._upload(message.photo)] if message.photo is not None else None
            posted: list[str] = []
            previous = reply_to
            for index, part in enumerate(parts):
                body = " ".join(piece for piece in (mention, part) if piece)
                key = _idempotency_key(message.id, index, body)
                media = media_ids if index == 0 else None
                try:
                    status = await self._post(body, previous, media, key, visibility)
                except MastodonNotFoundError:
                    if previous is None or index > 0:
                        raise
                    # The resident deleted the status we answer: answer outside the thread.
                    self._last_status.pop(message.chat_id, None)
                    status = await self._post(body, None, media, key, visibility)
                previous = str(status["id"])
                posted.append(previous)
        except MastodonError as error:
            raise self._send_error(error) from None
        return SentReceipt(platform_message_ids=tuple(posted), sent_at=datetime.now(UTC))

    async def _post(
        self, body: str, reply_to: str | None, media_ids: list[str] | None, key: str, visibility: str = "direct"
    ) -> Any:
        return await self._call(
            self._client.status_post,
            body,
            in_reply_to_id=reply_to,
            media_ids=media_ids,
            visibility=visibility,
            idempotency_key=key,
        )

    async def _recipient(self, chat_id: str, reply_to: str | None) -> tuple[str, str | None]:
        """The resident's acct and the status to reply to (their last direct one we know)."""
        acct = self._accts.get(chat_id)
        last = reply_to or self._last_status.get(chat_id)
        if acct is None or last is None:  # e.g. after a restart: ask the server
            recent = await self._call(self._client.notifications, account_id=chat_id, types=["mention"], limit=5)
            for notification in recent:
                status = notification.get("status")
                if status and status.get("visibility") == "direct":
                    acct = acct or str(notification["account"]["acct"])
                    last = last or str(status["id"])
                    break
        if acct is None:
            try:
                account = await self._call(self._client.account, chat_id)
            except MastodonNotFoundError:
                raise Undeliverable(NAME, f"the account {chat_id} is gone", gone=True) from None
            acct = str(account["acct"])
        self._accts[chat_id] = acct
        return acct, last

    def use_media(self, load: LoadMedia) -> None:
        """How to read photos Plaza stored (``media:<id>``), to upload them with the status."""
        self._load_media = load

    async def _upload(self, photo: Photo) -> str:
        if photo.ref.startswith("media:"):
            if self._load_media is None:
                raise Undeliverable(NAME, f"cannot attach the photo {photo.ref}: this channel was given no media store")
            try:
                data, mime = await self._load_media(photo.ref)
            except NotFound as missing:
                raise Undeliverable(NAME, f"cannot attach the photo {photo.ref}: {missing.reason}") from None
        else:
            data = await self.fetch_photo(photo.ref)
            mime = photo.mime_type or "image/jpeg"
        media = await self._call(self._client.media_post, data, mime_type=mime, synchronous=True)
        return str(media["id"])

    async def fetch_photo(self, ref: str) -> bytes:
        """The bytes of an attachment of this server (``ref`` is its URL); see the module docstring."""
        parts = urlsplit(ref)
        if (parts.scheme, parts.netloc.lower()) not in self._media_origins:
            raise Undeliverable(NAME, f"the photo {ref} is not on {self.api_base_url}; only its own files are fetched")
        return await anyio.to_thread.run_sync(self._download, ref)

    def _download(self, url: str) -> bytes:
        try:
            with self._client.session.get(
                url, timeout=self._client.request_timeout, stream=True, allow_redirects=False
            ) as response:
                if response.status_code in (404, 410):
                    raise Undeliverable(NAME, f"the photo {url} is gone (HTTP {response.status_code})")
                if response.status_code >= 300:
                    raise RetryLater(NAME, 30.0, f"fetching the photo {url} gave HTTP {response.status_code}")
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data.extend(chunk)
                    if len(data) > MAX_PHOTO_BYTES:
                        raise Undeliverable(NAME, f"the photo {url} is larger than {MAX_PHOTO_BYTES} bytes")
                return bytes(data)
        except OSError as error:  # requests' connection errors and timeouts are OSErrors
            raise RetryLater(NAME, 30.0, f"fetching the photo {url} failed: {error}") from None

    def _send_error(self, error: MastodonError) -> ChannelError:
        if isinstance(error, MastodonRatelimitError | MastodonNetworkError | MastodonServerError):
            limited = isinstance(error, MastodonRatelimitError)
            return RetryLater(NAME, self._wait_after(error), _describe(error), rate_limited=limited)
        if isinstance(error, MastodonUnauthorizedError):  # a bad token: an operator fixes it, nothing is lost
            return RetryLater(NAME, 60.0, _describe(error))
        if isinstance(error, MastodonAPIError):
            return Undeliverable(NAME, _describe(error))
        return RetryLater(NAME, 30.0, _describe(error))

    def _wait_after(self, error: MastodonError) -> float:
        if isinstance(error, MastodonRatelimitError):
            reset = self._client.ratelimit_reset
            return max(1.0, float(reset) - time.time()) if reset else 60.0
        if isinstance(error, MastodonNetworkError):
            return 5.0
        return 10.0

    # -- plumbing ------------------------------------------------------------

    def _instance_max_characters(self) -> int:
        try:
            instance = self._client.instance_v2()
        except MastodonNotFoundError:  # before Mastodon 4.0
            instance = self._client.instance_v1()
        configuration = instance.get("configuration") or {}
        statuses = configuration.get("statuses") or {}
        value = statuses.get("max_characters") or instance.get("max_toot_chars")
        return int(value) if value else DEFAULT_MAX_CHARACTERS

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def locked() -> T:
            with self._lock:
                return function(*args, **kwargs)

        return await anyio.to_thread.run_sync(locked)


def _idempotency_key(outbox_id: int, index: int, body: str) -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return f"plaza-{outbox_id}-{index}-{digest}"


def _describe(error: MastodonError) -> str:
    if isinstance(error, MastodonAPIError) and len(error.args) >= 4:
        _, status, reason, message = error.args[:4]
        return f"HTTP {status} {reason}" + (f": {message}" if message else "")
    return str(error) or type(error).__name__


def from_config(settings: Mapping[str, Any], environ: Mapping[str, str]) -> MastodonChannel:
    """The channel from ``channels.mastodon`` in config.yaml and the environment."""
    values: dict[str, str] = {}
    for variable, example in (
        ("MASTODON_ACCESS_TOKEN", "the bot account's access token (Preferences > Development)"),
        ("MASTODON_API_BASE_URL", "the server's URL, e.g. https://mastodon.example"),
    ):
        value = environ.get(variable, "").strip()
        if not value:
            hint = f"set it to {example}"
            raise ConfigError("environment", None, "channels.mastodon", f"{variable} is not set", hint)
        values[variable] = value
    interval = settings.get("poll_interval", 5.0)
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        raise ConfigError(
            "config.yaml",
            None,
            "channels.mastodon.poll_interval",
            f"expected seconds (a positive number), found {interval!r}",
            "write e.g. poll_interval: 5",
        )
    hosts = settings.get("media_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h and "/" not in h for h in hosts):
        raise ConfigError(
            "config.yaml",
            None,
            "channels.mastodon.media_hosts",
            f"expected a list of host names, found {hosts!r}",
            "write e.g. media_hosts: [files.social.example] (where the server keeps attachments), or leave it out",
        )
    streaming = settings.get("streaming", True)
    if not isinstance(streaming, bool):
        raise ConfigError(
            "config.yaml",
            None,
            "channels.mastodon.streaming",
            f"expected true or false, found {streaming!r}",
            "write streaming: true (listen to the stream, poll when it is down) or streaming: false (only poll)",
        )
    return MastodonChannel(
        values["MASTODON_ACCESS_TOKEN"],
        values["MASTODON_API_BASE_URL"],
        poll_interval=float(interval),
        media_hosts=tuple(hosts),
        streaming=streaming,
    )
