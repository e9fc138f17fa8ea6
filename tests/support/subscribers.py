"""Subscribers in bulk for broadcast tests (from :mod:`bot.bench.databases`), and the outbox rows they get."""

from __future__ import annotations

from sqlalchemy import Engine, select

from bot.bench.databases import add_subscribers
from models import OutboxItem

__all__ = ["add_subscribers", "outbox_rows"]

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]


def outbox_rows(engine: Engine, broadcast_id: int | None = None) -> list[dict[str, object]]:
    """Every outbox row (of one broadcast), in id order."""
    query = select(OUTBOX).order_by(OUTBOX.c.id)
    if broadcast_id is not None:
        query = query.where(OUTBOX.c.broadcast_id == broadcast_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
