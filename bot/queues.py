"""What officials' queues show: handoffs per department, service requests per department, search.

Read-only queries for the inbox. Every function takes the :class:`Actor`
and returns only what that actor may see (their department; a town admin
everything, optionally narrowed to one department). Times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, String, cast, func, or_, select

from bot.access import Actor
from bot.errors import NotFound
from bot.handoff import department_of
from bot.request_status import CLOSED_STATUSES, OPEN_STATUSES
from models import (
    ChannelIdentity,
    Conversation,
    HandoffRequest,
    InboxItem,
    Official,
    RequestUpdate,
    Resident,
    ServiceRequest,
)

__all__ = [
    "QUEUES",
    "REQUEST_QUEUES",
    "QueueItem",
    "RequestItem",
    "SearchHit",
    "StatusUpdate",
    "queue",
    "queue_mark",
    "request_item",
    "request_updates",
    "requests_queue",
    "search",
]

HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]
OFFICIALS = Official.__table__  # type: ignore[attr-defined]
INBOX = InboxItem.__table__  # type: ignore[attr-defined]
REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
UPDATES = RequestUpdate.__table__  # type: ignore[attr-defined]

QUEUES = ("waiting", "mine", "open", "resolved")
"""``waiting`` for an official; ``mine``: taken by me; ``open``: waiting or taken; ``resolved``: resolved,
released to the bot or cancelled by the resident (one transferred away is the other department's)."""

REQUEST_QUEUES = ("open", "closed", "all")


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One handoff in a queue."""

    conversation_id: int
    handoff_id: int
    department: str
    status: str
    official_id: int | None
    official_name: str | None
    resident_name: str | None
    channel: str
    text: str | None
    created_at: datetime
    taken_at: datetime | None
    resolved_at: datetime | None

    def waited(self, now: datetime) -> timedelta:
        """How long the resident waited (or has been waiting) for an official."""
        return (self.taken_at or self.resolved_at or now) - self.created_at

    def late(self, now: datetime, alert_after_minutes: int) -> bool:
        """Still waiting, for longer than the town's alert threshold."""
        return self.status == "waiting" and self.waited(now) > timedelta(minutes=alert_after_minutes)


def _in_scope(query: Select[Any], column: Any, actor: Actor, department: str | None) -> Select[Any]:
    if not actor.everywhere:
        return query.where(column == actor.department)
    if department:
        return query.where(column == department)
    return query


def queue(
    connection: Connection, actor: Actor, which: str, *, department: str | None = None, limit: int = 200
) -> list[QueueItem]:
    """The handoffs of one queue (:data:`QUEUES`) the actor may see, oldest waiting first."""
    if which not in QUEUES:
        raise NotFound(f"there is no queue {which!r}; the queues are {', '.join(QUEUES)}")
    query: Select[Any] = (
        select(
            HANDOFFS.c.conversation_id,
            HANDOFFS.c.id,
            HANDOFFS.c.department,
            HANDOFFS.c.status,
            HANDOFFS.c.official_id,
            OFFICIALS.c.name.label("official_name"),
            RESIDENTS.c.display_name,
            HANDOFFS.c.channel,
            HANDOFFS.c.text,
            HANDOFFS.c.created_at,
            HANDOFFS.c.taken_at,
            HANDOFFS.c.resolved_at,
        )
        .select_from(
            HANDOFFS.outerjoin(OFFICIALS, OFFICIALS.c.id == HANDOFFS.c.official_id).outerjoin(
                RESIDENTS, RESIDENTS.c.id == HANDOFFS.c.resident_id
            )
        )
        .limit(limit)
    )
    query = _in_scope(query, HANDOFFS.c.department, actor, department)
    if which == "waiting":
        query = query.where(HANDOFFS.c.status == "waiting").order_by(HANDOFFS.c.created_at, HANDOFFS.c.id)
    elif which == "mine":
        query = query.where(HANDOFFS.c.status == "taken", HANDOFFS.c.official_id == actor.official_id).order_by(
            HANDOFFS.c.created_at, HANDOFFS.c.id
        )
    elif which == "open":
        query = query.where(HANDOFFS.c.status.in_(("waiting", "taken"))).order_by(HANDOFFS.c.created_at, HANDOFFS.c.id)
    else:
        query = query.where(HANDOFFS.c.status.in_(("resolved", "released", "cancelled"))).order_by(
            HANDOFFS.c.resolved_at.desc(), HANDOFFS.c.id.desc()
        )
    return [
        QueueItem(
            conversation_id=row.conversation_id,
            handoff_id=row.id,
            department=row.department,
            status=row.status,
            official_id=row.official_id,
            official_name=row.official_name,
            resident_name=row.display_name,
            channel=row.channel,
            text=row.text,
            created_at=row.created_at,
            taken_at=row.taken_at,
            resolved_at=row.resolved_at,
        )
        for row in connection.execute(query).all()
    ]


def queue_mark(connection: Connection, actor: Actor, *, department: str | None = None) -> tuple[Any, ...]:
    """A value that changes whenever the actor's queues change (a handoff moved, a resident wrote)."""
    handoffs = _in_scope(
        select(func.count(), func.max(HANDOFFS.c.id), func.max(HANDOFFS.c.updated_at)).select_from(HANDOFFS),
        HANDOFFS.c.department,
        actor,
        department,
    )
    messages = _in_scope(
        select(func.max(INBOX.c.id)).select_from(
            INBOX.join(HANDOFFS, (HANDOFFS.c.channel == INBOX.c.channel) & (HANDOFFS.c.chat_id == INBOX.c.chat_id))
        ),
        HANDOFFS.c.department,
        actor,
        department,
    ).where(HANDOFFS.c.status.in_(("waiting", "taken")))
    count, last_id, last_update = connection.execute(handoffs).one()
    return (count, last_id, str(last_update), connection.execute(messages).scalar())


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A conversation found by search."""

    conversation_id: int
    department: str | None
    resident_name: str | None
    channel: str
    mode: str
    updated_at: datetime


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(connection: Connection, actor: Actor, text: str, *, limit: int = 50) -> list[SearchHit]:
    """Conversations the actor may see whose messages, ticket or resident's name contain ``text``."""
    needle = text.strip()
    if not needle:
        return []
    pattern = _like(needle)
    ids: set[int] = set()
    by_ticket = select(REQUESTS.c.conversation_id).where(
        func.lower(REQUESTS.c.ticket).like(pattern, escape="\\"), REQUESTS.c.conversation_id.is_not(None)
    )
    ids.update(row[0] for row in connection.execute(by_ticket.limit(limit)))
    by_name = (
        select(CONVERSATIONS.c.id)
        .select_from(
            CONVERSATIONS.join(RESIDENTS, RESIDENTS.c.id == CONVERSATIONS.c.resident_id).outerjoin(
                IDENTITIES, IDENTITIES.c.resident_id == RESIDENTS.c.id
            )
        )
        .where(
            or_(
                func.lower(RESIDENTS.c.display_name).like(pattern, escape="\\"),
                func.lower(IDENTITIES.c.display_name).like(pattern, escape="\\"),
            )
        )
    )
    ids.update(row[0] for row in connection.execute(by_name.limit(limit)))
    by_text = (
        select(CONVERSATIONS.c.id)
        .select_from(
            INBOX.join(
                CONVERSATIONS,
                (CONVERSATIONS.c.channel == INBOX.c.channel) & (CONVERSATIONS.c.chat_id == INBOX.c.chat_id),
            )
        )
        .where(func.lower(cast(INBOX.c.payload, String)).like(pattern, escape="\\"))
        .distinct()
    )
    ids.update(row[0] for row in connection.execute(by_text.limit(limit * 4)))
    if not ids:
        return []
    rows = connection.execute(
        select(
            CONVERSATIONS.c.id,
            CONVERSATIONS.c.channel,
            CONVERSATIONS.c.mode,
            CONVERSATIONS.c.updated_at,
            RESIDENTS.c.display_name,
        )
        .select_from(CONVERSATIONS.join(RESIDENTS, RESIDENTS.c.id == CONVERSATIONS.c.resident_id))
        .where(CONVERSATIONS.c.id.in_(sorted(ids)))
        .order_by(CONVERSATIONS.c.updated_at.desc())
    ).all()
    hits: list[SearchHit] = []
    for row in rows:
        department = department_of(connection, row.id)
        if department is None or not actor.sees(department):
            continue
        hits.append(SearchHit(row.id, department, row.display_name, row.channel, row.mode, row.updated_at))
        if len(hits) >= limit:
            break
    return hits


@dataclass(frozen=True, slots=True)
class RequestItem:
    """A service request as officials see it (with the reporter's conversation, if any)."""

    id: int
    ticket: str | None
    kind: str
    category: str
    department: str
    title: str | None
    description: str
    photo_ref: str | None
    latitude: float | None
    longitude: float | None
    address: str | None
    status: str
    private: bool
    language: str
    channel: str
    conversation_id: int | None
    created_at: datetime
    updated_at: datetime


_REQUEST_COLUMNS = (
    REQUESTS.c.id,
    REQUESTS.c.ticket,
    REQUESTS.c.kind,
    REQUESTS.c.category,
    REQUESTS.c.department,
    REQUESTS.c.title,
    REQUESTS.c.description,
    REQUESTS.c.photo_ref,
    REQUESTS.c.latitude,
    REQUESTS.c.longitude,
    REQUESTS.c.address,
    REQUESTS.c.status,
    REQUESTS.c.private,
    REQUESTS.c.language,
    REQUESTS.c.channel,
    REQUESTS.c.conversation_id,
    REQUESTS.c.created_at,
    REQUESTS.c.updated_at,
)


def _request(row: Any) -> RequestItem:
    return RequestItem(**{column.name: getattr(row, column.name) for column in _REQUEST_COLUMNS})


def requests_queue(
    connection: Connection, actor: Actor, which: str = "open", *, department: str | None = None, limit: int = 200
) -> list[RequestItem]:
    """The service requests of the actor's department (:data:`REQUEST_QUEUES`), newest first."""
    if which not in REQUEST_QUEUES:
        raise NotFound(f"there is no list {which!r}; use {', '.join(REQUEST_QUEUES)}")
    query = _in_scope(select(*_REQUEST_COLUMNS), REQUESTS.c.department, actor, department)
    if which == "open":
        query = query.where(REQUESTS.c.status.in_(OPEN_STATUSES))
    elif which == "closed":
        query = query.where(REQUESTS.c.status.in_(CLOSED_STATUSES))
    rows = connection.execute(query.order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc()).limit(limit)).all()
    return [_request(row) for row in rows]


def request_item(connection: Connection, actor: Actor, request_id: int) -> RequestItem:
    """One request; raises :class:`NotFound` when it does not exist or is another department's."""
    row = connection.execute(select(*_REQUEST_COLUMNS).where(REQUESTS.c.id == request_id)).first()
    if row is None or not actor.sees(row.department):
        raise NotFound(f"there is no request {request_id} in your department")
    return _request(row)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    old_status: str
    status: str
    note: str | None
    created_at: datetime


def request_updates(connection: Connection, request_id: int) -> list[StatusUpdate]:
    """A request's status changes, oldest first."""
    rows = connection.execute(
        select(UPDATES.c.old_status, UPDATES.c.status, UPDATES.c.note, UPDATES.c.created_at)
        .where(UPDATES.c.request_id == request_id)
        .order_by(UPDATES.c.id)
    ).all()
    return [StatusUpdate(row.old_status, row.status, row.note, row.created_at) for row in rows]
