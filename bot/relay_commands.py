"""What an official writes from a linked messenger account: a reply to a resident, or a short command.

The engine hands every inbound message from a linked official account
(:func:`bot.relay.official_of`) to :meth:`OfficialMessages.handle`, in the step's
transaction (after the inbox row was claimed, so a redelivered update does
nothing twice); it never becomes a resident's message. It is:

- a **command**: ``/take N``, ``/release N``, ``/resolve N``, ``/queue``,
  ``/reply N text`` and ``/help``, or their words in ``flows/messages.yaml``
  (``tomar``, ``liberar``, ``resolver``, ``cola``, ``responder``, ``ayuda``), in
  any of the town's languages, with or without the slash. ``N`` is the number
  after ``#`` in relayed messages; a command sent as a reply to one of them
  may leave it out. A command is the word alone or followed by a number, so
  a reply that merely starts with one of the words is still a reply (but
  anything that starts with ``/`` is taken as a command, and an unknown or
  malformed one gets the help, never reaches a resident);
- a **reply** to a relayed message (the platform's reply-to, mapped by
  :func:`bot.relay.replied_conversation`): sent to the resident as
  :meth:`Handoffs.reply` by that official, who takes the conversation over if
  they had not. A photo (a before/after picture) goes with it, its caption
  as the words; the resident gets it as a photo on their own channel.

Confirmations and refusals (another department's conversation, one another
official has) go back to the official through the outbox, in their language.
A refused action changes nothing: it runs in a savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from bot.errors import Conflict, NotAllowed, NotFound
from bot.handoff import Handoffs, current
from bot.messages import InboundMessage
from bot.notices import Wording
from bot.relay import Linked, Relay, first_photo, replied_conversation, tell
from bot.words import normalize
from models import Conversation, HandoffRequest, Official, Resident

__all__ = ["COMMANDS", "MAX_REPLY", "OfficialMessages", "Order"]

HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
OFFICIALS = Official.__table__  # type: ignore[attr-defined]

COMMANDS = ("take", "release", "resolve", "queue", "reply", "help")
"""The commands; each one's words are ``relay_word_<command>`` in messages.yaml (comma-separated)."""
MAX_REPLY = 4000
QUEUE_LENGTH = 20


@dataclass(frozen=True, slots=True)
class Order:
    """A parsed command: its name, the conversation number if given, the text of ``reply``."""

    command: str
    number: int | None = None
    text: str = ""


def _number(text: str) -> int | None:
    word = text.strip().lstrip("#")
    return int(word) if word.isdigit() else None


class OfficialMessages:
    """Handles official accounts' messages for one town's wording."""

    def __init__(self, wording: Wording) -> None:
        self.wording = wording
        self.handoffs = Handoffs(wording)
        self.relay = Relay(wording)
        self.words: dict[str, str] = {}
        for command in COMMANDS:
            for text in wording.messages[f"relay_word_{command}"].values():
                for word in text.split(","):
                    if normalize(word):
                        self.words[normalize(word)] = command

    def parse(self, text: str | None) -> Order | None:
        """The command ``text`` is, or None when it is not one (then it is a reply)."""
        if not text or not text.strip():
            return None
        head, _, rest = text.strip().partition(" ")
        slash = head.startswith("/")  # meant as a command: never passed on to a resident
        head = head.lstrip("/").split("@", 1)[0]  # Telegram writes /take@JunBot in groups
        command = self.words.get(normalize(head)) if head else None
        if command is None:
            return Order("help") if slash else None
        if command == "reply":
            first, _, body = rest.strip().partition(" ")
            number = _number(first)
            if number is None:
                return Order("reply", None, rest.strip())
            return Order("reply", number, body.strip())
        if not rest.strip():
            return Order(command)
        number = _number(rest)
        if number is None:
            return Order("help") if slash else None
        return Order(command, number)

    def handle(self, connection: Connection, official: Linked, message: InboundMessage, *, inbox_id: int) -> None:
        """Act on one message from ``official``'s account (see the module docstring)."""
        here = replace(official, chat_id=message.chat_id)  # answer where they wrote
        order = self.parse(message.text)
        replied = (
            replied_conversation(connection, message.channel, message.chat_id, message.reply_to)
            if message.reply_to
            else None
        )
        if order is None:
            if replied is None:
                self._say(connection, here, "relay_no_conversation" if message.reply_to else "relay_help", inbox_id)
            else:
                self._reply(connection, here, replied, message.text or "", message, inbox_id)
            return
        if order.command == "help":
            self._say(connection, here, "relay_help", inbox_id)
            return
        if order.command == "queue":
            self._queue(connection, here, inbox_id)
            return
        number = order.number if order.number is not None else replied
        if number is None:
            self._say(connection, here, "relay_which", inbox_id)
        elif order.command == "reply":
            self._reply(connection, here, number, order.text, None, inbox_id)
        elif order.command == "take":
            self._take(connection, here, number, inbox_id)
        else:
            self._close(connection, here, number, order.command, inbox_id)

    # -- the actions ---------------------------------------------------------------

    def _take(self, connection: Connection, official: Linked, number: int, inbox_id: int) -> None:
        try:
            with connection.begin_nested():
                self.handoffs.take(connection, official.actor(), number)
        except NotFound:
            self._say(connection, official, "relay_not_found", inbox_id, number=number)
        except (Conflict, NotAllowed):
            self._taken_by_other(connection, official, number, inbox_id)
        else:
            self._say(connection, official, "relay_taken", inbox_id, number=number, about=number)

    def _close(self, connection: Connection, official: Linked, number: int, command: str, inbox_id: int) -> None:
        try:
            with connection.begin_nested():
                if command == "release":
                    self.handoffs.release(connection, official.actor(), number)
                else:
                    self.handoffs.resolve(connection, official.actor(), number)
        except NotFound:
            self._say(connection, official, "relay_not_found", inbox_id, number=number)
        except Conflict:
            self._say(connection, official, "relay_already_bot", inbox_id, number=number, about=number)
        except NotAllowed:
            self._taken_by_other(connection, official, number, inbox_id)
        else:
            key = "relay_released" if command == "release" else "relay_resolved"
            self._say(connection, official, key, inbox_id, number=number, about=number)

    def _reply(
        self,
        connection: Connection,
        official: Linked,
        number: int,
        text: str,
        message: InboundMessage | None,
        inbox_id: int,
    ) -> None:
        body = text.strip()
        photo = first_photo(message) if message is not None else None  # Telegram sends one photo per message
        if not body and photo is None:
            key = "relay_text_only" if message is not None and message.location else "relay_empty"
            self._say(connection, official, key, inbox_id, number=number, about=number)
            return
        if len(body) > MAX_REPLY:
            self._say(connection, official, "relay_too_long", inbox_id, number=number, length=len(body), most=MAX_REPLY)
            return
        handoff = current(connection, number)
        had_it = handoff is not None and handoff.status == "taken" and handoff.official_id == official.official_id
        try:
            with connection.begin_nested():
                self.handoffs.reply(connection, official.actor(), number, body, photo=photo)
        except NotFound:
            self._say(connection, official, "relay_not_found", inbox_id, number=number)
        except (Conflict, NotAllowed):
            self._taken_by_other(connection, official, number, inbox_id)
        else:
            if not had_it:  # the reply took the conversation over: say so, with what to do next
                self._say(connection, official, "relay_taken", inbox_id, number=number, about=number)

    def _queue(self, connection: Connection, official: Linked, inbox_id: int) -> None:
        actor = official.actor()
        query = (
            select(
                HANDOFFS.c.conversation_id,
                HANDOFFS.c.department,
                HANDOFFS.c.status,
                HANDOFFS.c.created_at,
                CONVERSATIONS.c.chat_id,
                RESIDENTS.c.display_name,
            )
            .join(CONVERSATIONS, CONVERSATIONS.c.id == HANDOFFS.c.conversation_id)
            .join(RESIDENTS, RESIDENTS.c.id == HANDOFFS.c.resident_id)
            .where(
                (HANDOFFS.c.status == "waiting")
                | ((HANDOFFS.c.status == "taken") & (HANDOFFS.c.official_id == official.official_id))
            )
            .order_by(HANDOFFS.c.created_at, HANDOFFS.c.id)
        )
        if not actor.everywhere:
            query = query.where(HANDOFFS.c.department == official.department)
        rows = connection.execute(query.limit(QUEUE_LENGTH)).all()
        if not rows:
            self._say(connection, official, "relay_queue_empty", inbox_id)
            return
        now = datetime.now(UTC)
        lines = []
        for row in rows:
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            lines.append(
                self.wording.text(
                    "relay_queue_yours" if row.status == "taken" else "relay_queue_waiting",
                    official.language,
                    number=row.conversation_id,
                    department=self.relay.department_name(row.department, official.language),
                    resident=row.display_name or row.chat_id,
                    minutes=max(0, int((now - created).total_seconds() // 60)),
                )
            )
        header = self.wording.text("relay_queue", official.language)
        tell(connection, official, "\n".join([header, *lines]), inbox_id=inbox_id)

    # -- answering the official ----------------------------------------------------------

    def _taken_by_other(self, connection: Connection, official: Linked, number: int, inbox_id: int) -> None:
        handoff = current(connection, number)
        name = None
        if handoff is not None and handoff.official_id is not None:
            name = connection.execute(
                select(OFFICIALS.c.name).where(OFFICIALS.c.id == handoff.official_id)
            ).scalar_one_or_none()
        self._say(connection, official, "relay_taken_by_other", inbox_id, number=number, name=name or "?")

    def _say(
        self,
        connection: Connection,
        official: Linked,
        key: str,
        inbox_id: int,
        *,
        about: int | None = None,
        **values: object,
    ) -> None:
        text = self.wording.text(key, official.language, **values)
        tell(connection, official, text, conversation_id=about, inbox_id=inbox_id)
