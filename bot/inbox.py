"""The inbox: inbound messages stored before anything else happens.

:func:`accept` stores messages (and the media they carry) in one
transaction and returns only after the commit: that is the moment a message
counts as accepted. A message already stored under the same
``(channel, platform_message_id)`` is not stored again and is reported as a
duplicate, so a redelivered webhook is a no-op. On PostgreSQL the same
transaction notifies ``plaza_inbox`` (delivered at commit), which wakes the
workers of every process (:mod:`bot.listener`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from bot.listener import INBOX_CHANNEL, notify
from bot.messages import InboundMessage, Location, Photo
from models import InboxItem, MediaItem
from models.rawsql import RawStatement, db_json, db_time

__all__ = ["Accepted", "Upload", "accept", "message_from_payload", "payload_of", "store_upload"]

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]

# Built once: the hot path only binds parameters (see DESIGN.md, "The engine and transitions").
_FIND = RawStatement(
    select(INBOX.c.id).where(
        INBOX.c.channel == bindparam("channel"), INBOX.c.platform_message_id == bindparam("platform_message_id")
    )
)
_STORE = RawStatement(
    insert(INBOX)
    .values(
        channel=bindparam("channel"),
        platform_message_id=bindparam("platform_message_id"),
        chat_id=bindparam("chat_id"),
        sender_id=bindparam("sender_id"),
        payload=bindparam("payload"),
        raw=bindparam("raw"),
        status="pending",
        attempts=0,
        sent_at=bindparam("sent_at"),
        received_at=bindparam("received_at"),
    )
    .returning(INBOX.c.id)
)
_STORE_MEDIA = insert(MEDIA).returning(MEDIA.c.id)


@dataclass(frozen=True, slots=True)
class Upload:
    """Bytes a resident uploaded with a message, to be stored as ``media:<id>``."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """The inbox row of an accepted message; ``duplicate`` when it was already there."""

    id: int
    duplicate: bool


def payload_of(message: InboundMessage) -> dict[str, Any]:
    """The JSON form of a message, as stored in ``inbox.payload``."""
    return {
        "sender_id": message.sender_id,
        "chat_id": message.chat_id,
        "sent_at": message.sent_at.isoformat(),
        "text": message.text,
        "choice": message.choice,
        "photos": [{"ref": p.ref, "mime_type": p.mime_type} for p in message.photos],
        "location": (
            {"latitude": message.location.latitude, "longitude": message.location.longitude}
            if message.location
            else None
        ),
        "language": message.language,
        "sender_name": message.sender_name,
        "unsupported": message.unsupported,
        "reply_to": message.reply_to,
    }


def message_from_payload(channel: str, platform_message_id: str, payload: dict[str, Any]) -> InboundMessage:
    """Rebuild the message a row stores (the engine's view: no ``raw``)."""
    location = payload.get("location")
    return InboundMessage(
        channel=channel,
        platform_message_id=platform_message_id,
        sender_id=str(payload["sender_id"]),
        chat_id=str(payload["chat_id"]),
        sent_at=datetime.fromisoformat(payload["sent_at"]),
        text=payload.get("text"),
        choice=payload.get("choice"),
        photos=tuple(Photo(ref=p["ref"], mime_type=p.get("mime_type")) for p in payload.get("photos") or ()),
        location=Location(location["latitude"], location["longitude"]) if location else None,
        language=payload.get("language"),
        sender_name=payload.get("sender_name"),
        unsupported=payload.get("unsupported"),
        reply_to=payload.get("reply_to"),
    )


def store_upload(
    connection: Connection, channel: str, chat_id: str, upload: Upload, *, source_ref: str | None = None
) -> str:
    """Store the bytes of one upload in the caller's transaction; returns its reference, ``media:<id>``.

    ``source_ref``: the platform's reference the bytes were fetched from, for an archived copy (:mod:`bot.media`).
    """
    media_id = connection.execute(
        _STORE_MEDIA,
        {
            "channel": channel,
            "chat_id": chat_id,
            "mime_type": upload.mime_type,
            "size": len(upload.data),
            "sha256": hashlib.sha256(upload.data).hexdigest(),
            "data": upload.data,
            "source_ref": source_ref,
        },
    ).scalar_one()
    return f"media:{media_id}"


def _store_uploads(connection: Connection, message: InboundMessage, uploads: Sequence[Upload]) -> InboundMessage:
    photos = list(message.photos)
    for upload in uploads:
        ref = store_upload(connection, message.channel, message.chat_id, upload)
        photos.append(Photo(ref=ref, mime_type=upload.mime_type))
    return replace(message, photos=tuple(photos))


def _existing(connection: Connection, message: InboundMessage) -> int | None:
    row = _FIND.run(
        connection, {"channel": message.channel, "platform_message_id": message.platform_message_id}
    ).fetchone()
    return int(row[0]) if row is not None else None


def _accept_once(
    engine: Engine, messages: Sequence[InboundMessage], uploads: Sequence[Sequence[Upload]] | None = None
) -> list[Accepted]:
    """One attempt of :func:`accept`."""
    results: list[Accepted] = []
    with engine.begin() as connection:
        for index, message in enumerate(messages):
            existing = _existing(connection, message)
            if existing is not None:
                results.append(Accepted(existing, True))
                continue
            files = uploads[index] if uploads is not None and index < len(uploads) else ()
            stored = _store_uploads(connection, message, files) if files else message
            row_id = _STORE.run(
                connection,
                {
                    "channel": message.channel,
                    "platform_message_id": message.platform_message_id,
                    "chat_id": message.chat_id,
                    "sender_id": message.sender_id,
                    "payload": db_json(connection, payload_of(stored)),
                    "raw": db_json(connection, dict(message.raw)),
                    "sent_at": db_time(connection, message.sent_at),
                    "received_at": db_time(connection, datetime.now(UTC)),
                },
            ).fetchone()[0]
            results.append(Accepted(int(row_id), False))
        for channel in sorted({m.channel for m, r in zip(messages, results, strict=True) if not r.duplicate}):
            notify(connection, INBOX_CHANNEL, channel)
    return results


def accept(
    engine: Engine, messages: Sequence[InboundMessage], uploads: Sequence[Sequence[Upload]] | None = None
) -> list[Accepted]:
    """Store messages durably (one transaction); returns one :class:`Accepted` per message, in order.

    ``uploads[i]`` are the bytes that came with ``messages[i]``; they are stored
    only if the message is new. Returns after the commit. Two deliveries of the
    same message racing each other (possible on PostgreSQL) end with one row:
    the loser's unique violation rolls its transaction back and the retry finds
    the winner's row.
    """
    try:
        return _accept_once(engine, messages, uploads)
    except IntegrityError:
        return _accept_once(engine, messages, uploads)
