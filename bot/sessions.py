"""Officials' login sessions and login throttling.

A session is a random token in an HttpOnly cookie; the database keeps only
its SHA-256, so a leaked table cannot be replayed. Logging in always opens a
new session (a token planted before login is never promoted). A session is
valid until ``expires_at``, while used at least every :data:`IDLE` and while
its official is enabled: every request looks that up, so disabling an
official logs them out at once.

Throttling: :data:`MAX_FAILURES` failed logins for one username, or
:data:`MAX_CLIENT_FAILURES` from one client address, within :data:`WINDOW`
lock further tries (even with the right password) until the oldest of those
failures is older than the window. A successful login clears the count for
its username and address.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from bot.officials import ACCOUNT_COLUMNS, OfficialAccount, account_from_row
from models import LoginAttempt, Official, OfficialSession

__all__ = [
    "IDLE",
    "LIFETIME",
    "MAX_CLIENT_FAILURES",
    "MAX_FAILURES",
    "WINDOW",
    "Session",
    "close_session",
    "locked_for",
    "open_session",
    "record_attempt",
    "session_for",
    "token_hash",
    "touch",
]

SESSIONS = OfficialSession.__table__  # type: ignore[attr-defined]
OFFICIALS = Official.__table__  # type: ignore[attr-defined]
ATTEMPTS = LoginAttempt.__table__  # type: ignore[attr-defined]

LIFETIME = timedelta(hours=12)
IDLE = timedelta(hours=2)
WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 20
_SEEN_EVERY = timedelta(minutes=1)
_KEEP_ATTEMPTS = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session: whose it is and the CSRF token its forms carry."""

    id: int
    official: OfficialAccount
    csrf_token: str
    last_seen: datetime

    def stale(self, now: datetime) -> bool:
        """Whether :func:`touch` should record a use now (at most once a minute)."""
        return now - self.last_seen >= _SEEN_EVERY


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(connection: Connection, official_id: int, *, now: datetime | None = None) -> tuple[str, str]:
    """Start a new session; returns ``(token, csrf_token)``. Only the token's hash is stored."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    connection.execute(
        insert(SESSIONS).values(
            token_hash=token_hash(token),
            official_id=official_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + LIFETIME,
            last_seen=now,
        )
    )
    connection.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now))
    return token, csrf


def session_for(connection: Connection, token: str | None, *, now: datetime | None = None) -> Session | None:
    """The session a cookie's token names, if it is still valid and its official enabled (reads only)."""
    if not token or len(token) > 200:
        return None
    now = now or datetime.now(UTC)
    row = connection.execute(
        select(
            SESSIONS.c.id.label("session_id"),
            SESSIONS.c.csrf_token,
            SESSIONS.c.expires_at,
            SESSIONS.c.last_seen,
            *ACCOUNT_COLUMNS,
        )
        .select_from(SESSIONS.join(OFFICIALS, OFFICIALS.c.id == SESSIONS.c.official_id))
        .where(SESSIONS.c.token_hash == token_hash(token))
    ).first()
    if row is None or row.disabled or row.expires_at <= now or row.last_seen + IDLE <= now:
        return None
    return Session(
        id=row.session_id, official=account_from_row(row), csrf_token=row.csrf_token, last_seen=row.last_seen
    )


def touch(connection: Connection, session_id: int, *, now: datetime | None = None) -> None:
    """Record that a session was used now (it stays valid for :data:`IDLE` more)."""
    connection.execute(update(SESSIONS).where(SESSIONS.c.id == session_id).values(last_seen=now or datetime.now(UTC)))


def close_session(connection: Connection, token: str | None) -> None:
    """Log out: the token no longer names a session."""
    if token:
        connection.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash(token)))


def _failures_since(connection: Connection, column: Any, value: str, since: datetime) -> list[datetime]:
    last_success = connection.execute(
        select(func.max(ATTEMPTS.c.at)).where(column == value, ATTEMPTS.c.succeeded.is_(True), ATTEMPTS.c.at > since)
    ).scalar()
    start = max(since, last_success) if last_success is not None else since
    rows = connection.execute(
        select(ATTEMPTS.c.at)
        .where(column == value, ATTEMPTS.c.succeeded.is_(False), ATTEMPTS.c.at > start)
        .order_by(ATTEMPTS.c.at)
    ).all()
    return [row.at for row in rows]


def locked_for(connection: Connection, username: str, client: str, *, now: datetime | None = None) -> timedelta | None:
    """How long logins for ``username`` or from ``client`` stay locked; None when they are not."""
    now = now or datetime.now(UTC)
    since = now - WINDOW
    waits = []
    for column, value, limit in (
        (ATTEMPTS.c.username, username.strip().lower()[:64], MAX_FAILURES),
        (ATTEMPTS.c.client, client[:64], MAX_CLIENT_FAILURES),
    ):
        failures = _failures_since(connection, column, value, since)
        if len(failures) >= limit:
            # unlocked once all but limit-1 of these failures have left the window
            waits.append(failures[len(failures) - limit] + WINDOW - now)
    return max(waits) if waits else None


def record_attempt(
    connection: Connection, username: str, client: str, succeeded: bool, *, now: datetime | None = None
) -> None:
    """Remember one login try (old tries are forgotten after a day)."""
    now = now or datetime.now(UTC)
    connection.execute(
        insert(ATTEMPTS).values(username=username.strip().lower()[:64], client=client[:64], succeeded=succeeded, at=now)
    )
    connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.at < now - _KEEP_ATTEMPTS))
