"""A service request's status, and telling its reporter and followers when it changes.

Officials' tools (and ``plaza requests status`` until they exist) call
:func:`set_request_status`. In the caller's transaction it updates the row,
records the change in ``request_updates`` and enqueues one message to the
reporter and one to each follower, each in their own language and on their
own channel and chat. Setting the status a request already has changes and
sends nothing. The wording is ``request_status_<status>`` in
``flows/messages.yaml``, with ``{ticket}`` and ``{took}`` (how long since the
report, e.g. "2 horas", "3 days"); a note is added with ``request_status_note``.
A photo (an official's before/after picture, already checked to be an image)
is stored as ``media:<id>`` of the reporter's chat and sent to the reporter
with the notice, as a real photo on their platform; followers get the words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from bot.config import Config
from bot.flows import Text
from bot.media import Media, store_media
from bot.messages import Photo
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from bot.templates import pick, render
from models import Conversation, RequestFollower, RequestUpdate, ServiceRequest
from models.rawsql import RawStatement, db_time, raw_insert

__all__ = [
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "STATUSES",
    "StatusChange",
    "UnknownRequest",
    "UnknownStatus",
    "humanized",
    "request_id_for",
    "set_request_status",
]

OPEN_STATUSES = ("received", "acknowledged", "in_progress")
CLOSED_STATUSES = ("fixed", "duplicate", "not_ours", "closed")
STATUSES = OPEN_STATUSES + CLOSED_STATUSES
"""Every internal status, in the order a request usually goes through them (Open311: open/closed)."""

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
FOLLOWERS = RequestFollower.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
UPDATES = RequestUpdate.__table__  # type: ignore[attr-defined]

_REQUEST = RawStatement(
    select(
        REQUESTS.c.ticket,
        REQUESTS.c.status,
        REQUESTS.c.private,
        REQUESTS.c.language,
        REQUESTS.c.created_at,
        CONVERSATIONS.c.channel,
        CONVERSATIONS.c.chat_id,
    )
    .select_from(REQUESTS.outerjoin(CONVERSATIONS, CONVERSATIONS.c.id == REQUESTS.c.conversation_id))
    .where(REQUESTS.c.id == bindparam("request_id"))
)
_BY_TICKET = RawStatement(select(REQUESTS.c.id).where(REQUESTS.c.ticket == bindparam("ticket")))
# only when the status is still the one read: two officials changing it at once notify once each, never twice
_SET = RawStatement(
    update(REQUESTS)
    .where(REQUESTS.c.id == bindparam("request_id"), REQUESTS.c.status == bindparam("old_status"))
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_FOLLOWERS = RawStatement(
    select(FOLLOWERS.c.channel, FOLLOWERS.c.chat_id, FOLLOWERS.c.language)
    .where(FOLLOWERS.c.request_id == bindparam("request_id"))
    .order_by(FOLLOWERS.c.id)
)
_RECORD = raw_insert(UPDATES, ("request_id", "old_status", "status", "note", "created_at"))


class UnknownStatus(ValueError):
    """A status that is not one of :data:`STATUSES`."""


class UnknownRequest(LookupError):
    """No service request with that id or ticket."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What :func:`set_request_status` did: the ticket, the old and new status, and how many it told."""

    ticket: str
    old_status: str
    status: str
    notified: int

    @property
    def changed(self) -> bool:
        return self.old_status != self.status


def humanized(elapsed: timedelta, language: str, messages: Mapping[str, Text], fallback: str) -> str:
    """``elapsed`` in words: minutes under an hour, hours under two days, days after that."""
    minutes = max(1, round(elapsed.total_seconds() / 60))
    if minutes < 60:
        count, unit = minutes, "minute"
    elif minutes < 48 * 60:
        count, unit = round(minutes / 60), "hour"
    else:
        count, unit = round(minutes / (24 * 60)), "day"
    key = f"took_{unit}" if count == 1 else f"took_{unit}s"
    return render(pick(messages[key], language, fallback), {"n": count})


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def request_id_for(connection: Connection, ticket: str) -> int:
    """The id of the request with ``ticket`` (``JUN-2026-000123``); raises :class:`UnknownRequest`."""
    row = _BY_TICKET.run(connection, {"ticket": ticket.strip().upper()}).fetchone()
    if row is None:
        raise UnknownRequest(f"no service request with ticket {ticket}")
    return int(row[0])


def set_request_status(
    connection: Connection,
    config: Config,
    request_id: int,
    status: str,
    *,
    note: str | None = None,
    now: datetime,
    messages: Mapping[str, Text] | None = None,
    photo: Media | None = None,
) -> StatusChange:
    """Set the request's status and, in the same transaction, tell its reporter and followers.

    ``now`` is when the change happens (aware). ``messages`` is the bot's
    wording (default: ``messages.yaml`` of the flows folder). Private
    requests tell only their reporter. Raises :class:`UnknownStatus` or
    :class:`UnknownRequest`; the caller commits or rolls back.
    """
    if status not in STATUSES:
        raise UnknownStatus(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    row = _REQUEST.run(connection, {"request_id": request_id}).fetchone()
    if row is None:
        raise UnknownRequest(f"no service request with id {request_id}")
    ticket, old_status, private, language, created_at, channel, chat_id = row
    if old_status == status:
        return StatusChange(ticket, old_status, status, 0)
    stamp = db_time(connection, now)
    changed = _SET.run(
        connection, {"request_id": request_id, "old_status": old_status, "status": status, "now": stamp}
    ).rowcount
    if not changed:  # someone else changed it meanwhile: theirs stands, and they told everyone
        return StatusChange(ticket, old_status, old_status, 0)
    _RECORD.run(
        connection,
        {"request_id": request_id, "old_status": old_status, "status": status, "note": note, "created_at": stamp},
    )
    wording = Wording(config, messages)
    shown: Photo | None = None
    if photo is not None:  # kept even with nobody to tell: it is the record of the work done
        owner = (
            (channel, chat_id) if channel is not None and chat_id is not None else ("inbox", f"request-{request_id}")
        )
        shown = Photo(store_media(connection, owner[0], owner[1], photo), photo.mime_type)
    recipients: list[tuple[str, str, str]] = []
    if channel is not None and chat_id is not None:
        recipients.append((channel, chat_id, language))
    if not private:
        recipients.extend(tuple(r) for r in _FOLLOWERS.run(connection, {"request_id": request_id}).fetchall())
    told: set[tuple[str, str]] = set()
    took = now - _aware(created_at)
    for to_channel, to_chat, to_language in recipients:
        if (to_channel, to_chat) in told:
            continue
        reporter = not told
        told.add((to_channel, to_chat))
        text = _text(wording, status, ticket, took, note, to_language)
        enqueue(
            connection,
            channel=to_channel,
            chat_id=to_chat,
            replies=[Reply(text=text, photo=shown if reporter and channel is not None else None)],
        )
    return StatusChange(ticket, old_status, status, len(told))


def _text(wording: Wording, status: str, ticket: str, took: timedelta, note: str | None, language: str) -> str:
    fallback = wording.config.default_language
    took_text = humanized(took, language, wording.messages, fallback)
    text = wording.text(f"request_status_{status}", language, ticket=ticket, took=took_text)
    if note and note.strip():
        text += "\n\n" + wording.text("request_status_note", language, note=note.strip())
    return text
