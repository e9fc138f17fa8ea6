"""The web chat's page and JSON API under ``/chat`` (a public contract).

- ``GET /chat``: the page.
- ``POST /chat/api/{session}/messages``: JSON ``{"text"}``, ``{"choice"}``,
  ``{"location": {"latitude", "longitude"}}`` or ``{"start": true}`` (optionally
  ``client_message_id`` for safe retries and ``language``), or multipart with a
  ``photo`` file. ``202 {"id", "duplicate"}`` once stored; 400 with a reason.
- ``GET /chat/api/{session}/messages?after=ID&wait=S``: the bot's messages after
  ``ID``; with ``wait`` it holds up to ``S`` seconds (max 30) until one arrives.
- ``GET /chat/api/{session}/media/{id}``: a photo that session uploaded.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.base import decode_json
from adapters.web import MAX_PHOTO_BYTES, STATIC_DIR, PhotoUpload, WebChannel, sniff_image, valid_session
from bot.errors import BadPayload
from bot.inbox import Upload
from bot.messages import OutboundMessage
from bot.outbox import delivered
from bot.runtime import Plaza
from bot.web.errors import error_response
from bot.web.ids import MAX_ROW_ID
from models import MediaItem

__all__ = ["ChatApi", "chat_routes"]

MAX_JSON_BYTES = 64 * 1024
MAX_WAIT = 30.0
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]


def _wire(message: OutboundMessage, session: str) -> dict[str, Any]:
    photo = None
    if message.photo is not None and message.photo.ref.startswith("media:"):
        photo = f"/chat/api/{session}/media/{message.photo.ref.removeprefix('media:')}"
    return {
        "id": message.id,
        "text": message.text,
        "expects": message.expects,
        "photo": photo,
        "options": [{"key": o.key, "label": o.label} for o in message.options],
    }


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class ChatApi:
    def __init__(self, plaza: Plaza, channel: WebChannel) -> None:
        self.plaza = plaza
        self.channel = channel
        self._waiters: dict[str, set[asyncio.Event]] = {}
        plaza.on_sent(self.notify)
        plaza.on_sent_elsewhere(self.wake)  # the web chat's sender may run in another `plaza serve`

    def notify(self, message: OutboundMessage) -> None:
        """Wake the long polls of the chat a message was just marked sent to."""
        self.wake(message.channel, message.chat_id)

    def wake(self, channel: str, chat_id: str) -> None:
        if channel == "web":
            for event in self._waiters.get(chat_id, ()):
                event.set()

    async def page(self, request: Request) -> Response:
        text = (STATIC_DIR / "chat.html").read_text(encoding="utf-8")
        config = self.plaza.config
        text = text.replace("{{TOWN}}", html.escape(config.town_name)).replace(
            "{{LANG}}", html.escape(config.default_language)
        )
        return HTMLResponse(text, headers={"Cache-Control": "no-cache"})

    async def post(self, request: Request) -> Response:
        session = request.path_params["session"]
        if not valid_session(session):
            return error_response(400, "the session id must be 16 to 64 letters, digits, '-' or '_'")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        photo: PhotoUpload | None = None
        fields: dict[str, object]
        if content_type == "application/json":
            body = await request.body()
            if len(body) > MAX_JSON_BYTES:
                return error_response(413, f"the message is larger than {MAX_JSON_BYTES // 1024} KB")
            try:
                parsed = decode_json(body)
            except ValueError as error:
                return error_response(400, f"the body is not valid JSON: {error}")
            if not isinstance(parsed, dict):
                return error_response(400, 'the body must be a JSON object such as {"text": "hola"}')
            fields = parsed
        elif content_type == "multipart/form-data":
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_PHOTO_BYTES + 64 * 1024:
                return error_response(413, f"the photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
            try:
                fields, photo = await self._read_form(request)
            except _Refused as refused:
                return error_response(refused.status, refused.reason)
        else:
            return error_response(415, "send JSON (application/json) or a photo (multipart/form-data)")
        try:
            message = self.channel.message(
                session, fields, photo, accept_language=request.headers.get("accept-language")
            )
        except BadPayload as error:
            return error_response(400, error.reason)
        uploads = [[Upload(photo.data, photo.mime_type)]] if photo is not None else None
        accepted = (await self.plaza.accept([message], uploads))[0]
        return JSONResponse({"id": accepted.id, "duplicate": accepted.duplicate}, status_code=202)

    async def _read_form(self, request: Request) -> tuple[dict[str, object], PhotoUpload | None]:
        """Read a multipart message: an optional ``photo`` file plus text fields; the form is always closed."""
        try:
            form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_PHOTO_BYTES)
        except Exception:
            raise _Refused(400, "the form could not be read; send one photo of at most 10 MB") from None
        fields: dict[str, object] = {}
        photo: PhotoUpload | None = None
        try:
            for key, value in form.multi_items():
                if key == "photo" and isinstance(value, UploadFile):
                    data = await value.read(MAX_PHOTO_BYTES + 1)
                    if len(data) > MAX_PHOTO_BYTES:
                        raise _Refused(413, "the photo is larger than 10 MB")
                    mime = sniff_image(data)
                    if mime is None:
                        raise _Refused(400, "the file is not a JPEG, PNG, GIF or WebP photo")
                    photo = PhotoUpload(data=data, mime_type=mime)
                elif isinstance(value, str):
                    fields[key] = value
                else:
                    raise _Refused(400, f"unexpected file in field {key!r}; send the photo as `photo`")
        finally:
            await form.close()
        if photo is None and "text" not in fields:
            raise _Refused(400, "a multipart message needs a `photo` file or a `text` field")
        return fields, photo

    async def get(self, request: Request) -> Response:
        session = request.path_params["session"]
        if not valid_session(session):
            return error_response(400, "the session id must be 16 to 64 letters, digits, '-' or '_'")
        try:
            after = int(request.query_params.get("after", "0"))
            wait = min(MAX_WAIT, max(0.0, float(request.query_params.get("wait", "0"))))
        except ValueError:
            return error_response(400, "`after` must be a message id and `wait` a number of seconds")
        if abs(after) > MAX_ROW_ID:
            return error_response(400, f"`after` must be a message id (at most {MAX_ROW_ID})")
        engine = self.plaza.database.reader
        event = asyncio.Event()
        waiters = self._waiters.setdefault(session, set())
        waiters.add(event)
        try:
            messages = await anyio.to_thread.run_sync(delivered, engine, "web", session, after)
            if not messages and wait > 0:
                try:
                    await asyncio.wait_for(event.wait(), timeout=wait)
                except TimeoutError:
                    pass
                messages = await anyio.to_thread.run_sync(delivered, engine, "web", session, after)
        finally:
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(session, None)
        return JSONResponse([_wire(message, session) for message in messages])

    async def media(self, request: Request) -> Response:
        session = request.path_params["session"]
        media_id = request.path_params["media_id"]
        if not valid_session(session):
            return error_response(400, "bad session id")

        def load() -> Any:
            with self.plaza.database.reader.connect() as connection:
                return connection.execute(
                    select(MEDIA.c.mime_type, MEDIA.c.data).where(
                        MEDIA.c.id == media_id, MEDIA.c.channel == "web", MEDIA.c.chat_id == session
                    )
                ).first()

        row = await anyio.to_thread.run_sync(load)
        if row is None:
            return error_response(404, "no such photo in this chat")
        return Response(
            bytes(row.data),
            media_type=row.mime_type,
            headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


def chat_routes(plaza: Plaza, channel: WebChannel) -> tuple[list[Route | Mount], ChatApi]:
    api = ChatApi(plaza, channel)
    routes: list[Route | Mount] = [
        Route("/chat", api.page, methods=["GET"]),
        Route("/chat/", api.page, methods=["GET"]),
        Mount("/chat/static", app=StaticFiles(directory=STATIC_DIR), name="chat-static"),
        Route("/chat/api/{session}/messages", api.post, methods=["POST"]),
        Route("/chat/api/{session}/messages", api.get, methods=["GET"]),
        Route("/chat/api/{session}/media/{media_id:id}", api.media, methods=["GET"]),
    ]
    return routes, api
