"""Open311 API keys: create one (shown once), list, revoke, and check a presented key.

Only the SHA-256 of a key is stored. :func:`check_key` hashes what a client
sent and compares it with every active key's hash using
:func:`hmac.compare_digest` (a town has a handful of keys), so neither the
key nor the timing tells anything. Every function runs in the caller's
transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from models import ApiKey

__all__ = ["ApiKeyError", "KeyInfo", "check_key", "create_key", "hash_key", "list_keys", "revoke_key"]

KEYS = ApiKey.__table__  # type: ignore[attr-defined]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PREFIX = "plz_"


class ApiKeyError(ValueError):
    """A name that is malformed, already taken, or unknown; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed: never the key itself."""

    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(connection: Connection, name: str, *, now: datetime | None = None) -> str:
    """Store a new key called ``name`` and return the key (the only time it is seen)."""
    if not NAME.match(name):
        raise ApiKeyError(f"{name!r} is not a usable name — use 1-64 letters, digits, '.', '_' or '-'")
    if connection.execute(select(KEYS.c.id).where(KEYS.c.name == name)).first() is not None:
        raise ApiKeyError(f"a key called {name!r} already exists (names are never reused) — choose another name")
    key = PREFIX + secrets.token_urlsafe(32)
    connection.execute(
        insert(KEYS).values(name=name, key_hash=hash_key(key), created_at=now or datetime.now(UTC), revoked_at=None)
    )
    return key


def list_keys(connection: Connection) -> Sequence[KeyInfo]:
    """Every key ever created, oldest first."""
    rows = connection.execute(select(KEYS.c.name, KEYS.c.created_at, KEYS.c.revoked_at).order_by(KEYS.c.id)).all()
    return [KeyInfo(row.name, row.created_at, row.revoked_at) for row in rows]


def revoke_key(connection: Connection, name: str, *, now: datetime | None = None) -> bool:
    """Revoke the key ``name``; False when it already was. Raises :class:`ApiKeyError` for an unknown name."""
    row = connection.execute(select(KEYS.c.id, KEYS.c.revoked_at).where(KEYS.c.name == name)).first()
    if row is None:
        raise ApiKeyError(f"no key is called {name!r} — `plaza apikeys list` shows them")
    if row.revoked_at is not None:
        return False
    connection.execute(update(KEYS).where(KEYS.c.id == row.id).values(revoked_at=now or datetime.now(UTC)))
    return True


def check_key(connection: Connection, key: str | None) -> str | None:
    """The name of the active key ``key`` is, or None (no key, a wrong one, a revoked one)."""
    if not key:
        return None
    presented = hash_key(key)
    found: str | None = None
    for name, stored in connection.execute(select(KEYS.c.name, KEYS.c.key_hash).where(KEYS.c.revoked_at.is_(None))):
        if hmac.compare_digest(presented, stored):
            found = name
    return found
