"""Telegram, through python-telegram-bot's :class:`telegram.Bot`.

Two ways to hear residents, chosen by ``mode`` in config.yaml:

- **webhook**: Telegram POSTs each update to ``/webhooks/telegram``;
  :meth:`TelegramChannel.parse` checks the ``X-Telegram-Bot-Api-Secret-Token``
  header against ``TELEGRAM_WEBHOOK_SECRET`` (constant-time) and decodes the
  update. Telegram redelivers until it gets a 2xx, which the route answers only
  after the inbox stored the message. With ``webhook_url`` set, ``start``
  registers the webhook (with the secret) itself.
- **polling** (the default): ``start`` runs a task that long-polls
  ``getUpdates``. The offset (which is what confirms updates to Telegram)
  advances only after ``dispatch`` returned, i.e. after the inbox committed
  them. The offset is *not* stored: Telegram keeps every unconfirmed update
  for 24 hours and hands it out again to a restarted poller (which begins
  without an offset), and every message's inbox key is its ``update_id``, so
  an update that was stored but not yet confirmed comes back as a duplicate
  the inbox drops. Storing the offset would add a write per batch and a
  second source of truth for what the inbox already knows.

Mapping an update to an :class:`InboundMessage` (``platform_message_id`` is
always the ``update_id``): text; a photo as its largest size's ``file_id``
(:meth:`TelegramChannel.fetch_photo` downloads it through getFile) with its
caption as text; a location; an inline button press (``callback_query``) as
``choice``, answered with answerCallbackQuery; an edited message as a new
message with the corrected text (see
:func:`adapters.telegram_mapping.edited_message`); anything else a
resident can send (sticker, voice, video, document...) as ``unsupported``, so
the bot says politely that it cannot read it. Updates that are not a
resident talking (chat member changes, channel posts) are confirmed and
otherwise ignored.

Sending: texts are split at 4096 characters, options become an inline
keyboard on the last part (``callback_data`` is the option key, or
``#<number>`` when the key is longer than Telegram's 64 bytes), a photo goes
through sendPhoto: a Telegram ``file_id`` as it is, a photo Plaza stored
(``media:<id>``, read through the function given to :meth:`TelegramChannel.use_media`)
uploaded as a file, with the text as its caption. A 429 raises :class:`RetryLater` with Telegram's
``retry_after``; a blocked bot or an unknown chat :class:`Undeliverable`;
server errors and timeouts :class:`RetryLater` after a few seconds. A split
message goes one part per ``send``: after each part but the last, ``send``
raises :class:`~bot.errors.PartlySent` so that the outbox sends the next one
a second later (Telegram allows about one message a second per chat) and
other chats meanwhile. Parts already accepted are remembered, so the next
``send``, or a retry, sends only the rest (within this process's life).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from telegram import Bot, InputFile, Update
from telegram.error import Conflict, TelegramError
from telegram.request import HTTPXRequest

from adapters.base import Dispatch, Limits, LoadMedia, WebhookRequest, WebhookResponse, decode_json
from adapters.telegram_mapping import (
    MAX_TEXT,
    NAME,
    button_press,
    calls_for,
    edited_message,
    inbound_message,
    pause_after,
    send_error,
)
from bot.errors import BadPayload, BadSignature, ChannelError, ConfigError, NotFound, PartlySent, Undeliverable
from bot.messages import InboundMessage, OutboundMessage, SentReceipt

__all__ = ["DEFAULT_API_BASE_URL", "MAX_TEXT", "TelegramChannel", "from_config"]

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MAX_BUTTONS = 100
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name, not a secret)
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook's ``secret_token``."""
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")


def _typed(messages: list[InboundMessage]) -> list[InboundMessage]:
    """``messages``, once their text fields are text (an update may carry ``"text": 5``); raises TypeError."""
    for message in messages:
        for field in ("text", "choice", "language", "sender_name", "reply_to"):
            value = getattr(message, field)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{field} must be a string, not {type(value).__name__}")
    return messages


class TelegramChannel:
    """A Telegram bot as a Plaza channel (webhook or long polling; see the module docstring)."""

    def __init__(
        self,
        token: str,
        *,
        api_base_url: str = DEFAULT_API_BASE_URL,
        mode: str = "polling",
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        poll_timeout: int = 30,
        retry_pause: float = 2.0,
        request_timeout: float = 5.0,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode must be polling or webhook, not {mode!r}")
        if mode == "webhook" and not webhook_secret:
            raise ValueError("webhook mode needs a secret")
        root = api_base_url.rstrip("/")
        # our own request objects, so ``stop`` can close their connections even when getMe never succeeded
        # ``request_timeout``: how long a call may take to answer before it counts as failed (RetryLater)
        sending = HTTPXRequest(read_timeout=request_timeout, write_timeout=request_timeout)
        self._requests = (sending, HTTPXRequest())
        self._bot = Bot(
            token,
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self.mode = mode
        self._secret = webhook_secret.encode() if webhook_secret else None
        self._webhook_url = webhook_url
        self._poll_timeout = poll_timeout
        self._retry_pause = retry_pause
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._progress: OrderedDict[int, list[str]] = OrderedDict()
        self._load_media: LoadMedia | None = None
        self.offset: int | None = None
        """The next update id to ask getUpdates for (polling); everything below it is stored."""

    # -- Channel -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return NAME

    @property
    def limits(self) -> Limits:
        return Limits(max_text=MAX_TEXT, max_options=MAX_BUTTONS, per_chat_per_s=1.0, overall_per_s=25.0)

    async def start(self, dispatch: Dispatch) -> None:
        """Polling: start the getUpdates loop. Webhook: register ``webhook_url`` if one is configured.

        Never fails because Telegram is unreachable: both retry in the background.
        """
        if self._task is not None:
            return
        if self.mode == "polling":
            self._task = asyncio.create_task(self._poll(dispatch), name="telegram-poll")
        elif self._webhook_url:
            self._task = asyncio.create_task(self._register_webhook(self._webhook_url), name="telegram-webhook")

    async def stop(self) -> None:
        """Stop polling (an update being dispatched is not confirmed) and close the HTTP client."""
        task, self._task = self._task, None
        tasks = [t for t in (task, *self._background) if t is not None]
        for pending in tasks:
            pending.cancel()
        for pending in tasks:
            try:
                await pending
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("telegram: a background task failed while stopping")
        self._background.clear()
        self._ready = False
        await self._bot.shutdown()
        for request in self._requests:
            await request.shutdown()  # a no-op when already closed

    async def send(self, message: OutboundMessage) -> SentReceipt:
        """Send the next part; returns once Telegram accepted all of them, else raises (see the module docstring)."""
        done = self._progress.setdefault(message.id, [])
        calls = calls_for(message)
        try:
            await self._ensure_ready()
            kind, kwargs = calls[len(done)]
            if kind == "photo":
                photo = await self._photo_file(kwargs["photo"])
                sent = await self._bot.send_photo(chat_id=message.chat_id, **{**kwargs, "photo": photo})
            else:
                sent = await self._bot.send_message(chat_id=message.chat_id, **kwargs)
            done.append(str(sent.message_id))
        except TelegramError as error:
            mapped = send_error(error)
            if isinstance(mapped, Undeliverable):
                self._progress.pop(message.id, None)
            else:
                self._forget_old()
            raise mapped from error
        if len(done) < len(calls):  # Telegram takes about one message a second per chat: the rest at that pace
            self._forget_old()
            raise PartlySent(NAME, 1.0 / self.limits.per_chat_per_s, len(done), len(calls))
        self._progress.pop(message.id, None)
        return SentReceipt(platform_message_ids=tuple(done), sent_at=datetime.now(UTC))

    def use_media(self, load: LoadMedia) -> None:
        """How to read photos Plaza stored (``media:<id>``), to upload them with sendPhoto."""
        self._load_media = load

    async def _photo_file(self, ref: str) -> str | InputFile:
        """A Telegram ``file_id`` as it is; a stored photo as an upload of its bytes."""
        if not ref.startswith("media:"):
            return ref
        if self._load_media is None:
            raise Undeliverable(NAME, f"cannot send the photo {ref}: this channel was given no media store")
        try:
            data, mime = await self._load_media(ref)
        except NotFound as missing:
            raise Undeliverable(NAME, f"cannot send the photo {ref}: {missing.reason}") from None
        extension = mime.removeprefix("image/").replace("jpeg", "jpg")
        return InputFile(data, filename=f"photo.{extension}", attach=True)

    # -- WebhookChannel ---------------------------------------------------------------------

    def challenge(self, request: WebhookRequest) -> WebhookResponse | None:
        """Telegram has no handshake."""
        return None

    def parse(self, request: WebhookRequest) -> list[InboundMessage]:
        """Check the secret header, then decode one update (nothing else is trusted before the check)."""
        if self._secret is None:
            raise BadSignature(NAME, "this bot polls; it takes no webhook (set mode: webhook)")
        sent = request.headers.get(SECRET_HEADER)
        if sent is None:
            raise BadSignature(NAME, "the X-Telegram-Bot-Api-Secret-Token header is missing", missing=True)
        if not hmac.compare_digest(sent.encode(), self._secret):
            raise BadSignature(NAME, "the X-Telegram-Bot-Api-Secret-Token header is wrong")
        try:
            data = decode_json(request.body)
        except ValueError as error:
            raise BadPayload(NAME, f"the body is not JSON: {error}") from None
        update = self._decode(data)
        messages = self.messages_of(update)
        query = update.callback_query
        if query is not None:
            self._in_background(partial(self._answer, query.id))
        return messages

    # -- Checkable ------------------------------------------------------------------------------

    async def check(self) -> str:
        """``@username`` of the bot, from getMe; raises :class:`ChannelError` if Telegram cannot be reached."""
        idle = self._task is None and not self._ready
        try:
            await self._ensure_ready()
            me = await self._bot.get_me()
        except TelegramError as error:
            raise ChannelError(NAME, f"getMe failed: {error}") from error
        finally:
            if idle:  # checked before (or without) starting: leave no connection open
                await self.stop()
        return f"@{me.username}"

    # -- photos --------------------------------------------------------------------------------

    async def fetch_photo(self, ref: str) -> bytes:
        """The bytes of a photo a resident sent (``ref`` is its ``file_id``), through getFile."""
        try:
            await self._ensure_ready()
            file = await self._bot.get_file(ref)
            return bytes(await file.download_as_bytearray())
        except TelegramError as error:
            raise send_error(error) from error

    # -- updates -> messages ----------------------------------------------------------------

    def _decode(self, data: object) -> Update:
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BadPayload(NAME, "not a Telegram update: expected a JSON object with an integer update_id")
        try:
            return Update.de_json(data, self._bot)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BadPayload(NAME, f"not a Telegram update: {type(error).__name__}: {error}") from None

    def messages_of(self, update: Update) -> list[InboundMessage]:
        """What a resident said in ``update`` (zero or one message)."""
        key = str(update.update_id)
        try:
            raw = update.to_dict()
            if update.callback_query is not None:
                return _typed(button_press(key, update.callback_query, raw))
            if update.message is not None:
                return _typed([inbound_message(key, update.message, raw)])
            if update.edited_message is not None:
                return _typed([edited_message(key, update.edited_message, raw)])
        except ValueError as error:  # e.g. a location off the Earth
            raise BadPayload(NAME, f"update {key}: {error}") from None
        except (TypeError, AttributeError) as error:  # python-telegram-bot does not check the fields' types
            raise BadPayload(NAME, f"update {key}: a field has the wrong type ({error})") from None
        return []

    # -- internals -------------------------------------------------------------------------------

    async def _ensure_ready(self) -> None:
        """Open the HTTP client and learn who we are (getMe), once."""
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await self._bot.initialize()
                self._ready = True

    def _in_background(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work()`` as a task kept until done (nothing, outside an event loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer(self, query_id: str) -> None:
        """Stop the button's spinner; best effort (the press is stored either way)."""
        try:
            await self._ensure_ready()
            await self._bot.answer_callback_query(query_id)
        except TelegramError as error:
            log.info("answerCallbackQuery %s failed: %s", query_id, error)

    async def _register_webhook(self, url: str) -> None:
        assert self._secret is not None
        while True:
            try:
                await self._ensure_ready()
                await self._bot.set_webhook(
                    url, secret_token=self._secret.decode(), allowed_updates=list(ALLOWED_UPDATES)
                )
                log.info("telegram webhook set to %s", url)
                return
            except TelegramError as error:
                log.warning("telegram: setting the webhook failed (%s); trying again", error)
                await asyncio.sleep(pause_after(error, self._retry_pause))

    async def _poll(self, dispatch: Dispatch) -> None:
        """getUpdates forever; the offset moves only past updates ``dispatch`` has stored."""
        webhook_deleted = False
        while True:
            try:
                await self._ensure_ready()
                if not webhook_deleted:
                    await self._bot.delete_webhook(drop_pending_updates=False)
                    webhook_deleted = True
                updates = await self._bot.get_updates(
                    offset=self.offset, timeout=self._poll_timeout, allowed_updates=list(ALLOWED_UPDATES)
                )
            except Conflict as error:
                log.warning("telegram: getUpdates conflicts (%s); deleting the webhook", error)
                webhook_deleted = False
                await asyncio.sleep(self._retry_pause)
                continue
            except TelegramError as error:
                log.warning("telegram: getUpdates failed (%s); trying again", error)
                await asyncio.sleep(pause_after(error, self._retry_pause))
                continue
            if not updates:
                continue
            messages: list[InboundMessage] = []
            for update in updates:
                try:
                    messages.extend(self.messages_of(update))
                except BadPayload as error:  # confirmed with the rest: it will never decode
                    log.warning("telegram: skipping update %s: %s", update.update_id, error.reason)
            try:
                if messages:
                    await dispatch(messages)
            except Exception:
                log.exception("telegram: storing %d updates failed; they will be fetched again", len(updates))
                await asyncio.sleep(self._retry_pause)
                continue
            self.offset = max(update.update_id for update in updates) + 1
            for update in updates:
                if update.callback_query is not None:
                    self._in_background(partial(self._answer, update.callback_query.id))

    def _forget_old(self) -> None:
        """Bound the memory of half-sent messages (rows the outbox gave up on never come back)."""
        while len(self._progress) > 1000:
            self._progress.popitem(last=False)


def from_config(settings: Mapping[str, Any], environ: Mapping[str, str]) -> TelegramChannel:
    """Build the channel from config.yaml's ``channels.telegram`` and the environment.

    Settings: ``mode`` (``polling``, the default, or ``webhook``), ``webhook_url``
    (the public URL of ``/webhooks/telegram``; optional, ``start`` then
    registers it), ``poll_timeout`` (seconds of long polling, default 30).
    Environment: ``TELEGRAM_BOT_TOKEN`` (required), ``TELEGRAM_API_BASE_URL``
    (default ``https://api.telegram.org``), ``TELEGRAM_WEBHOOK_SECRET``
    (required in webhook mode).
    """
    key = "channels.telegram"
    token = environ.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("config.yaml", None, key, "TELEGRAM_BOT_TOKEN is not set", "set it in the environment")
    mode = str(settings.get("mode") or "polling")
    if mode not in ("polling", "webhook"):
        raise ConfigError("config.yaml", None, f"{key}.mode", f"unknown mode {mode!r}", "write polling or webhook")
    secret = environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip() or None
    if mode == "webhook" and secret is None:
        raise ConfigError(
            "config.yaml",
            None,
            key,
            "TELEGRAM_WEBHOOK_SECRET is not set",
            "set it in the environment (1-256 characters A-Z a-z 0-9 _ -); webhook mode needs it",
        )
    if secret is not None and not SECRET_TOKEN.fullmatch(secret):
        raise ConfigError(
            "config.yaml",
            None,
            key,
            "TELEGRAM_WEBHOOK_SECRET has characters Telegram does not allow",
            "use 1 to 256 of A-Z a-z 0-9 _ -",
        )
    poll_timeout = settings.get("poll_timeout", 30)
    if isinstance(poll_timeout, bool) or not isinstance(poll_timeout, int) or not 0 <= poll_timeout <= 50:
        raise ConfigError("config.yaml", None, f"{key}.poll_timeout", f"{poll_timeout!r}", "write 0 to 50 (seconds)")
    webhook_url = settings.get("webhook_url")
    return TelegramChannel(
        token,
        api_base_url=environ.get("TELEGRAM_API_BASE_URL", "").strip() or DEFAULT_API_BASE_URL,
        mode=mode,
        webhook_secret=secret,
        webhook_url=str(webhook_url) if webhook_url else None,
        poll_timeout=poll_timeout,
    )
