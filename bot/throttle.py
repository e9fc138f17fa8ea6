"""Per-chat rate limit and fair order: a resident flooding the bot waits, and nobody else does.

config.yaml's ``limits:`` lets a chat (one channel and chat id) have at
most ``messages_per_window`` inbox rows processed per ``window_seconds``,
counted from the inbox itself (``processed_at``), so every process sharing
the database sees the same count. Rows over the limit stay ``pending``, in
order, and are taken once the window moves on: nothing is dropped. The
resident is told once per burst (``slow_down`` in ``flows/messages.yaml``,
in their language).

Fairness is in the order rows are taken: :meth:`Throttle.pending` numbers
each chat's pending rows (``row_number() OVER (PARTITION BY channel,
chat_id ORDER BY id)``) and takes every chat's first row before any chat's
second, at most ``per_chat`` of one chat per batch. So a chat with 500
waiting messages delays another resident's single message by at most one
row, never by its backlog. Both SQLite (3.25+) and PostgreSQL run the same
statement; :mod:`bot.processor` and :mod:`bot.worker` both take their rows here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, or_, select, tuple_

from bot.config import LimitSettings
from bot.handoff import MODE_OFFICIAL
from bot.notices import Wording
from bot.outbox import Reply, enqueue
from models import Conversation, ConversationLease, InboxItem, OutboxItem

__all__ = ["SLOW_DOWN", "UNTHROTTLED", "Throttle", "processed_in_window"]

log = logging.getLogger(__name__)

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
LEASES = ConversationLease.__table__  # type: ignore[attr-defined]

SLOW_DOWN = "slow_down"
"""The message key (and the outbox payload's ``notice``) of the one notice a flooding resident gets."""

UNTHROTTLED = LimitSettings(messages_per_window=1_000_000_000, window_seconds=1)
"""No rate limit (fair order only): for runners that play a resident typing instantly (``plaza flows test``)."""

_ROW_COLUMNS = ("id", "channel", "chat_id", "platform_message_id", "payload", "attempts")


def with_an_official(channel: ColumnElement[Any], chat_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether the chat's conversation is with an official: its messages only go to them (saved and
    relayed, no bot step), so they are not held back, and the bot never tells that chat anything."""
    return (
        select(CONVERSATIONS.c.id)
        .where(
            CONVERSATIONS.c.channel == channel,
            CONVERSATIONS.c.chat_id == chat_id,
            CONVERSATIONS.c.mode == MODE_OFFICIAL,
        )
        .exists()
    )


def processed_in_window(channel: ColumnElement[Any], chat_id: ColumnElement[Any]) -> ColumnElement[int]:
    """How many rows of the chat ``(channel, chat_id)`` were processed since ``:cutoff`` (a scalar subquery)."""
    done = INBOX.alias("done")
    return (
        select(func.count())
        .select_from(done)
        .where(done.c.channel == channel, done.c.chat_id == chat_id, done.c.processed_at >= bindparam("cutoff"))
        .scalar_subquery()
    )


class Throttle:
    """Takes pending inbox rows fairly and within each chat's limit; tells a flooding resident once."""

    def __init__(self, limits: LimitSettings, wording: Callable[[], Wording] | None = None) -> None:
        self.limits = limits
        self.wording = wording

    def cutoff(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) - timedelta(seconds=self.limits.window_seconds)

    def pending(
        self,
        connection: Connection,
        channels: Sequence[str],
        *,
        limit: int,
        per_chat: int,
        chats: Sequence[tuple[str, str]] | None = None,
    ) -> Sequence[Any]:
        """Up to ``limit`` pending rows: each chat's oldest first, round-robin, none over a chat's limit.

        The rows of one chat come in id order; a chat that used its window's
        allowance contributes none. ``chats`` restricts it to those chats (a
        worker's claims).
        """
        ranked_where = [INBOX.c.status == "pending", INBOX.c.channel.in_(list(channels))]
        if chats is not None:
            ranked_where.append(tuple_(INBOX.c.channel, INBOX.c.chat_id).in_(list(chats)))
        ranked = (
            select(
                *(INBOX.c[name] for name in _ROW_COLUMNS),
                func.row_number()
                .over(partition_by=(INBOX.c.channel, INBOX.c.chat_id), order_by=INBOX.c.id)
                .label("rn"),
            )
            .where(*ranked_where)
            .subquery("ranked")
        )
        used = processed_in_window(ranked.c.channel, ranked.c.chat_id)
        statement = (
            select(*(ranked.c[name] for name in _ROW_COLUMNS))
            .where(
                ranked.c.rn <= per_chat,
                or_(
                    ranked.c.rn <= self.limits.messages_per_window - used,
                    with_an_official(ranked.c.channel, ranked.c.chat_id),
                ),
            )
            .order_by(ranked.c.rn, ranked.c.id)
            .limit(limit)
        )
        return connection.execute(statement, {"cutoff": self.cutoff()}).all()

    def over_limit(
        self, connection: Connection, chats: Iterable[tuple[str, str]] | None, channels: Sequence[str] = ()
    ) -> list[tuple[str, str]]:
        """Those of ``chats`` (None: every chat of ``channels``) that used their window's allowance and
        still have messages waiting."""
        where = [INBOX.c.status == "pending"]
        if chats is None:
            where.append(INBOX.c.channel.in_(list(channels)))
        else:
            keys = sorted(set(chats))
            if not keys:
                return []
            where.append(tuple_(INBOX.c.channel, INBOX.c.chat_id).in_(keys))
        waiting = (
            select(INBOX.c.channel, INBOX.c.chat_id)
            .where(*where)
            .group_by(INBOX.c.channel, INBOX.c.chat_id)
            .subquery("waiting")
        )
        used = processed_in_window(waiting.c.channel, waiting.c.chat_id)
        rows = connection.execute(
            select(waiting.c.channel, waiting.c.chat_id).where(
                used >= self.limits.messages_per_window, ~with_an_official(waiting.c.channel, waiting.c.chat_id)
            ),
            {"cutoff": self.cutoff()},
        ).all()
        return [(row.channel, row.chat_id) for row in rows]

    def tell_flooders(
        self, connection: Connection, chats: Iterable[tuple[str, str]] | None, channels: Sequence[str] = ()
    ) -> int:
        """Write the ``slow_down`` notice to each of ``chats`` over its limit and not yet told this burst.

        ``chats`` None: every chat of ``channels`` (a processor with nothing
        left to take now calls it so, for a chat whose messages arrived after
        it used its allowance). A burst is told once: no notice goes out if one
        was written since the chat's oldest waiting message arrived (less a
        window); on PostgreSQL the chat's lease row is locked first, so two
        workers cannot both tell it. Runs in the caller's transaction. Returns
        how many notices were written.
        """
        if self.wording is None:
            return 0
        wording = self.wording()
        told = 0
        for channel, chat_id in self.over_limit(connection, chats, channels):
            savepoint = connection.begin_nested()
            try:
                told += self._tell(connection, wording, channel, chat_id)
                savepoint.commit()
            except Exception:
                # a notice must never hold up the steps it rides with: theirs commit, this one is skipped
                savepoint.rollback()
                log.exception("telling %s chat %s to slow down failed", channel, chat_id)
        return told

    def _tell(self, connection: Connection, wording: Wording, channel: str, chat_id: str) -> int:
        if connection.dialect.name == "postgresql":
            connection.execute(
                select(LEASES.c.fence).where(LEASES.c.channel == channel, LEASES.c.chat_id == chat_id).with_for_update()
            ).first()
        oldest = connection.execute(
            select(func.min(INBOX.c.received_at)).where(
                INBOX.c.channel == channel, INBOX.c.chat_id == chat_id, INBOX.c.status == "pending"
            )
        ).scalar_one()
        since = (oldest or datetime.now(UTC)) - timedelta(seconds=self.limits.window_seconds)
        if self._told_since(connection, channel, chat_id, since):
            return 0
        # locked: a takeover (which moves the conversation's version) either comes first and is seen
        # here, or waits for this notice and cancels it with the bot's other pending replies
        conversation = connection.execute(
            select(CONVERSATIONS.c.id, CONVERSATIONS.c.language, CONVERSATIONS.c.mode)
            .where(CONVERSATIONS.c.channel == channel, CONVERSATIONS.c.chat_id == chat_id)
            .with_for_update()
        ).first()
        if conversation is not None and conversation.mode == MODE_OFFICIAL:
            return 0  # an official has the conversation: the bot says nothing, not even this
        language = conversation.language if conversation is not None else wording.config.default_language
        enqueue(
            connection,
            channel=channel,
            chat_id=chat_id,
            conversation_id=conversation.id if conversation is not None else None,
            replies=[Reply(text=wording.text(SLOW_DOWN, language), notice=SLOW_DOWN)],
        )
        return 1

    @staticmethod
    def _told_since(connection: Connection, channel: str, chat_id: str, since: datetime) -> bool:
        payloads = connection.execute(
            select(OUTBOX.c.payload).where(
                and_(
                    OUTBOX.c.channel == channel,
                    OUTBOX.c.chat_id == chat_id,
                    OUTBOX.c.created_at >= since,
                    OUTBOX.c.official_id.is_(None),
                    OUTBOX.c.inbox_id.is_(None),
                )
            )
        ).scalars()
        return any(isinstance(payload, dict) and payload.get("notice") == SLOW_DOWN for payload in payloads)
