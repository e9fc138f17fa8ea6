"""Residents' photos in the officials' inbox, whatever platform they came from.

- ``GET /inbox/conversations/{id}/photos/{inbox_id}/{n}``: the ``n``-th photo
  of a resident's message (inbox row ``inbox_id``) of that conversation;
- ``GET /inbox/conversations/{id}/sent/{outbox_id}/photo``: the photo of a
  message sent to the resident (an official's photo reply from Telegram);
- ``GET /inbox/requests/{id}/photo``: a service request's photo.

Access is checked before anything is read: the conversation must be one the
official sees (:meth:`Handoffs.visible`), the request one of their
department (:func:`bot.queues.request_item`); anything else is 404, as if it
did not exist. The bytes come from :class:`bot.media.MediaResolver`: Plaza's
own store, an archived copy, or the platform (fetched through its channel and
archived for next time). A platform that no longer has the file answers 502
with the reason. Responses are private (never cached by shared caches) and
carry ``X-Content-Type-Options: nosniff`` with the type read from the bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.errors import ChannelError, NotFound
from bot.media import Media
from bot.queues import request_item
from bot.sessions import Session
from models import Conversation, InboxItem, OutboxItem
from models.rawsql import from_db_json

if TYPE_CHECKING:
    from bot.web.inbox import Inbox

__all__ = ["photo_response", "photo_routes"]

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


def photo_response(media: Media) -> Response:
    """The photo's bytes, private and never sniffed as anything but its image type."""
    headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(media.data, media_type=media.mime_type, headers=headers)


class Photos:
    """The handlers of the module docstring."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _resolve(
        self, request: Request, session: Session, ref: str, channel: str, chat_id: str | None
    ) -> Response:
        try:
            return photo_response(await self.inbox.plaza.media.resolve(ref, channel, chat_id=chat_id))
        except ChannelError as refused:
            language = self.inbox.pages.language(request, session.official.language)
            reason = f"{channel} did not give the photo: {refused}"
            return self.inbox.error(request, session, 502, reason, language)

    async def message_photo(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        inbox_id = request.path_params["inbox_id"]
        number = request.path_params["number"]
        actor = self.inbox.auth.actor(session)
        handoffs = self.inbox.handoffs()

        def load(connection: Connection) -> tuple[str, str, str]:
            handoffs.visible(connection, actor, conversation_id)
            row = connection.execute(
                select(INBOX.c.payload, CONVERSATIONS.c.channel, CONVERSATIONS.c.chat_id)
                .select_from(
                    INBOX.join(
                        CONVERSATIONS,
                        (CONVERSATIONS.c.channel == INBOX.c.channel) & (CONVERSATIONS.c.chat_id == INBOX.c.chat_id),
                    )
                )
                .where(INBOX.c.id == inbox_id, CONVERSATIONS.c.id == conversation_id)
            ).first()
            photos = (from_db_json(row.payload) or {}).get("photos") or [] if row is not None else []
            if row is None or not 0 <= number < len(photos) or not photos[number].get("ref"):
                raise NotFound("there is no such photo in this conversation")
            return str(photos[number]["ref"]), str(row.channel), str(row.chat_id)

        ref, channel, chat_id = await self.inbox.read(load)
        return await self._resolve(request, session, ref, channel, chat_id)

    async def sent_photo(self, request: Request, session: Session) -> Response:
        conversation_id = request.path_params["conversation_id"]
        outbox_id = request.path_params["outbox_id"]
        actor = self.inbox.auth.actor(session)
        handoffs = self.inbox.handoffs()

        def load(connection: Connection) -> tuple[str, str, str]:
            handoffs.visible(connection, actor, conversation_id)
            row = connection.execute(
                select(OUTBOX.c.payload, OUTBOX.c.channel, OUTBOX.c.chat_id).where(
                    OUTBOX.c.id == outbox_id, OUTBOX.c.conversation_id == conversation_id
                )
            ).first()
            photo = (from_db_json(row.payload) or {}).get("photo") if row is not None else None
            if row is None or not photo or not photo.get("ref"):
                raise NotFound("there is no such photo in this conversation")
            return str(photo["ref"]), str(photo.get("origin") or row.channel), str(row.chat_id)

        ref, channel, chat_id = await self.inbox.read(load)
        return await self._resolve(request, session, ref, channel, chat_id)

    async def request_photo(self, request: Request, session: Session) -> Response:
        request_id = request.path_params["request_id"]
        actor = self.inbox.auth.actor(session)

        def load(connection: Connection) -> tuple[str, str, str | None]:
            item = request_item(connection, actor, request_id)
            if not item.photo_ref:
                raise NotFound("this request has no photo")
            chat_id = None
            if item.conversation_id is not None:
                chat_id = connection.execute(
                    select(CONVERSATIONS.c.chat_id).where(CONVERSATIONS.c.id == item.conversation_id)
                ).scalar()
            return item.photo_ref, item.channel, chat_id

        ref, channel, chat_id = await self.inbox.read(load)
        return await self._resolve(request, session, ref, channel, chat_id)


def photo_routes(inbox: Inbox) -> list[BaseRoute]:
    """The routes of the module docstring, guarded by the inbox's login."""
    photos = Photos(inbox)
    guard = inbox.guarded
    return [
        Route(
            "/inbox/conversations/{conversation_id:id}/photos/{inbox_id:id}/{number:int}",
            guard(photos.message_photo),
            methods=["GET"],
        ),
        Route(
            "/inbox/conversations/{conversation_id:id}/sent/{outbox_id:id}/photo",
            guard(photos.sent_photo),
            methods=["GET"],
        ),
        Route("/inbox/requests/{request_id:id}/photo", guard(photos.request_photo), methods=["GET"]),
    ]
