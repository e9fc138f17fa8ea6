"""A conversation's full history as officials read it, and where it stands.

The history is the resident's messages (inbox rows of the conversation's
channel and chat), the bot's and officials' messages (outbox rows of the
conversation; ``official_id`` says who wrote one) and officials' internal
notes, merged in time order. :class:`Cursor` marks the last row of each kind
already shown, so a live view asks only for what is newer. Callers check
access first (:meth:`bot.handoff.Handoffs.visible`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from bot.errors import NotFound
from bot.handoff import Handoff, current, department_of
from models import Conversation, ConversationNote, InboxItem, MediaItem, Official, OutboxItem, Resident, ServiceRequest
from models.rawsql import from_db_json

__all__ = ["ConversationView", "Cursor", "Entry", "conversation_view", "entries", "media_conversation"]

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
NOTES = ConversationNote.__table__  # type: ignore[attr-defined]
OFFICIALS = Official.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Cursor:
    """The newest inbox, outbox and note ids already shown."""

    inbox: int = 0
    outbox: int = 0
    note: int = 0

    def text(self) -> str:
        return f"{self.inbox}-{self.outbox}-{self.note}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """Read :meth:`text` back; anything malformed is the start."""
        try:
            inbox, outbox, note = (int(part) for part in (text or "").split("-"))
        except ValueError:
            return cls()
        return cls(max(0, inbox), max(0, outbox), max(0, note))


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the history.

    ``kind``: ``resident``, ``bot``, ``official`` or ``note``. ``photos`` are
    refs (``media:<id>`` or a platform's file id or URL); ``location`` is
    ``(latitude, longitude)``. ``status`` is the outbox row's (pending, sent,
    cancelled, failed) for messages to the resident.
    """

    kind: str
    id: int
    at: datetime
    text: str
    author: str | None = None
    photos: tuple[str, ...] = ()
    location: tuple[float, float] | None = None
    status: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation's header: who, where, its mode, its department and open handoff, its tickets."""

    id: int
    channel: str
    chat_id: str
    language: str
    mode: str
    resident_name: str | None
    department: str | None
    handoff: Handoff | None
    official_name: str | None
    tickets: tuple[tuple[int, str], ...]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def conversation_view(connection: Connection, conversation_id: int) -> ConversationView:
    row = connection.execute(
        select(
            CONVERSATIONS.c.id,
            CONVERSATIONS.c.channel,
            CONVERSATIONS.c.chat_id,
            CONVERSATIONS.c.language,
            CONVERSATIONS.c.mode,
            RESIDENTS.c.display_name,
        )
        .select_from(CONVERSATIONS.join(RESIDENTS, RESIDENTS.c.id == CONVERSATIONS.c.resident_id))
        .where(CONVERSATIONS.c.id == conversation_id)
    ).first()
    if row is None:
        raise NotFound(f"there is no conversation {conversation_id}")
    tickets = connection.execute(
        select(REQUESTS.c.id, REQUESTS.c.ticket)
        .where(REQUESTS.c.conversation_id == conversation_id, REQUESTS.c.ticket.is_not(None))
        .order_by(REQUESTS.c.id)
    ).all()
    handoff = current(connection, conversation_id)
    official_name = None
    if handoff is not None and handoff.official_id is not None:
        official_name = connection.execute(
            select(OFFICIALS.c.name).where(OFFICIALS.c.id == handoff.official_id)
        ).scalar()
    return ConversationView(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        language=row.language,
        mode=row.mode,
        resident_name=row.display_name,
        department=department_of(connection, conversation_id),
        handoff=handoff,
        official_name=official_name,
        tickets=tuple((t.id, t.ticket) for t in tickets),
    )


def _resident_entry(row: Any) -> Entry:
    payload = from_db_json(row.payload) or {}
    location = payload.get("location")
    text = payload.get("text") or payload.get("choice") or ""
    if not text and payload.get("unsupported"):
        text = f"[{payload['unsupported']}]"
    return Entry(
        kind="resident",
        id=row.id,
        at=_aware(row.received_at),
        text=str(text),
        photos=tuple(str(p["ref"]) for p in payload.get("photos") or () if p.get("ref")),
        location=(float(location["latitude"]), float(location["longitude"])) if location else None,
    )


def entries(
    connection: Connection, conversation: ConversationView, after: Cursor | None = None, *, limit: int = 500
) -> tuple[list[Entry], Cursor]:
    """The history after ``after`` (all of it without), in time order, and the cursor past it."""
    after = after or Cursor()
    found: list[Entry] = []
    inbox = connection.execute(
        select(INBOX.c.id, INBOX.c.payload, INBOX.c.received_at)
        .where(INBOX.c.channel == conversation.channel, INBOX.c.chat_id == conversation.chat_id)
        .where(INBOX.c.id > after.inbox)
        .order_by(INBOX.c.id)
        .limit(limit)
    ).all()
    found.extend(_resident_entry(row) for row in inbox)
    outbox = connection.execute(
        select(OUTBOX.c.id, OUTBOX.c.payload, OUTBOX.c.status, OUTBOX.c.created_at, OFFICIALS.c.name)
        .select_from(OUTBOX.outerjoin(OFFICIALS, OFFICIALS.c.id == OUTBOX.c.official_id))
        .where(OUTBOX.c.conversation_id == conversation.id, OUTBOX.c.id > after.outbox)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    ).all()
    for row in outbox:
        payload = from_db_json(row.payload) or {}
        photo = payload.get("photo")
        found.append(
            Entry(
                kind="official" if row.name is not None else "bot",
                id=row.id,
                at=_aware(row.created_at),
                text=str(payload.get("text") or ""),
                author=row.name,
                photos=(str(photo["ref"]),) if photo and photo.get("ref") else (),
                status=row.status,
            )
        )
    notes = connection.execute(
        select(NOTES.c.id, NOTES.c.text, NOTES.c.created_at, OFFICIALS.c.name)
        .select_from(NOTES.join(OFFICIALS, OFFICIALS.c.id == NOTES.c.official_id))
        .where(NOTES.c.conversation_id == conversation.id, NOTES.c.id > after.note)
        .order_by(NOTES.c.id)
        .limit(limit)
    ).all()
    found.extend(
        Entry(kind="note", id=row.id, at=_aware(row.created_at), text=row.text, author=row.name) for row in notes
    )
    cursor = Cursor(
        inbox=max([after.inbox, *(row.id for row in inbox)]),
        outbox=max([after.outbox, *(row.id for row in outbox)]),
        note=max([after.note, *(row.id for row in notes)]),
    )
    found.sort(key=lambda entry: (entry.at, entry.kind != "resident", entry.id))
    return found, cursor


def media_conversation(connection: Connection, media_id: int) -> tuple[int, str, bytes] | None:
    """The conversation a stored photo was sent in, its type and bytes; None if there is none."""
    row = connection.execute(
        select(MEDIA.c.mime_type, MEDIA.c.data, CONVERSATIONS.c.id)
        .select_from(
            MEDIA.join(
                CONVERSATIONS,
                (CONVERSATIONS.c.channel == MEDIA.c.channel) & (CONVERSATIONS.c.chat_id == MEDIA.c.chat_id),
            )
        )
        .where(MEDIA.c.id == media_id)
    ).first()
    return (int(row.id), str(row.mime_type), bytes(row.data)) if row is not None else None
