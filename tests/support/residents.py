"""Verified residents in tests: a town with a secret key, codes issued as a clerk would, the audit log read back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.access import CLI, Actor
from bot.config import Config
from bot.secretkey import KeyedHash
from bot.verification import issue_code
from models import AuditEntry, ChannelIdentity, Resident
from models.db import Database

AUDIT = AuditEntry.__table__
IDENTITIES = ChannelIdentity.__table__
RESIDENTS = Resident.__table__

SECRET = "a-test-secret-key-0123456789abcdef"
KEYS = KeyedHash(SECRET.encode())
CLERK = Actor(official_id=None, username="clerk", name="Clerk", department="secretaria", role="clerk")


def with_secret(config: Config) -> Config:
    """The town, with PLAZA_SECRET_KEY set (so PostgreSQL runs need no key file)."""
    return replace(config, secret_key=SECRET)


def issue(
    database: Database,
    name: str = "Ana García",
    document: str = "12345678Z",
    *,
    now: datetime | None = None,
    actor: Actor = CLI,
) -> tuple[int, str]:
    """A clerk checks an ID and issues a code: (resident id, code)."""
    with database.writer.begin() as connection:
        issued = issue_code(connection, KEYS, actor, name=name, document=document, now=now or datetime.now(UTC))
    return issued.resident_id, issued.code


def actions(database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit log, oldest first: (actor, action, detail)."""
    with database.writer.begin() as connection:
        rows = connection.execute(select(AUDIT.c.actor, AUDIT.c.action, AUDIT.c.detail).order_by(AUDIT.c.id)).all()
    return [(row.actor, row.action, dict(row.detail or {})) for row in rows]


def account(database: Database, channel: str, user: str) -> Any:
    """The identity row of ``user`` on ``channel`` (resident_id, verified), or None."""
    with database.writer.begin() as connection:
        return connection.execute(
            select(IDENTITIES.c.resident_id, IDENTITIES.c.verified).where(
                IDENTITIES.c.channel == channel, IDENTITIES.c.platform_user_id == user
            )
        ).first()


def resident(database: Database, resident_id: int) -> Any:
    with database.writer.begin() as connection:
        return connection.execute(select(RESIDENTS).where(RESIDENTS.c.id == resident_id)).one()
