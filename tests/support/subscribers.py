"""Subscribers in bulk for broadcast tests: residents and their subscriptions, written with Core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from models import OutboxItem, Resident, Subscription

RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


def add_subscribers(
    engine: Engine,
    count: int,
    *,
    topic: str = "news",
    channel: str = "web",
    languages: Sequence[str] = ("es", "en"),
    prefix: str = "chat",
    start: int = 0,
    chat_ids: Sequence[str] | None = None,
) -> list[str]:
    """``count`` residents subscribed to ``topic`` on ``channel``, languages in turn; returns their chat ids.

    The chat ids are ``prefix-000000``, ``prefix-000001``... unless ``chat_ids`` names them.
    """
    now = datetime.now(UTC)
    chats = list(chat_ids) if chat_ids is not None else [f"{prefix}-{start + n:06d}" for n in range(count)]
    count = len(chats)
    with engine.begin() as connection:
        first = connection.execute(select(RESIDENTS.c.id).order_by(RESIDENTS.c.id.desc()).limit(1)).scalar() or 0
        connection.execute(
            insert(RESIDENTS),
            [
                {"id": first + 1 + n, "language": languages[n % len(languages)], "verified": False, "created_at": now}
                for n in range(count)
            ],
        )
        connection.execute(
            insert(SUBSCRIPTIONS),
            [
                {"resident_id": first + 1 + n, "channel": channel, "chat_id": chat, "topic": topic, "created_at": now}
                for n, chat in enumerate(chats)
            ],
        )
    return chats


def outbox_rows(engine: Engine, broadcast_id: int | None = None) -> list[dict[str, object]]:
    """Every outbox row (of one broadcast), in id order."""
    query = select(OUTBOX).order_by(OUTBOX.c.id)
    if broadcast_id is not None:
        query = query.where(OUTBOX.c.broadcast_id == broadcast_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
