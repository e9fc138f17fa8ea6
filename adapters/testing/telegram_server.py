"""A fake Telegram Bot API server: real HTTP on loopback, the Bot API's shapes and errors.

Routes are the Bot API's: ``/bot{token}/{method}`` (GET or POST; a JSON body,
a url-encoded form or multipart, as python-telegram-bot sends them: every
value a string, non-strings JSON-encoded) and ``/file/bot{token}/{path}``
for downloads. Implemented: getMe, getUpdates (``offset`` confirms every
update below it; long polling up to :attr:`FakeTelegram.max_poll` seconds),
setWebhook / deleteWebhook / getWebhookInfo (a set webhook gets each update
POSTed with ``X-Telegram-Bot-Api-Secret-Token``, in order, redelivered until
it answers 2xx), sendMessage (400 over 4096 characters), sendPhoto, getFile,
answerCallbackQuery, editMessageText.

Tests drive it from their own thread: ``push_*`` queue updates as a user
would cause them (:meth:`push_texts` many at once, for ``plaza bench peer``),
:meth:`sent_to` lists what the bot sent a chat (:meth:`sent_since` all of it, incrementally),
:meth:`fail_next` injects an error (a 429 with ``retry_after``, a 5xx),
:meth:`stall_next` answers a call only after the client's timeout and
:meth:`drop_next` closes the connection instead of answering (both after the
call took effect: the message is delivered, the bot does not know),
:attr:`FakeTelegram.latency` delays every send's answer the same way, and
:meth:`block` makes a user block the bot (403). Run it with
``AppServer(fake.app)``.

For load (``plaza bench``), three knobs make it behave like the real thing
under pressure: :attr:`FakeTelegram.call_latency` (each call waits a random time
in that range), :attr:`FakeTelegram.error_rate` (that share of sends answers
502 Bad Gateway) and :attr:`FakeTelegram.flood` (Telegram's flood control:
a send over the overall or per-chat limit answers 429 with ``retry_after``,
and is counted in :attr:`FakeTelegram.flood_refused`).
:meth:`text_update` builds an update to POST to a webhook yourself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.testing.serving import AppServer, tiny_png

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str
    language_code: str | None = "es"
    username: str | None = None

    def as_json(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}


@dataclass(frozen=True, slots=True)
class Sent:
    """One message the bot sent, as the fake recorded it."""

    method: str
    chat_id: int
    message_id: int
    at: float
    text: str | None = None
    caption: str | None = None
    photo: str | None = None
    reply_markup: Mapping[str, Any] | None = None

    @property
    def buttons(self) -> list[dict[str, str]]:
        """The inline keyboard's buttons, row after row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


@dataclass(frozen=True, slots=True)
class Flood:
    """Telegram's flood control: at most ``overall`` sends in any second, ``per_chat`` to one chat."""

    overall: int = 30
    per_chat: int = 2
    retry_after: int = 1


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int
    after: int = 0
    kind: str = "error"  # error: answered with ``status``; stall: answered ``seconds`` late; drop: no answer
    seconds: float = 0.0


@dataclass
class _Webhook:
    url: str
    secret: str | None


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        self.status = status
        self.description = description
        self.retry_after = retry_after
        super().__init__(description)


class FakeTelegram:
    """State and routes of one fake bot."""

    def __init__(self, token: str = "123456:TEST-token", *, username: str = "JunBot", max_poll: float = 3.0) -> None:
        self.token = token
        self.bot = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Jun", "username": username}
        self.max_poll = max_poll
        self.base_url = ""
        """Where the fake listens (set by :func:`serve_fake_telegram`)."""
        self.redeliver_after = 0.2
        self.webhook_repeat = 1
        """How many times each update is POSTed to the webhook (Telegram redelivers when a 200 got lost)."""
        self.latency = 0.0
        """Seconds between a send taking effect (recorded in :meth:`sent`) and its answer, as over a real network."""
        self.call_latency: tuple[float, float] = (0.0, 0.0)
        """Seconds each Bot API call waits before it is handled, drawn uniformly from this range (load runs)."""
        self.error_rate = 0.0
        """The share of sends (sendMessage, sendPhoto) that answer 502 Bad Gateway, at random."""
        self.flood: Flood | None = None
        """Flood control: sends over these limits answer 429 (None: no limits)."""
        self.flood_refused = 0
        """How many sends flood control refused."""
        self.random = random.Random(0)
        self._recent: deque[tuple[float, int]] = deque()  # (time, chat) of sends accepted in the last second
        self._lock = threading.Lock()
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0  # every update_id below this was confirmed
        self._update_ids = itertools.count(10_000)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._users: dict[int, User] = {}
        self._blocked: set[int] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._sent: list[Sent] = []
        self._files: dict[str, tuple[str, bytes]] = {}
        self.calls: list[tuple[str, float]] = []
        self.answered: list[str] = []
        self._webhook: _Webhook | None = None
        self._deliveries: list[tuple[int, int]] = []  # (update_id, status) of every webhook POST, any URL
        self._delivery: asyncio.Task[None] | None = None
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
                Route("/healthz", lambda request: JSONResponse({"ok": True})),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        task, self._delivery = self._delivery, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    # -- what a test does -----------------------------------------------------------

    def user(self, user_id: int, first_name: str = "Ana", language_code: str | None = "es") -> User:
        user = User(user_id, first_name, language_code, username=f"{first_name.lower()}{user_id}")
        with self._lock:
            self._users[user.id] = user
        return user

    def push(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is assigned); returns its id."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            return int(update["update_id"])

    def _message(self, user: User, **content: Any) -> dict[str, Any]:
        with self._lock:
            self._users[user.id] = user
            message_id = next(self._message_ids)
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": user.chat(),
            "from": user.as_json(),
            **content,
        }

    def text_update(self, user: User, text: str) -> dict[str, Any]:
        """A text message from ``user`` as an update with its own ``update_id``, not queued here (POST it)."""
        message = self._message(user, text=text)
        with self._lock:
            return {"update_id": next(self._update_ids), "message": message}

    def push_text(self, user: User, text: str) -> int:
        return self.push({"message": self._message(user, text=text)})

    def push_texts(self, said: list[tuple[User, str]]) -> list[int]:
        """Queue many text messages at once, in order (a benchmark's load); returns their update ids."""
        return [self.push_text(user, text) for user, text in said]

    def push_reply(self, user: User, to: Sent, text: str) -> int:
        """The user answers the bot's message ``to`` with Telegram's reply (``reply_to_message``)."""
        return self.push({"message": self._message(user, text=text, reply_to_message=self._bot_message(to))})

    def push_photo(
        self, user: User, data: bytes | None = None, caption: str | None = None, *, reply_to: Sent | None = None
    ) -> int:
        """A photo in two sizes (Telegram sends several); the larger one holds ``data``; optionally a reply."""
        data = data if data is not None else tiny_png()
        small = self.add_file(b"thumbnail", "photos/thumb.jpg")
        large = self.add_file(data, "photos/photo.jpg")
        sizes = [
            {"file_id": small, "file_unique_id": f"u{small}", "width": 90, "height": 90, "file_size": 9},
            {"file_id": large, "file_unique_id": f"u{large}", "width": 800, "height": 600, "file_size": len(data)},
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        if reply_to is not None:
            content["reply_to_message"] = self._bot_message(reply_to)
        return self.push({"message": self._message(user, **content)})

    def push_location(self, user: User, latitude: float, longitude: float) -> int:
        return self.push({"message": self._message(user, location={"latitude": latitude, "longitude": longitude})})

    def push_sticker(self, user: User) -> int:
        sticker = {
            "file_id": "sticker-1",
            "file_unique_id": "usticker-1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self.push({"message": self._message(user, sticker=sticker)})

    def push_voice(self, user: User) -> int:
        voice = {"file_id": "voice-1", "file_unique_id": "uvoice-1", "duration": 3}
        return self.push({"message": self._message(user, voice=voice)})

    def push_edited(self, user: User, message_id: int, text: str) -> int:
        edited = {
            "message_id": message_id,
            "date": int(time.time()) - 5,
            "edit_date": int(time.time()),
            "chat": user.chat(),
            "from": user.as_json(),
            "text": text,
        }
        return self.push({"edited_message": edited})

    def push_callback(self, user: User, data: str, message: Sent | None = None) -> int:
        """The user pressed an inline button carrying ``data`` under ``message``."""
        query: dict[str, Any] = {
            "id": f"cq{next(self._file_ids)}",
            "from": user.as_json(),
            "chat_instance": f"ci{user.id}",
            "data": data,
        }
        if message is not None:
            query["message"] = self._bot_message(message)
        return self.push({"callback_query": query})

    def press(self, user: User, message: Sent, label: str) -> int:
        """Press the button labelled ``label`` (exactly) on ``message``."""
        for button in message.buttons:
            if button["text"] == label:
                return self.push_callback(user, button["callback_data"], message)
        raise AssertionError(f"no button {label!r} on {[b['text'] for b in message.buttons]}")

    def add_file(self, data: bytes, path: str) -> str:
        with self._lock:
            file_id = f"AgAC-file-{next(self._file_ids)}"
            self._files[file_id] = (path.replace(".", f"-{file_id}.", 1), data)
        return file_id

    def file_data(self, file_id: str) -> bytes:
        """The bytes behind a file id (a photo a user sent, or one the bot uploaded with sendPhoto)."""
        with self._lock:
            return self._files[file_id][1]

    def forget_file(self, file_id: str) -> None:
        """Telegram no longer has the file: getFile answers 400 for it from now on."""
        with self._lock:
            del self._files[file_id]

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer ``times`` calls of ``method`` with this error, once ``after`` more calls went through."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(status, description, retry_after, times, after))

    def stall_next(self, method: str, seconds: float, *, times: int = 1, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` take effect, then are answered only after ``seconds``."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(200, "", None, times, after, "stall", seconds))

    def drop_next(self, method: str, *, times: int = 1, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` take effect, then the connection closes mid-answer."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(200, "", None, times, after, "drop"))

    def clear_faults(self, method: str) -> None:
        """Forget the faults still planned for ``method`` (the platform is well again)."""
        with self._lock:
            self._faults.pop(method, None)

    def rate_limit_next(self, method: str, retry_after: int, *, times: int = 1, after: int = 0) -> None:
        """A 429 with ``parameters.retry_after``, as Telegram's flood control answers."""
        description = f"Too Many Requests: retry after {retry_after}"
        self.fail_next(method, 429, description, retry_after=retry_after, times=times, after=after)

    def block(self, user: User) -> None:
        """The user blocked the bot: sends to them fail with 403 from now on."""
        with self._lock:
            self._blocked.add(user.id)

    def sent_to(self, chat_id: int) -> list[Sent]:
        with self._lock:
            return [s for s in self._sent if s.chat_id == chat_id]

    def sent(self) -> list[Sent]:
        with self._lock:
            return list(self._sent)

    def sent_since(self, index: int) -> list[Sent]:
        """What the bot sent after the first ``index`` messages (read a long run incrementally)."""
        with self._lock:
            return self._sent[index:]

    def pending_updates(self) -> list[int]:
        """Ids of updates not yet confirmed (by an offset or a webhook's 2xx)."""
        with self._lock:
            return [u["update_id"] for u in self._updates if u["update_id"] >= self._confirmed]

    def webhook_deliveries(self) -> list[tuple[int, int]]:
        with self._lock:
            return list(self._deliveries)

    def calls_of(self, method: str) -> list[float]:
        with self._lock:
            return [at for name, at in self.calls if name == method]

    # -- the HTTP side ------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        with self._lock:
            self.calls.append((method, time.monotonic()))
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            params = await _params(request)
            handler = self._handlers().get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            if self.call_latency[1] > 0:
                await asyncio.sleep(self.random.uniform(*self.call_latency))
            fault = self._fault(method)
            if method.lower() in ("sendmessage", "sendphoto"):
                self._flood_control(params)
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            return _error(error.status, error.description, error.retry_after)
        except ClientDisconnect:  # the bot went away mid-request (a test killed it): nothing to answer
            return Response(status_code=499)
        if method.lower() in ("sendmessage", "sendphoto") and self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            return _CutShort()
        return JSONResponse({"ok": True, "result": result})

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "getme": lambda params: self.bot,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._webhook_info,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "getfile": self._get_file,
            "answercallbackquery": self._answer_callback,
            "editmessagetext": self._edit_message_text,
        }

    def _fault(self, method: str) -> _Fault | None:
        """Raise the error planned for this call; return a stall or drop planned for its answer."""
        with self._lock:
            faults = self._faults.get(method)
            if not faults:
                return None
            fault = faults[0]
            if fault.after > 0:
                fault.after -= 1
                return None
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
        if fault.kind != "error":
            return fault
        raise ApiError(fault.status, fault.description, fault.retry_after)

    def _flood_control(self, params: dict[str, Any]) -> None:
        """A random 502 (:attr:`error_rate`), or a 429 when this send would break :attr:`flood`."""
        if self.error_rate and self.random.random() < self.error_rate:
            raise ApiError(502, "Bad Gateway")
        if self.flood is None:
            return
        chat = _int(params, "chat_id") or 0
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0][0] <= now - 1.0:
                self._recent.popleft()
            to_chat = sum(1 for _, other in self._recent if other == chat)
            if len(self._recent) >= self.flood.overall or to_chat >= self.flood.per_chat:
                self.flood_refused += 1
                retry = self.flood.retry_after
                raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
            self._recent.append((now, chat))

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(
                409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook first"
            )
        offset = _int(params, "offset")
        limit = _int(params, "limit") or 100
        timeout = min(float(_int(params, "timeout") or 0), self.max_poll)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset is not None:
                    self._confirmed = max(self._confirmed, offset)
                ready = [u for u in self._updates if u["update_id"] >= self._confirmed][:limit]
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.05)

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = _int(params, "chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        with self._lock:
            if chat_id not in self._users:
                raise ApiError(400, "Bad Request: chat not found")
            if chat_id in self._blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = _json(params, "reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _record(self, sent: Sent) -> dict[str, Any]:
        with self._lock:
            self._sent.append(sent)
        return self._bot_message(sent)

    def _bot_message(self, sent: Sent) -> dict[str, Any]:
        with self._lock:
            user = self._users[sent.chat_id]
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": user.chat(),
            "from": self.bot,
        }
        if sent.text is not None:
            message["text"] = sent.text
        if sent.photo is not None:
            message["photo"] = [{"file_id": sent.photo, "file_unique_id": f"u{sent.photo}", "width": 1, "height": 1}]
        if sent.caption is not None:
            message["caption"] = sent.caption
        if sent.reply_markup is not None:
            message["reply_markup"] = sent.reply_markup
        return message

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._markup(params)
        with self._lock:
            message_id = next(self._message_ids)
        return self._record(Sent("sendMessage", chat_id, message_id, time.monotonic(), text=text, reply_markup=markup))

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        photo = params.get("photo")
        if isinstance(photo, bytes):
            photo = self.add_file(photo, "photos/upload.jpg")
        elif isinstance(photo, str) and photo.startswith("attach://"):
            attached = params.get(photo.removeprefix("attach://"))
            if not isinstance(attached, bytes):
                raise ApiError(400, "Bad Request: wrong file attachment")
            photo = self.add_file(attached, "photos/upload.jpg")
        elif not isinstance(photo, str) or not (photo in self._files or photo.startswith(("http://", "https://"))):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = params.get("caption")
        if isinstance(caption, str) and len(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._markup(params)
        with self._lock:
            message_id = next(self._message_ids)
        sent = Sent(
            "sendPhoto",
            chat_id,
            message_id,
            time.monotonic(),
            caption=caption if isinstance(caption, str) else None,
            photo=photo,
            reply_markup=markup,
        )
        return self._record(sent)

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = params.get("file_id")
        with self._lock:
            found = self._files.get(file_id) if isinstance(file_id, str) else None
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = found
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        with self._lock:
            for path, data in self._files.values():
                if path == request.path_params["path"]:
                    return Response(data, media_type="application/octet-stream")
        return _error(404, "Not Found")

    def _answer_callback(self, params: dict[str, Any]) -> bool:
        query_id = params.get("callback_query_id")
        if not isinstance(query_id, str):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        with self._lock:
            self.answered.append(query_id)
        return True

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        message_id = _int(params, "message_id")
        text = params.get("text")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message text is empty or too long")
        with self._lock:
            for index, sent in enumerate(self._sent):
                if sent.chat_id == chat_id and sent.message_id == message_id:
                    edited = Sent(
                        "editMessageText", chat_id, message_id, time.monotonic(), text, None, None, self._markup(params)
                    )
                    self._sent[index] = edited
                    break
            else:
                raise ApiError(400, "Bad Request: message to edit not found")
        return self._bot_message(edited)

    # -- webhooks -------------------------------------------------------------------------

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url:
            return self._delete_webhook(params)
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        with self._lock:
            self._webhook = _Webhook(url, secret if isinstance(secret, str) else None)
        if self._delivery is None or self._delivery.done():
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._webhook = None
            if _bool(params, "drop_pending_updates"):
                self._confirmed = next(self._update_ids)
        return True

    def _webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            url = self._webhook.url if self._webhook else ""
            pending = len([u for u in self._updates if u["update_id"] >= self._confirmed])
        return {"url": url, "has_custom_certificate": False, "pending_update_count": pending}

    async def _deliver(self) -> None:
        """POST each unconfirmed update in order; a non-2xx (or no answer) means: again later."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                with self._lock:
                    webhook = self._webhook
                    update = next((u for u in self._updates if u["update_id"] >= self._confirmed), None)
                if webhook is None:
                    return
                if update is None:
                    await asyncio.sleep(0.05)
                    continue
                headers = {"Content-Type": "application/json"}
                if webhook.secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret
                ok = True
                for _ in range(self.webhook_repeat):
                    try:
                        response = await client.post(webhook.url, content=json.dumps(update), headers=headers)
                        status = response.status_code
                    except httpx.HTTPError:
                        status = 0
                    with self._lock:
                        self._deliveries.append((update["update_id"], status))
                    ok = ok and 200 <= status < 300
                if ok:
                    with self._lock:
                        self._confirmed = max(self._confirmed, update["update_id"] + 1)
                else:
                    await asyncio.sleep(self.redeliver_after)


@contextmanager
def serve_fake_telegram(**options: Any) -> Iterator[FakeTelegram]:
    """A :class:`FakeTelegram` listening on a loopback port for the block's duration."""
    fake = FakeTelegram(**options)
    with AppServer(fake.app) as server:
        fake.base_url = server.base_url
        yield fake


class _CutShort(Response):
    """Headers promising a body, a few bytes of it, then the connection closes (a proxy or network cut)."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"ok": tr', "more_body": True})
        # returning without the rest: the server closes the connection, the client reads a truncated answer


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


async def _params(request: Request) -> dict[str, Any]:
    """The call's parameters from the query string and a JSON, url-encoded or multipart body."""
    params: dict[str, Any] = dict(request.query_params)
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: the body must be a JSON object")
        params.update(body)
    elif kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form() as form:
            for key, value in form.multi_items():
                params[key] = await value.read() if isinstance(value, UploadFile) else value
    return params


def _json(params: dict[str, Any], key: str) -> Any:
    """A parameter that form bodies carry JSON-encoded (a JSON body carries it as is)."""
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {key}") from None
    return value


def _int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: {key} must be an integer") from None


def _bool(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is True or value in ("true", "True", "1")
