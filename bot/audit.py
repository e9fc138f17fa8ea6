"""The audit log: every official action, written in the action's own transaction.

Rows are only ever added. :func:`record` is called by the code that does
the action (handoff, request status, broadcast, verification), inside the
same transaction, so an action and its audit row commit or roll back
together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from bot.access import Actor
from models import AuditEntry
from models.rawsql import db_json, db_time, from_db_json, raw_insert

__all__ = ["AuditRecord", "entries", "record"]

AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]

_INSERT = raw_insert(AUDIT, ("official_id", "actor", "action", "conversation_id", "request_id", "detail", "at"))


def record(
    connection: Connection,
    actor: Actor,
    action: str,
    *,
    conversation_id: int | None = None,
    request_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Write one audit row for ``actor`` doing ``action`` (``take``, ``reply``, ``status``...)."""
    _INSERT.run(
        connection,
        {
            "official_id": actor.official_id,
            "actor": actor.username,
            "action": action,
            "conversation_id": conversation_id,
            "request_id": request_id,
            "detail": db_json(connection, dict(detail or {})),
            "at": db_time(connection, now or datetime.now(UTC)),
        },
    )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row as read back."""

    id: int
    actor: str
    action: str
    conversation_id: int | None
    request_id: int | None
    detail: Mapping[str, Any]
    at: datetime


def entries(
    connection: Connection,
    *,
    conversation_id: int | None = None,
    request_id: int | None = None,
    limit: int = 200,
) -> Sequence[AuditRecord]:
    """The newest audit rows first, optionally only those about one conversation or request."""
    query = select(
        AUDIT.c.id,
        AUDIT.c.actor,
        AUDIT.c.action,
        AUDIT.c.conversation_id,
        AUDIT.c.request_id,
        AUDIT.c.detail,
        AUDIT.c.at,
    )
    if conversation_id is not None:
        query = query.where(AUDIT.c.conversation_id == conversation_id)
    if request_id is not None:
        query = query.where(AUDIT.c.request_id == request_id)
    rows = connection.execute(query.order_by(AUDIT.c.id.desc()).limit(limit)).all()
    return [
        AuditRecord(
            id=row.id,
            actor=row.actor,
            action=row.action,
            conversation_id=row.conversation_id,
            request_id=row.request_id,
            detail=dict(from_db_json(row.detail) or {}),
            at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
        )
        for row in rows
    ]
