"""Handoff: a conversation passes from the bot to an official of a department, and back.

A conversation's ``mode``::

    bot ──request──► waiting ──take──► official ──resolve / release──► bot
                        ▲                 │
                        └────transfer─────┘

- ``waiting``: a handoff request waits in a department's queue. The bot
  still answers (the resident may go on using the menu); officials see the
  conversation, and its waiting time, in their queue.
- ``official``: an official has it and **the bot says nothing**. Taking
  over bumps the conversation's version and cancels the bot's pending
  replies in the same transaction; an engine step that read the
  conversation before the takeover fails its fenced save
  (:class:`~bot.engine.StaleConversation`) and is redone, now silent. The
  outbox dispatcher claims a row (``sending``) before calling the platform,
  so a row is either cancelled by the takeover or was already on its way
  before it: :func:`in_flight` counts those, and a caller that must promise
  "nothing from the bot from now on" waits for them (:func:`wait_for_sends`).

Every function here runs in the caller's transaction and writes its audit
row (:mod:`bot.audit`) in it; the caller commits. Access: an official acts
only on conversations of their own department (:meth:`Actor.sees`); one
they may not see is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from bot.access import Actor
from bot.audit import record
from bot.errors import Conflict, Invalid, NotAllowed, NotFound
from bot.messages import InboundMessage, Photo
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from bot.relay import Relay
from models import PRIORITY_REPLY, Conversation, ConversationNote, HandoffRequest, OutboxItem, ServiceRequest
from models.rawsql import RawStatement, db_time, raw_insert

__all__ = [
    "MODE_BOT",
    "MODE_OFFICIAL",
    "MODE_WAITING",
    "Handoff",
    "Handoffs",
    "department_of",
    "in_flight",
    "open_handoff",
    "wait_for_sends",
    "waiting_estimate",
]

MODE_BOT = "bot"
MODE_WAITING = "waiting"
MODE_OFFICIAL = "official"

HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
NOTES = ConversationNote.__table__  # type: ignore[attr-defined]
REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]

_OPEN = ("waiting", "taken")

_NEW = raw_insert(
    HANDOFFS,
    (
        "conversation_id",
        "resident_id",
        "channel",
        "chat_id",
        "department",
        "person",
        "text",
        "status",
        "language",
        "official_id",
        "taken_at",
        "created_at",
        "updated_at",
    ),
    returning="id",
)
# Moving the conversation's mode bumps its version: an engine step that read the older
# version then fails its fenced save and is redone under the new mode.
_MODE = RawStatement(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(mode=bindparam("mode"), version=CONVERSATIONS.c.version + 1, updated_at=bindparam("now"))
)
# Opening a request inside a step leaves the version alone: the step's own fenced save moves it.
_WAITING_MODE = RawStatement(
    update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("conversation_id")).values(mode=MODE_WAITING)
)
_CANCEL_BOT_REPLIES = RawStatement(
    update(OUTBOX)
    .where(
        OUTBOX.c.conversation_id == bindparam("conversation_id"),
        OUTBOX.c.status == "pending",
        OUTBOX.c.official_id.is_(None),
        OUTBOX.c.priority == PRIORITY_REPLY,
    )
    .values(status="cancelled", last_error=bindparam("reason"))
)
_NOTE = raw_insert(NOTES, ("conversation_id", "official_id", "text", "created_at"))


@dataclass(frozen=True, slots=True)
class Handoff:
    """A conversation's open handoff request (``waiting`` or ``taken``)."""

    id: int
    conversation_id: int
    resident_id: int
    channel: str
    chat_id: str
    department: str
    person: str | None
    status: str
    language: str
    official_id: int | None
    created_at: datetime
    taken_at: datetime | None
    text: str | None = None


def open_handoff(
    connection: Connection,
    *,
    conversation_id: int,
    resident_id: int,
    channel: str,
    chat_id: str,
    department: str,
    language: str,
    person: str | None = None,
    text: str | None = None,
    now: datetime | None = None,
    notify: Relay | None = None,
    said: InboundMessage | None = None,
) -> int:
    """Put the conversation in ``department``'s queue (``waiting``); returns the request's id.

    The caller checks there is no open request already (:func:`current`).
    The conversation's version is not moved: inside an engine step, the
    step's own fenced save does that. With ``notify``, the department's
    officials who linked a messenger account are told there
    (:meth:`Relay.handoff_opened`, quoting ``said``, the message that led to it,
    else ``text``).
    """
    stamp = db_time(connection, now or datetime.now(UTC))
    handoff_id = _NEW.run(
        connection,
        {
            "conversation_id": conversation_id,
            "resident_id": resident_id,
            "channel": channel,
            "chat_id": chat_id,
            "department": department,
            "person": person,
            "text": text,
            "status": "waiting",
            "language": language,
            "official_id": None,
            "taken_at": None,
            "created_at": stamp,
            "updated_at": stamp,
        },
    ).fetchone()[0]
    _WAITING_MODE.run(connection, {"conversation_id": conversation_id})
    if notify is not None:
        notify.handoff_opened(connection, int(handoff_id), said=said)
    return int(handoff_id)


def current(connection: Connection, conversation_id: int) -> Handoff | None:
    """The conversation's open handoff request, if it has one."""
    row = connection.execute(
        select(HANDOFFS)
        .where(HANDOFFS.c.conversation_id == conversation_id, HANDOFFS.c.status.in_(_OPEN))
        .order_by(HANDOFFS.c.id.desc())
        .limit(1)
    ).first()
    return _handoff(row) if row is not None else None


def _handoff(row: Any) -> Handoff:
    return Handoff(
        id=row.id,
        conversation_id=row.conversation_id,
        resident_id=row.resident_id,
        channel=row.channel,
        chat_id=row.chat_id,
        department=row.department,
        person=row.person,
        status=row.status,
        language=row.language,
        official_id=row.official_id,
        created_at=row.created_at,
        taken_at=row.taken_at,
        text=row.text,
    )


def withdraw(
    connection: Connection, conversation_id: int, *, now: datetime | None = None, notify: Relay | None = None
) -> bool:
    """The resident no longer needs a person: their ``waiting`` request is cancelled and the bot answers.

    Only a request nobody has taken yet can be withdrawn (once an official has
    it, the resident's messages are theirs). With ``notify``, the department's
    linked officials are told. Returns whether there was a waiting request.
    """
    handoff = current(connection, conversation_id)
    if handoff is None or handoff.status != "waiting":
        return False
    now = now or datetime.now(UTC)
    connection.execute(
        update(HANDOFFS)
        .where(HANDOFFS.c.id == handoff.id, HANDOFFS.c.status == "waiting")
        .values(status="cancelled", resolved_at=now, updated_at=now)
    )
    connection.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(mode=MODE_BOT))
    if notify is not None:
        notify.handoff_withdrawn(connection, handoff.id)
    return True


def department_of(connection: Connection, conversation_id: int) -> str | None:
    """The department a conversation belongs to: its latest handoff's, else its latest service request's."""
    found = connection.execute(
        select(HANDOFFS.c.department)
        .where(HANDOFFS.c.conversation_id == conversation_id)
        .order_by(HANDOFFS.c.id.desc())
        .limit(1)
    ).scalar()
    if found is None:
        found = connection.execute(
            select(REQUESTS.c.department)
            .where(REQUESTS.c.conversation_id == conversation_id)
            .order_by(REQUESTS.c.id.desc())
            .limit(1)
        ).scalar()
    return str(found) if found is not None else None


def in_flight(connection: Connection, conversation_id: int) -> int:
    """How many of the bot's messages to this conversation a dispatcher is sending right now."""
    return int(
        connection.execute(
            select(func.count())
            .select_from(OUTBOX)
            .where(
                OUTBOX.c.conversation_id == conversation_id,
                OUTBOX.c.status == "sending",
                OUTBOX.c.official_id.is_(None),
            )
        ).scalar_one()
    )


def wait_for_sends(db: Engine, conversation_id: int, *, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """After a takeover committed, wait until no bot message to the conversation is still being sent.

    Returns True once none is (from then on the resident hears only officials),
    False if ``timeout`` passed first (a platform call hanging; its row stays
    ``sending`` and is the only one that may still arrive).
    """
    deadline = time.monotonic() + timeout
    while True:
        with db.connect() as connection:
            if in_flight(connection, conversation_id) == 0:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def waiting_estimate(
    connection: Connection, department: str, *, before: datetime | None = None, sample: int = 30
) -> tuple[int, timedelta | None]:
    """How many requests wait in ``department``'s queue (created before ``before``), and the usual wait.

    The usual wait is the median time from request to an official taking it
    over the department's last ``sample`` taken requests; None without history.
    """
    waiting = (
        select(func.count())
        .select_from(HANDOFFS)
        .where(HANDOFFS.c.department == department, HANDOFFS.c.status == "waiting")
    )
    if before is not None:
        waiting = waiting.where(HANDOFFS.c.created_at < before)
    ahead = int(connection.execute(waiting).scalar_one())
    rows = connection.execute(
        select(HANDOFFS.c.created_at, HANDOFFS.c.taken_at)
        .where(HANDOFFS.c.department == department, HANDOFFS.c.taken_at.is_not(None))
        .order_by(HANDOFFS.c.id.desc())
        .limit(sample)
    ).all()
    waits = [(row.taken_at - row.created_at).total_seconds() for row in rows]
    return ahead, timedelta(seconds=median(waits)) if waits else None


@dataclass(frozen=True, slots=True)
class _Target:
    conversation_id: int
    channel: str
    chat_id: str
    resident_id: int
    language: str
    mode: str
    department: str | None


class Handoffs:
    """What officials do with conversations: take, reply, note, transfer, release, resolve."""

    def __init__(self, wording: Wording) -> None:
        self.wording = wording
        self.config = wording.config

    # -- reading -------------------------------------------------------------------

    def _target(self, connection: Connection, actor: Actor, conversation_id: int, *, lock: bool = False) -> _Target:
        query = select(
            CONVERSATIONS.c.id,
            CONVERSATIONS.c.channel,
            CONVERSATIONS.c.chat_id,
            CONVERSATIONS.c.resident_id,
            CONVERSATIONS.c.language,
            CONVERSATIONS.c.mode,
        ).where(CONVERSATIONS.c.id == conversation_id)
        if lock:
            query = query.with_for_update()
        row = connection.execute(query).first()
        department = department_of(connection, conversation_id) if row is not None else None
        if row is None or not actor.sees(department):
            raise NotFound(f"there is no conversation {conversation_id} in your department")
        return _Target(row.id, row.channel, row.chat_id, row.resident_id, row.language, row.mode, department)

    def visible(self, connection: Connection, actor: Actor, conversation_id: int) -> str | None:
        """The conversation's department if ``actor`` may see it; raises :class:`NotFound` otherwise."""
        return self._target(connection, actor, conversation_id).department

    # -- acting ----------------------------------------------------------------------

    def take(self, connection: Connection, actor: Actor, conversation_id: int, *, now: datetime | None = None) -> int:
        """``actor`` takes the conversation over: the bot falls silent; returns the handoff's id.

        A waiting request is taken; without one (an official stepping into a
        bot conversation of their department) a request is opened and taken at
        once. Raises :class:`Conflict` when another official has it already.
        """
        if actor.official_id is None:
            raise NotAllowed("only an official can take a conversation over")
        now = now or datetime.now(UTC)
        target = self._target(connection, actor, conversation_id, lock=True)
        stamp = db_time(connection, now)
        handoff = current(connection, conversation_id)
        if handoff is not None and handoff.status == "taken":
            if handoff.official_id == actor.official_id:
                return handoff.id
            raise Conflict("another official is already answering this conversation")
        if handoff is None:
            department = target.department or actor.department or ""
            handoff_id = open_handoff(
                connection,
                conversation_id=conversation_id,
                resident_id=target.resident_id,
                channel=target.channel,
                chat_id=target.chat_id,
                department=department,
                language=target.language,
                now=now,
            )
        else:
            handoff_id = handoff.id
        taken = connection.execute(
            update(HANDOFFS)
            .where(HANDOFFS.c.id == handoff_id, HANDOFFS.c.status == "waiting")
            .values(status="taken", official_id=actor.official_id, taken_at=now, updated_at=now)
        ).rowcount
        if taken != 1:
            raise Conflict("another official took this conversation a moment ago")
        _MODE.run(connection, {"conversation_id": conversation_id, "mode": MODE_OFFICIAL, "now": stamp})
        cancelled = _CANCEL_BOT_REPLIES.run(
            connection, {"conversation_id": conversation_id, "reason": f"taken over by {actor.username}"}
        ).rowcount
        self._tell(connection, target, actor, "handoff_taken", name=actor.name)
        record(
            connection,
            actor,
            "take",
            conversation_id=conversation_id,
            detail={"handoff_id": handoff_id, "bot_replies_cancelled": cancelled},
            now=now,
        )
        return handoff_id

    def reply(
        self,
        connection: Connection,
        actor: Actor,
        conversation_id: int,
        text: str,
        *,
        now: datetime | None = None,
        photo: Photo | None = None,
    ) -> None:
        """Send ``text`` (and ``photo``, if any) to the resident as ``actor``; takes the conversation over if needed.

        A photo may go without words. A platform photo of another channel than
        the resident's carries its ``origin``; the outbox makes it a stored copy
        before sending (:mod:`bot.outbox`).
        """
        body = text.strip()
        if not body and photo is None:
            raise Invalid("the reply is empty; write something to send")
        if len(body) > 4000:
            raise Invalid(f"the reply is {len(body)} characters long; keep it under 4000")
        handoff = current(connection, conversation_id)
        if handoff is None or handoff.status != "taken" or handoff.official_id != actor.official_id:
            self.take(connection, actor, conversation_id, now=now)
        target = self._target(connection, actor, conversation_id)
        if body:
            shown = self.wording.text("official_says", target.language, name=actor.name, text=body)
        else:
            shown = self.wording.text("official_sends_photo", target.language, name=actor.name)
        if photo is not None and photo.origin == target.channel:
            photo = Photo(photo.ref, photo.mime_type)  # the resident's own platform reads the ref as it is
        enqueue(
            connection,
            channel=target.channel,
            chat_id=target.chat_id,
            replies=[Reply(text=shown, photo=photo)],
            conversation_id=conversation_id,
            official_id=actor.official_id,
        )
        detail: dict[str, Any] = {"length": len(body)}
        if photo is not None:
            detail["photo"] = True
        record(connection, actor, "reply", conversation_id=conversation_id, detail=detail, now=now)

    def note(
        self, connection: Connection, actor: Actor, conversation_id: int, text: str, *, now: datetime | None = None
    ) -> None:
        """Leave an internal note on the conversation (residents never see notes)."""
        if actor.official_id is None:
            raise NotAllowed("only an official can leave a note")
        body = text.strip()
        if not body:
            raise Invalid("the note is empty; write something to keep")
        if len(body) > 4000:  # refused, never cut short without a word
            raise Invalid(f"the note is {len(body)} characters long; keep it under 4000")
        self._target(connection, actor, conversation_id)
        now = now or datetime.now(UTC)
        _NOTE.run(
            connection,
            {
                "conversation_id": conversation_id,
                "official_id": actor.official_id,
                "text": body,
                "created_at": db_time(connection, now),
            },
        )
        record(connection, actor, "note", conversation_id=conversation_id, now=now)

    def transfer(
        self,
        connection: Connection,
        actor: Actor,
        conversation_id: int,
        *,
        department: str,
        person: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Pass the conversation to another department (or a person of one): it waits in their queue."""
        if department not in self.config.departments:
            known = ", ".join(sorted(self.config.departments))
            raise NotFound(f"there is no department {department!r}; the departments are {known}")
        if person is not None and (
            person not in self.config.people or self.config.people[person].department != department
        ):
            raise NotFound(f"{person!r} is not a person of {department}")
        now = now or datetime.now(UTC)
        target = self._target(connection, actor, conversation_id, lock=True)
        stamp = db_time(connection, now)
        handoff = current(connection, conversation_id)
        if handoff is not None:
            connection.execute(
                update(HANDOFFS)
                .where(HANDOFFS.c.id == handoff.id)
                .values(status="transferred", resolved_at=now, updated_at=now)
            )
        handoff_id = open_handoff(
            connection,
            conversation_id=conversation_id,
            resident_id=target.resident_id,
            channel=target.channel,
            chat_id=target.chat_id,
            department=department,
            person=person,
            language=target.language,
            text=handoff.text if handoff is not None else None,
            now=now,
        )
        Relay(self.wording).handoff_opened(connection, handoff_id, transferred=(target.department, actor.name))
        _MODE.run(connection, {"conversation_id": conversation_id, "mode": MODE_WAITING, "now": stamp})
        to = self.wording.name(self.config.departments[department].name, target.language, department)
        if person is not None:
            to = f"{self.config.people[person].name} ({to})"
        self._tell(connection, target, actor, "handoff_transferred", to=to)
        record(
            connection,
            actor,
            "transfer",
            conversation_id=conversation_id,
            detail={"from": target.department, "to": department, "person": person},
            now=now,
        )
        return handoff_id

    def release(
        self, connection: Connection, actor: Actor, conversation_id: int, *, now: datetime | None = None
    ) -> None:
        """Give the conversation back to the bot without resolving it."""
        self._close(connection, actor, conversation_id, "released", "release", now)

    def resolve(
        self, connection: Connection, actor: Actor, conversation_id: int, *, now: datetime | None = None
    ) -> None:
        """Mark the matter resolved; the bot answers again."""
        self._close(connection, actor, conversation_id, "resolved", "resolve", now)

    def _close(
        self, connection: Connection, actor: Actor, conversation_id: int, status: str, action: str, now: datetime | None
    ) -> None:
        now = now or datetime.now(UTC)
        target = self._target(connection, actor, conversation_id, lock=True)
        handoff = current(connection, conversation_id)
        if handoff is None:
            raise Conflict("this conversation is already with the bot")
        if handoff.status == "taken" and handoff.official_id != actor.official_id and not actor.may("lead"):
            raise NotAllowed("another official has this conversation; only they or a department lead can close it")
        stamp = db_time(connection, now)
        connection.execute(
            update(HANDOFFS)
            .where(HANDOFFS.c.id == handoff.id, HANDOFFS.c.status.in_(_OPEN))
            .values(status=status, resolved_at=now, updated_at=now)
        )
        _MODE.run(connection, {"conversation_id": conversation_id, "mode": MODE_BOT, "now": stamp})
        self._tell(connection, target, actor, f"handoff_{status}")
        record(connection, actor, action, conversation_id=conversation_id, detail={"handoff_id": handoff.id}, now=now)

    def _tell(self, connection: Connection, target: _Target, actor: Actor, key: str, **values: object) -> None:
        """Tell the resident what ``actor`` did, in their language (written as the official's, not the bot's)."""
        enqueue(
            connection,
            channel=target.channel,
            chat_id=target.chat_id,
            replies=[Reply(text=self.wording.text(key, target.language, **values))],
            conversation_id=target.conversation_id,
            official_id=actor.official_id,
        )
