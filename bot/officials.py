"""Official accounts: add, list, disable, set a password, authenticate; the :class:`Actor` of one.

Passwords are hashed with argon2 (argon2-cffi's defaults, RFC 9106 low-memory
profile) and never stored or logged in clear. Every function runs in the
caller's transaction; the caller writes the audit row and commits.
Disabling an official, or setting a new password, ends all their web
sessions in the same transaction, so a browser left logged in stops working
at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.access import Actor
from bot.config import Config
from bot.errors import Conflict, NotFound, OfficialError
from models import OFFICIAL_ROLES, Official, OfficialSession

__all__ = [
    "ACCOUNT_COLUMNS",
    "MIN_PASSWORD",
    "OfficialAccount",
    "account_from_row",
    "actor_for",
    "add_official",
    "authenticate",
    "disable_official",
    "ensure_first_admin",
    "find_official",
    "get_official",
    "hash_password",
    "list_officials",
    "set_password",
    "verify_password",
]

OFFICIALS = Official.__table__  # type: ignore[attr-defined]
SESSIONS = OfficialSession.__table__  # type: ignore[attr-defined]

MIN_PASSWORD = 10
"""The shortest password accepted, in characters."""

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong username takes as long as a wrong password."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class OfficialAccount:
    """An official as read from the database (never with the password hash)."""

    id: int
    username: str
    name: str
    department: str
    role: str
    language: str
    disabled: bool
    created_at: datetime


def account_from_row(row: Any) -> OfficialAccount:
    """An :class:`OfficialAccount` from a row holding :data:`ACCOUNT_COLUMNS`."""
    return OfficialAccount(
        id=row.id,
        username=row.username,
        name=row.name,
        department=row.department,
        role=row.role,
        language=row.language,
        disabled=bool(row.disabled),
        created_at=row.created_at,
    )


ACCOUNT_COLUMNS = (
    OFFICIALS.c.id,
    OFFICIALS.c.username,
    OFFICIALS.c.name,
    OFFICIALS.c.department,
    OFFICIALS.c.role,
    OFFICIALS.c.language,
    OFFICIALS.c.disabled,
    OFFICIALS.c.created_at,
)
"""What :func:`account_from_row` reads (no password hash)."""


def hash_password(password: str) -> str:
    """The argon2 hash of ``password``; refuses one shorter than :data:`MIN_PASSWORD`."""
    if len(password) < MIN_PASSWORD:
        raise OfficialError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not (2 <= len(name) <= 64) or not all(c.isalnum() or c in "._-" for c in name):
        raise OfficialError(
            f"{username!r} is not a usable username: use 2 to 64 letters, digits, '.', '_' or '-' (e.g. maria.lopez)"
        )
    return name


def add_official(
    connection: Connection,
    config: Config,
    *,
    username: str,
    name: str,
    department: str,
    role: str,
    password: str,
    language: str | None = None,
    now: datetime | None = None,
) -> OfficialAccount:
    """Create an account; raises :class:`Conflict` for a taken username, :class:`OfficialError` for bad input."""
    login = _check_username(username)
    if department not in config.departments:
        known = ", ".join(config.departments)
        raise OfficialError(f"there is no department {department!r} in config.yaml; the departments are {known}")
    if role not in OFFICIAL_ROLES:
        raise OfficialError(f"there is no role {role!r}; the roles are {', '.join(OFFICIAL_ROLES)}")
    chosen = language or config.default_language
    if chosen not in config.languages:
        raise OfficialError(f"{chosen!r} is not one of the town's languages ({', '.join(config.languages)})")
    if not name.strip():
        raise OfficialError("the official's name is empty; give the name residents will see")
    if find_official(connection, login) is not None:
        raise Conflict(f"there is already an official with the username {login!r}")
    hashed = hash_password(password)
    try:
        with connection.begin_nested():
            new_id = connection.execute(
                insert(OFFICIALS)
                .values(
                    username=login,
                    name=name.strip()[:200],
                    department=department,
                    role=role,
                    password_hash=hashed,
                    language=chosen,
                    disabled=False,
                    created_at=now or datetime.now(UTC),
                )
                .returning(OFFICIALS.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(f"there is already an official with the username {login!r}") from None
    found = get_official(connection, int(new_id))
    assert found is not None
    return found


def get_official(connection: Connection, official_id: int) -> OfficialAccount | None:
    row = connection.execute(select(*ACCOUNT_COLUMNS).where(OFFICIALS.c.id == official_id)).first()
    return account_from_row(row) if row is not None else None


def find_official(connection: Connection, username: str) -> OfficialAccount | None:
    row = connection.execute(select(*ACCOUNT_COLUMNS).where(OFFICIALS.c.username == username.strip().lower())).first()
    return account_from_row(row) if row is not None else None


def list_officials(connection: Connection) -> list[OfficialAccount]:
    """Every account, by department then username."""
    rows = connection.execute(select(*ACCOUNT_COLUMNS).order_by(OFFICIALS.c.department, OFFICIALS.c.username)).all()
    return [account_from_row(row) for row in rows]


def _require(connection: Connection, username: str) -> OfficialAccount:
    found = find_official(connection, username)
    if found is None:
        raise NotFound(f"there is no official with the username {username!r} (see `plaza officials list`)")
    return found


def disable_official(connection: Connection, username: str) -> OfficialAccount:
    """Disable the account and end all its sessions; disabling twice is harmless."""
    found = _require(connection, username)
    connection.execute(update(OFFICIALS).where(OFFICIALS.c.id == found.id).values(disabled=True))
    connection.execute(delete(SESSIONS).where(SESSIONS.c.official_id == found.id))
    return _require(connection, username)


def set_password(connection: Connection, username: str, password: str) -> OfficialAccount:
    """Set a new password and end the account's sessions (log in again everywhere)."""
    found = _require(connection, username)
    connection.execute(
        update(OFFICIALS).where(OFFICIALS.c.id == found.id).values(password_hash=hash_password(password))
    )
    connection.execute(delete(SESSIONS).where(SESSIONS.c.official_id == found.id))
    return found


def authenticate(connection: Connection, username: str, password: str) -> OfficialAccount | None:
    """The account if ``username`` and ``password`` match an enabled official, else None.

    An unknown username costs one hash verification too, so timing does not
    tell which usernames exist. An old-parameter hash is upgraded in place.
    """
    row = connection.execute(
        select(*ACCOUNT_COLUMNS, OFFICIALS.c.password_hash).where(OFFICIALS.c.username == username.strip().lower())
    ).first()
    if row is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(row.password_hash, password) or row.disabled:
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        connection.execute(
            update(OFFICIALS).where(OFFICIALS.c.id == row.id).values(password_hash=_HASHER.hash(password))
        )
    return account_from_row(row)


def actor_for(official: OfficialAccount) -> Actor:
    """The :class:`Actor` an official's actions are done and audited as."""
    return Actor(
        official_id=official.id,
        username=official.username,
        name=official.name,
        department=official.department,
        role=official.role,
    )


def ensure_first_admin(connection: Connection, config: Config) -> str | None:
    """With no official at all, create ``admin`` (role admin) and return its random password; else None."""
    if connection.execute(select(func.count()).select_from(OFFICIALS)).scalar_one():
        return None
    if not config.departments:
        raise OfficialError("config.yaml has no departments; add one before the first official")
    password = secrets.token_urlsafe(12)
    add_official(
        connection,
        config,
        username="admin",
        name="Admin",
        department=next(iter(config.departments)),
        role="admin",
        password=password,
    )
    return password
