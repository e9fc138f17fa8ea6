"""One step of one conversation for one inbound message, in the caller's transaction.

:meth:`Engine.step` claims an inbox row (``UPDATE ... WHERE status =
'pending'``: a row already processed, by this or another process, is skipped),
finds or creates the resident and conversation, runs the flow's state machine
for the message, runs the actions of the states it enters, and writes the new
state and the replies (outbox rows). All of it happens in the connection's
transaction: the caller commits it whole or rolls it whole back, so state,
side effects and replies are never separated.

The engine's turn logic (global words, answers, entering states) is in
:class:`Turn`; this module keeps the storage side.

A message from an official's linked messenger account is never a resident's:
:mod:`bot.relay_commands` handles it (a reply to a relayed handoff, or a
command) in the same step and transaction. A resident's message in a
conversation in handoff (``waiting`` or ``official``) is relayed to the
officials concerned (:mod:`bot.relay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, select, update

from bot import handoff
from bot.catalog import FlowCatalog, flow_context
from bot.config import Config
from bot.errors import PlazaError
from bot.handoff import MODE_BOT, MODE_OFFICIAL, MODE_WAITING
from bot.inbox import message_from_payload
from bot.messages import InboundMessage
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from bot.relay import Relay, official_of, tell
from bot.relay_commands import OfficialMessages
from bot.secretkey import SecretKeys
from bot.turn import Turn
from models import ChannelIdentity, Conversation, InboxItem, Resident
from models.rawsql import RawStatement, db_json, db_time, from_db_json, raw_insert

__all__ = ["ConversationState", "Engine", "StaleConversation"]

log = logging.getLogger(__name__)

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]

# The hot path's statements: written once in Core, run on the driver (models.rawsql).
_CLAIM = RawStatement(
    update(INBOX)
    .where(INBOX.c.id == bindparam("inbox_id"), INBOX.c.status == "pending")
    .values(status="done", processed_at=bindparam("now"), attempts=INBOX.c.attempts + 1)
)
_FIND_CONVERSATION = RawStatement(
    select(
        CONVERSATIONS.c.id,
        CONVERSATIONS.c.resident_id,
        CONVERSATIONS.c.flow,
        CONVERSATIONS.c.flow_version,
        CONVERSATIONS.c.state,
        CONVERSATIONS.c.language,
        CONVERSATIONS.c.version,
        CONVERSATIONS.c.data,
        RESIDENTS.c.verified,
        CONVERSATIONS.c.mode,
        IDENTITIES.c.resident_id,
    )
    .join(RESIDENTS, RESIDENTS.c.id == CONVERSATIONS.c.resident_id)
    # the sender's own account: only the resident's own (linked) account speaks for a verified resident
    .outerjoin(
        IDENTITIES,
        and_(IDENTITIES.c.channel == CONVERSATIONS.c.channel, IDENTITIES.c.platform_user_id == bindparam("sender_id")),
    )
    .where(CONVERSATIONS.c.channel == bindparam("channel"), CONVERSATIONS.c.chat_id == bindparam("chat_id"))
)
_FIND_IDENTITY = RawStatement(
    select(IDENTITIES.c.resident_id, RESIDENTS.c.verified)
    .join(RESIDENTS, RESIDENTS.c.id == IDENTITIES.c.resident_id)
    .where(IDENTITIES.c.channel == bindparam("channel"), IDENTITIES.c.platform_user_id == bindparam("sender_id"))
)
_NEW_RESIDENT = raw_insert(RESIDENTS, ("display_name", "language", "verified", "created_at"), returning="id")
_NEW_IDENTITY = raw_insert(
    IDENTITIES, ("channel", "platform_user_id", "resident_id", "display_name", "verified", "created_at")
)
_NEW_CONVERSATION = raw_insert(
    CONVERSATIONS,
    (
        "channel",
        "chat_id",
        "resident_id",
        "flow",
        "flow_version",
        "state",
        "data",
        "language",
        "mode",
        "version",
        "created_at",
        "updated_at",
    ),
    returning="id",
)
_SAVE_CONVERSATION = RawStatement(
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"), CONVERSATIONS.c.version == bindparam("seen"))
    .values(
        flow=bindparam("flow"),
        flow_version=bindparam("flow_version"),
        state=bindparam("state"),
        data=bindparam("data"),
        language=bindparam("language"),
        version=bindparam("seen") + 1,
        updated_at=bindparam("now"),
    )
)


class StaleConversation(PlazaError):
    """Another writer moved the conversation first; the step must be retried."""


@dataclass(slots=True)
class ConversationState:
    """The conversation row as the engine works on it (a plain object, not a table row)."""

    id: int
    channel: str
    chat_id: str
    resident_id: int
    flow: str
    flow_version: str
    state: str
    language: str
    version: int
    verified: bool
    data: dict[str, Any] = field(default_factory=dict)
    new: bool = False
    mode: str = MODE_BOT


class Engine:
    """Runs steps; one instance is shared by every conversation."""

    def __init__(self, config: Config, catalog: FlowCatalog, today: Callable[[], date] | None = None) -> None:
        self.config = config
        self.catalog = catalog
        self.option_sources = flow_context(config).option_sources
        self.secrets = SecretKeys(config)  # read (or made) on first use: verification codes
        self._today = today or (lambda: datetime.now(UTC).date())

    def today(self) -> date:
        return self._today()

    def step(self, connection: Connection, item: Row[Any]) -> bool:
        """Process inbox row ``item`` (id, channel, platform_message_id, payload).

        Returns False when the row was already processed. Raises on failure,
        leaving the rollback to the caller.
        """
        now = datetime.now(UTC)
        claimed = _CLAIM.run(connection, {"inbox_id": item.id, "now": db_time(connection, now)}).rowcount
        if claimed != 1:
            return False
        message = message_from_payload(item.channel, item.platform_message_id, item.payload)
        official = official_of(connection, message.channel, message.sender_id)
        if official is not None:
            # An official's linked account: a reply to a resident or a command, never a resident's message.
            OfficialMessages(self.wording()).handle(connection, official, message, inbox_id=item.id)
            return True
        conversation = self._conversation(connection, message, now)
        if conversation.mode == MODE_OFFICIAL:
            # An official has the conversation: the bot says nothing. The save still moves the
            # version, so this step is ordered with the official's take, release and resolve.
            self._save(connection, conversation, now)
            Relay(self.wording()).resident_wrote(connection, conversation.id, message)
            return True
        waiting = conversation.mode == MODE_WAITING
        turn = Turn(self, connection, conversation)
        turn.handle(message)
        self._save(connection, conversation, now)
        if waiting:
            Relay(self.wording()).resident_wrote(connection, conversation.id, message)
        enqueue(
            connection,
            channel=conversation.channel,
            chat_id=conversation.chat_id,
            replies=turn.replies,
            conversation_id=conversation.id,
            inbox_id=item.id,
        )
        return True

    def wording(self) -> Wording:
        """The bot's wording outside a turn (flows/messages.yaml, as the catalog loaded it)."""
        return Wording(self.config, self.catalog.snapshot.flows.messages)

    def fail(self, connection: Connection, item: Row[Any], error: BaseException, *, final: bool) -> None:
        """Record a failed step; when ``final``, give up on the row and apologize to the resident."""
        text = f"{type(error).__name__}: {error}"[:2000]
        values: dict[str, Any] = {"attempts": INBOX.c.attempts + 1, "error": text}
        if final:
            values |= {"status": "failed", "processed_at": datetime.now(UTC)}
        connection.execute(update(INBOX).where(INBOX.c.id == item.id, INBOX.c.status == "pending").values(**values))
        official = official_of(connection, item.channel, str(item.payload["sender_id"])) if final else None
        if official is not None:  # an official's message: apologize to them; no resident conversation is involved
            wording = self.wording()
            tell(connection, official, wording.text("error_apology", official.language), inbox_id=item.id)
            return
        if final:
            language = self.config.language_for((item.payload or {}).get("language"))
            row = connection.execute(
                select(CONVERSATIONS.c.id, CONVERSATIONS.c.language, CONVERSATIONS.c.resident_id).where(
                    CONVERSATIONS.c.channel == item.channel, CONVERSATIONS.c.chat_id == item.payload["chat_id"]
                )
            ).first()
            if row is not None:
                language = row.language
            wording = self.wording()
            apology = wording.text("error_apology", language)
            if row is not None:
                apology = (
                    self._hand_over_failure(connection, wording, item, row.id, row.resident_id, language) or apology
                )
            enqueue(
                connection,
                channel=item.channel,
                chat_id=str(item.payload["chat_id"]),
                replies=[Reply(text=apology)],
                conversation_id=row.id if row is not None else None,
                inbox_id=item.id,
            )

    def _hand_over_failure(
        self,
        connection: Connection,
        wording: Wording,
        item: Row[Any],
        conversation_id: int,
        resident_id: int,
        language: str,
    ) -> str | None:
        """Put a conversation the bot failed in ``handoff.failures``'s queue; the apology that says so, or None."""
        department = self.config.handoff.failures
        if department is None or handoff.current(connection, conversation_id) is not None:
            return None
        handoff.open_handoff(
            connection,
            conversation_id=conversation_id,
            resident_id=resident_id,
            channel=item.channel,
            chat_id=str(item.payload["chat_id"]),
            department=department,
            language=language,
            text="the bot could not handle a message",
            notify=Relay(wording),
            said=message_from_payload(item.channel, item.platform_message_id, item.payload),
        )
        to = wording.name(self.config.departments[department].name, language, department)
        return wording.text("error_handed_over", language, to=to)

    def _conversation(self, connection: Connection, message: InboundMessage, now: datetime) -> ConversationState:
        row = _FIND_CONVERSATION.run(
            connection, {"channel": message.channel, "chat_id": message.chat_id, "sender_id": message.sender_id}
        ).fetchone()
        if row is not None:
            conversation_id, resident_id, flow, flow_version, state, language, version, data, verified, mode = row[:10]
            owner = row[10]
            verified = verified and owner == resident_id
            return ConversationState(
                id=conversation_id,
                channel=message.channel,
                chat_id=message.chat_id,
                resident_id=resident_id,
                flow=flow,
                flow_version=flow_version,
                state=state,
                language=language,
                version=version,
                verified=bool(verified),
                data=dict(from_db_json(data) or {}),
                mode=mode,
            )
        language = self.config.language_for(message.language)
        resident_id, verified = self._resident(connection, message, language, now)
        main = self.catalog.main
        stamp = db_time(connection, now)
        conversation_id = _NEW_CONVERSATION.run(
            connection,
            {
                "channel": message.channel,
                "chat_id": message.chat_id,
                "resident_id": resident_id,
                "flow": main.name,
                "flow_version": main.version,
                "state": main.flow.start,
                "data": db_json(connection, {}),
                "language": language,
                "mode": "bot",
                "version": 0,
                "created_at": stamp,
                "updated_at": stamp,
            },
        ).fetchone()[0]
        return ConversationState(
            id=conversation_id,
            channel=message.channel,
            chat_id=message.chat_id,
            resident_id=resident_id,
            flow=main.name,
            flow_version=main.version,
            state=main.flow.start,
            language=language,
            version=0,
            verified=verified,
            data={},
            new=True,
        )

    def _resident(
        self, connection: Connection, message: InboundMessage, language: str, now: datetime
    ) -> tuple[int, bool]:
        found = _FIND_IDENTITY.run(connection, {"channel": message.channel, "sender_id": message.sender_id}).fetchone()
        if found is not None:
            return int(found[0]), bool(found[1])
        stamp = db_time(connection, now)
        resident_id = _NEW_RESIDENT.run(
            connection,
            {"display_name": message.sender_name, "language": language, "verified": False, "created_at": stamp},
        ).fetchone()[0]
        _NEW_IDENTITY.run(
            connection,
            {
                "channel": message.channel,
                "platform_user_id": message.sender_id,
                "resident_id": resident_id,
                "display_name": message.sender_name,
                "verified": False,
                "created_at": stamp,
            },
        )
        return int(resident_id), False

    def _save(self, connection: Connection, conversation: ConversationState, now: datetime) -> None:
        result = _SAVE_CONVERSATION.run(
            connection,
            {
                "conversation_id": conversation.id,
                "seen": conversation.version,
                "flow": conversation.flow,
                "flow_version": conversation.flow_version,
                "state": conversation.state,
                "data": db_json(connection, conversation.data),
                "language": conversation.language,
                "now": db_time(connection, now),
            },
        )
        if result.rowcount != 1:
            raise StaleConversation(f"conversation {conversation.id} changed under this step")
        conversation.version += 1
