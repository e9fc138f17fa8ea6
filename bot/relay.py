"""Handoffs relayed to officials' own messenger accounts: who is linked, and what they are told.

An official links a Telegram or Mastodon account (``plaza relay link``,
:mod:`bot.relay_links`); from then on Plaza writes to that account through the
outbox, like any reply:

- **A handoff opens** for a department (a resident asked for a person, the bot
  failed a step, an official transferred a conversation): every linked
  official *of that department* gets a notice, ``#12 · Policía Local · Juan
  (telegram): …``. Only the department's own officials are told, whatever
  their role: a town admin of another department sees every queue in the web
  inbox and may ``/take`` any conversation, but is not sent every
  department's handoffs; so a private department's content (police, social
  services) never leaves that department.
- **A resident writes** while the conversation waits: the message goes to the
  same officials; once an official took the conversation, only to that
  official (on every account they linked). A photo goes with it as a photo
  (the first one; the text notes each), whatever platform it came from
  (``Photo.origin``: the outbox stores a copy first when the platforms differ).

Relayed rows belong to no conversation (``conversation_id`` None): they are
not part of the resident's history, and a takeover, which cancels the bot's
pending replies to the resident, leaves them alone. Their payload carries
``relay: {"conversation_id": N}``; once the dispatcher sent a row, its
``platform_message_ids`` tell which conversation an official's reply to it is
about (:func:`replied_conversation`). Everything here runs in the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from bot.access import Actor
from bot.messages import InboundMessage, Photo
from bot.notices import Wording
from bot.outbox import photo_payload
from models import PRIORITY_REPLY, Conversation, HandoffRequest, Official, OfficialIdentity, OutboxItem, Resident
from models.rawsql import RawStatement

__all__ = [
    "RELAY_CHANNELS",
    "Linked",
    "Relay",
    "first_photo",
    "linked",
    "official_of",
    "replied_conversation",
    "tell",
]

RELAY_CHANNELS = ("telegram", "mastodon")
"""Where handoffs can be relayed: messengers with private messages an official answers by replying."""

OFFICIALS = Official.__table__  # type: ignore[attr-defined]
IDENTITIES = OfficialIdentity.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]

_COLUMNS = (
    OFFICIALS.c.id,
    OFFICIALS.c.username,
    OFFICIALS.c.name,
    OFFICIALS.c.department,
    OFFICIALS.c.role,
    OFFICIALS.c.language,
    IDENTITIES.c.channel,
    IDENTITIES.c.chat_id,
)
# Run for every inbound message (is the sender an official?): built once, on the driver.
_OFFICIAL_OF = RawStatement(
    select(*_COLUMNS)
    .join(OFFICIALS, OFFICIALS.c.id == IDENTITIES.c.official_id)
    .where(
        IDENTITIES.c.channel == bindparam("channel"),
        IDENTITIES.c.platform_user_id == bindparam("sender_id"),
        OFFICIALS.c.disabled.is_(False),
    )
)
REPLY_LOOKBACK = 500
"""How many of the latest messages to an official's chat a reply is looked up among."""


@dataclass(frozen=True, slots=True)
class Linked:
    """An official's linked messenger account, with what relaying needs to know of the official."""

    official_id: int
    username: str
    name: str
    department: str
    role: str
    language: str
    channel: str
    chat_id: str

    def actor(self) -> Actor:
        return Actor(self.official_id, self.username, self.name, self.department, self.role)


def _linked(row: Any) -> Linked:
    official_id, username, name, department, role, language, channel, chat_id = tuple(row)
    return Linked(int(official_id), username, name, department, role, language, channel, str(chat_id))


def official_of(connection: Connection, channel: str, sender_id: str) -> Linked | None:
    """The (enabled) official who linked the account ``sender_id`` on ``channel``, if any."""
    row = _OFFICIAL_OF.run(connection, {"channel": channel, "sender_id": sender_id}).fetchone()
    return _linked(row) if row is not None else None


def linked(connection: Connection, *, department: str | None = None, official_id: int | None = None) -> list[Linked]:
    """The enabled officials' linked accounts, of one department or of one official."""
    query = (
        select(*_COLUMNS)
        .join(OFFICIALS, OFFICIALS.c.id == IDENTITIES.c.official_id)
        .where(OFFICIALS.c.disabled.is_(False), IDENTITIES.c.channel.in_(RELAY_CHANNELS))
        .order_by(IDENTITIES.c.id)
    )
    if department is not None:
        query = query.where(OFFICIALS.c.department == department)
    if official_id is not None:
        query = query.where(OFFICIALS.c.id == official_id)
    return [_linked(row) for row in connection.execute(query)]


def tell(
    connection: Connection,
    to: Linked,
    text: str,
    *,
    conversation_id: int | None = None,
    inbox_id: int | None = None,
    photo: Photo | None = None,
) -> None:
    """Write ``text`` (with ``photo``) to an official's account (an outbox row); ``conversation_id``: what it is about.

    The row belongs to no conversation; the one it is about rides in its payload,
    so that the official's reply to it can be mapped back.
    """
    now = datetime.now(UTC)
    if photo is not None and photo.origin == to.channel:
        photo = Photo(photo.ref, photo.mime_type)  # the official's own platform reads the ref as it is
    shown = photo_payload(photo) if photo is not None else None
    payload: dict[str, Any] = {"text": text, "options": [], "expects": None, "photo": shown}
    if conversation_id is not None:
        payload["relay"] = {"conversation_id": conversation_id}
    connection.execute(
        insert(OUTBOX).values(
            channel=to.channel,
            chat_id=to.chat_id,
            conversation_id=None,
            inbox_id=inbox_id,
            official_id=None,
            payload=payload,
            priority=PRIORITY_REPLY,
            status="pending",
            attempts=0,
            platform_message_ids=[],
            next_attempt_at=now,
            created_at=now,
        )
    )


def first_photo(message: InboundMessage) -> Photo | None:
    """The first photo of ``message``, marked with the channel it came from (None if it has none)."""
    if not message.photos:
        return None
    photo = message.photos[0]
    return Photo(photo.ref, photo.mime_type, origin=photo.origin or message.channel)


def replied_conversation(connection: Connection, channel: str, chat_id: str, reply_to: str) -> int | None:
    """The conversation of the message to this official's chat whose platform id is ``reply_to``.

    Platform message ids are unique per chat on Telegram and per server on
    Mastodon, so the lookup is among the messages sent to that chat (the
    latest :data:`REPLY_LOOKBACK` of them; older ones are not answered by reply).
    """
    rows = connection.execute(
        select(OUTBOX.c.payload, OUTBOX.c.platform_message_ids)
        .where(
            OUTBOX.c.channel == channel,
            OUTBOX.c.chat_id == chat_id,
            OUTBOX.c.conversation_id.is_(None),
            OUTBOX.c.status == "sent",
        )
        .order_by(OUTBOX.c.id.desc())
        .limit(REPLY_LOOKBACK)
    )
    for payload, ids in rows:
        if reply_to in (ids or ()):
            relay = (payload or {}).get("relay") or {}
            number = relay.get("conversation_id")
            return int(number) if number is not None else None
    return None


@dataclass(frozen=True, slots=True)
class _About:
    """The conversation a notice is about, as officials see it."""

    conversation_id: int
    department: str
    status: str
    official_id: int | None
    resident: str
    channel: str
    text: str | None


class Relay:
    """Writes the notices of the module docstring, worded in each official's language."""

    def __init__(self, wording: Wording) -> None:
        self.wording = wording
        self.config = wording.config

    def _about(self, connection: Connection, where: Any) -> _About | None:
        row = connection.execute(
            select(
                HANDOFFS.c.conversation_id,
                HANDOFFS.c.department,
                HANDOFFS.c.status,
                HANDOFFS.c.official_id,
                HANDOFFS.c.text,
                CONVERSATIONS.c.channel,
                CONVERSATIONS.c.chat_id,
                RESIDENTS.c.display_name,
            )
            .join(CONVERSATIONS, CONVERSATIONS.c.id == HANDOFFS.c.conversation_id)
            .join(RESIDENTS, RESIDENTS.c.id == HANDOFFS.c.resident_id)
            .where(where)
            .order_by(HANDOFFS.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return _About(
            conversation_id=row.conversation_id,
            department=row.department,
            status=row.status,
            official_id=row.official_id,
            resident=row.display_name or row.chat_id,
            channel=row.channel,
            text=row.text,
        )

    def department_name(self, department: str, language: str) -> str:
        known = self.config.departments.get(department)
        return self.wording.name(known.name if known else None, language, department)

    def handoff_opened(
        self,
        connection: Connection,
        handoff_id: int,
        *,
        said: InboundMessage | None = None,
        transferred: tuple[str | None, str] | None = None,
    ) -> int:
        """Tell the department's linked officials that request ``handoff_id`` waits; returns how many were told.

        The notice quotes ``said`` (the message that led to it), else the
        request's text. ``transferred`` is (the department it comes from, or
        None for the bot; the official who passed it on): the notice then says so.
        """
        about = self._about(connection, HANDOFFS.c.id == handoff_id)
        if about is None or about.status != "waiting":
            return 0
        officials = linked(connection, department=about.department)
        for official in officials:
            text = (self.content(said, official.language) if said is not None else "") or about.text or "—"
            values: dict[str, object] = {
                "number": about.conversation_id,
                "department": self.department_name(about.department, official.language),
                "resident": about.resident,
                "channel": about.channel,
                "text": text,
            }
            key = "relay_new_handoff"
            if transferred is not None:
                origin, by = transferred
                key = "relay_transferred_handoff"
                values |= {
                    "origin": self.department_name(origin, official.language) if origin else "—",
                    "by": by,
                }
            notice = self.wording.text(key, official.language, **values)
            photo = first_photo(said) if said is not None else None
            tell(connection, official, notice, conversation_id=about.conversation_id, photo=photo)
        return len(officials)

    def handoff_withdrawn(self, connection: Connection, handoff_id: int) -> int:
        """Tell the department's linked officials that the resident withdrew request ``handoff_id``."""
        about = self._about(connection, HANDOFFS.c.id == handoff_id)
        if about is None:
            return 0
        officials = linked(connection, department=about.department)
        for official in officials:
            notice = self.wording.text(
                "relay_withdrawn", official.language, number=about.conversation_id, resident=about.resident
            )
            tell(connection, official, notice, conversation_id=about.conversation_id)
        return len(officials)

    def resident_wrote(self, connection: Connection, conversation_id: int, message: InboundMessage) -> int:
        """Relay a resident's message of a conversation in handoff; returns to how many accounts.

        Waiting: to the department's linked officials; taken: to the official
        who has it only. A conversation with no open request relays nothing.
        """
        about = self._about(
            connection,
            (HANDOFFS.c.conversation_id == conversation_id) & HANDOFFS.c.status.in_(("waiting", "taken")),
        )
        if about is None:
            return 0
        if about.status == "taken":
            if about.official_id is None:
                return 0
            officials = linked(connection, official_id=about.official_id)
        else:
            officials = linked(connection, department=about.department)
        for official in officials:
            text = self.wording.text(
                "relay_resident_says",
                official.language,
                number=conversation_id,
                resident=about.resident,
                text=self.content(message, official.language),
            )
            tell(connection, official, text, conversation_id=conversation_id, photo=first_photo(message))
        return len(officials)

    def content(self, message: InboundMessage, language: str) -> str:
        """What a resident's message holds, as text: the words, then a note per photo, place or other content."""
        parts = [message.text or message.choice or ""]
        parts.extend(self.wording.text("relay_photo", language) for _ in message.photos)
        if message.location is not None:
            latitude, longitude = message.location.latitude, message.location.longitude
            link = (
                f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=18/{latitude}/{longitude}"
            )
            parts.append(self.wording.text("relay_location", language, link=link))
        if message.unsupported:
            parts.append(self.wording.text("relay_other", language, kind=message.unsupported))
        return " ".join(part for part in parts if part)
