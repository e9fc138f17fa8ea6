"""Officials on their own messenger, for relay tests over the real inbox, engine and outbox.

A :class:`Desk` adds officials (rows, as ``plaza officials add`` would), links
their account with :func:`bot.relay_links.link_account`, and lets them write
(optionally replying to a message they got). What the bot sends them is read
from the outbox and marked sent with platform ids, as a dispatcher would, so
that replies to those ids map back like on a real platform.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from bot.inbox import accept
from bot.messages import InboundMessage
from bot.relay_links import link_account
from models import HandoffRequest, Official, OutboxItem
from tests.support.driver import Bot, Chat

OUTBOX = OutboxItem.__table__
OFFICIALS = Official.__table__
HANDOFFS = HandoffRequest.__table__
CHANNEL = "telegram"


@dataclass(frozen=True)
class Got:
    """A message an official got: its platform id, text, and the conversation it is about (if any)."""

    platform_id: str
    text: str
    about: int | None


@dataclass
class Member:
    """One official with a linked account."""

    desk: Desk
    id: int
    username: str
    user_id: str

    def message(
        self, text: str | None, *, reply_to: str | None = None, message_id: str | None = None
    ) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            platform_message_id=message_id or str(uuid.uuid4()),
            sender_id=self.user_id,
            chat_id=self.user_id,
            sent_at=datetime.now(UTC),
            text=text,
            reply_to=reply_to,
            sender_name=self.username,
        )

    def send(self, text: str | None, *, reply_to: str | None = None, message_id: str | None = None) -> list[Got]:
        """Write to the bot (replying to ``reply_to``); returns what the bot sent this official meanwhile."""
        accept(self.desk.bot.database.writer, [self.message(text, reply_to=reply_to, message_id=message_id)])
        self.desk.process()
        return self.inbox()

    def reply(self, got: Got, text: str) -> list[Got]:
        return self.send(text, reply_to=got.platform_id)

    def inbox(self) -> list[Got]:
        """What the bot sent this official and nobody read yet (marked sent, with platform ids)."""
        return self.desk.deliver(self.user_id)


class Desk:
    """Officials and residents of one town on the ``telegram`` channel (the driver stands in for the dispatcher)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._ids = itertools.count(1000)

    def official(
        self, username: str, department: str, *, role: str = "official", language: str = "es", name: str | None = None
    ) -> Member:
        user_id = str(700_000 + len(username) * 1000 + next(self._ids))
        with self.bot.database.writer.begin() as connection:
            official_id = connection.execute(
                insert(OFFICIALS)
                .values(
                    username=username,
                    name=name or username.capitalize(),
                    department=department,
                    role=role,
                    password_hash="not-a-hash",
                    language=language,
                    disabled=False,
                    created_at=datetime.now(UTC),
                )
                .returning(OFFICIALS.c.id)
            ).scalar_one()
            link_account(connection, username, CHANNEL, user_id)
        return Member(self, int(official_id), username, user_id)

    def resident(self, chat_id: str, language: str = "es") -> Chat:
        return self.bot.chat(chat_id, channel=CHANNEL, language=language)

    def process(self) -> None:
        processor = self.bot.processor((CHANNEL,))
        while processor.run_once():
            pass

    def deliver(self, chat_id: str) -> list[Got]:
        with self.bot.database.writer.begin() as connection:
            rows = connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.payload)
                .where(OUTBOX.c.channel == CHANNEL, OUTBOX.c.chat_id == chat_id, OUTBOX.c.status == "pending")
                .order_by(OUTBOX.c.id)
            ).all()
            got = []
            for row in rows:
                platform_id = f"tg-{row.id}"
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == row.id)
                    .values(status="sent", sent_at=datetime.now(UTC), platform_message_ids=[platform_id])
                )
                relay = (row.payload or {}).get("relay") or {}
                got.append(Got(platform_id, row.payload["text"], relay.get("conversation_id")))
        return got

    def handoff(self, conversation_id: int) -> dict[str, Any]:
        with self.bot.database.writer.begin() as connection:
            row = connection.execute(
                select(HANDOFFS).where(HANDOFFS.c.conversation_id == conversation_id).order_by(HANDOFFS.c.id.desc())
            ).first()
        assert row is not None
        return dict(row._mapping)


def ask_for(chat: Chat, department: str, text: str) -> str:
    """The resident goes through talk_to to ``department`` (its label), saying ``text``."""
    chat.say("hablar con una persona")
    chat.say("con un departamento")
    chat.say(department)
    return chat.say(text)
