"""Conversation tests as "push a message, pop the replies" (after errbot's testbot).

The driver uses the real inbox, processor (one batch, in this thread), engine
and outbox tables; it only stands in for a channel by reading the pending
outbox rows of its chat and marking them sent, as a dispatcher would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update

from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.inbox import Upload, accept
from bot.messages import InboundMessage, Location, OutboundMessage, Photo
from bot.outbox import outbound_of
from bot.processor import Processor
from bot.throttle import UNTHROTTLED
from models import OutboxItem
from models.db import Database

OUTBOX = OutboxItem.__table__


@dataclass
class Bot:
    """The engine of one town over one database, without threads."""

    config: Config
    database: Database
    catalog: FlowCatalog = field(init=False)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = FlowCatalog(self.config, self.database.writer)
        self.engine = Engine(self.config, self.catalog)

    def processor(self, channels: tuple[str, ...] = ("test",)) -> Processor:
        return Processor(self.database.writer, self.engine, channels, limits=UNTHROTTLED)  # residents type instantly

    def chat(self, chat_id: str = "alice", channel: str = "test", language: str | None = "es") -> Chat:
        return Chat(self, chat_id, channel, language)


@dataclass
class Chat:
    bot: Bot
    chat_id: str
    channel: str
    language: str | None

    def message(
        self,
        text: str | None = None,
        *,
        choice: str | None = None,
        location: Location | None = None,
        photos: tuple[Photo, ...] = (),
        unsupported: str | None = None,
        message_id: str | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            channel=self.channel,
            platform_message_id=message_id or str(uuid.uuid4()),
            sender_id=self.chat_id,
            chat_id=self.chat_id,
            sent_at=datetime.now(UTC),
            text=text,
            choice=choice,
            photos=photos,
            location=location,
            language=self.language,
            unsupported=unsupported,
        )

    def send(
        self, text: str | None = None, *, uploads: list[Upload] | None = None, **kwargs: object
    ) -> list[OutboundMessage]:
        """Send one message and return the bot's replies to it (marked sent)."""
        message = self.message(text, **kwargs)  # type: ignore[arg-type]
        accept(self.bot.database.writer, [message], [uploads] if uploads else None)
        return self.process()

    def process(self) -> list[OutboundMessage]:
        processor = self.bot.processor((self.channel,))
        while processor.run_once():
            pass
        return self.pop()

    def pop(self) -> list[OutboundMessage]:
        with self.bot.database.writer.begin() as connection:
            rows = connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload)
                .where(OUTBOX.c.channel == self.channel, OUTBOX.c.chat_id == self.chat_id, OUTBOX.c.status == "pending")
                .order_by(OUTBOX.c.id)
            ).all()
            if rows:
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_([r.id for r in rows]))
                    .values(status="sent", sent_at=datetime.now(UTC))
                )
        return [outbound_of(row) for row in rows]

    def say(self, text: str | None = None, **kwargs: object) -> str:
        """Send and return the replies' text joined, for readable assertions."""
        return "\n".join(reply.text for reply in self.send(text, **kwargs))
