"""One-time codes that link a resident's channel accounts to the person a clerk checked.

A clerk (role ``clerk``, a town admin, or the command line) checks a
resident's ID at the town hall and calls :func:`issue_code`: the resident is
registered (or found again by their ID number, see :mod:`bot.identity`) and
gets a six-digit code, drawn with :mod:`secrets`, stored only as a keyed
hash, live for :data:`CODE_LIFETIME` and usable once. The resident sends it
to the bot on any channel (``verificar 123456``) and :func:`redeem` links
that account to them.

Guessing is bounded twice: an account that sent :data:`MAX_ACCOUNT_FAILURES`
wrong codes within :data:`LOCK_WINDOW` is locked until the oldest of them
leaves the window, and every wrong code counts against every live code (it
was compared with each one), so a code dies after :data:`MAX_CODE_FAILURES`
wrong tries: whatever the number of accounts an attacker uses, a code faces
at most that many guesses out of a million. Codes are compared in constant
time. Every outcome (``verification_issued``, ``_linked``, ``_failed``,
``_locked``, ``_unlinked``) is written to the audit log; the ID number and
the code never are, nor logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from bot import audit, identity
from bot.access import SYSTEM, Actor
from bot.secretkey import KeyedHash
from models import VerificationCode, VerificationFailure

__all__ = [
    "CODE_LIFETIME",
    "LOCK_WINDOW",
    "MAX_ACCOUNT_FAILURES",
    "MAX_CODE_FAILURES",
    "IssuedCode",
    "Outcome",
    "issue_code",
    "normalize_code",
    "redeem",
    "unlink_account",
]

CODES = VerificationCode.__table__  # type: ignore[attr-defined]
FAILURES = VerificationFailure.__table__  # type: ignore[attr-defined]

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
MAX_CODE_FAILURES = 5
MAX_ACCOUNT_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
_RECENT = timedelta(days=1)  # how far back a wrong code is told apart as reused or expired (for the audit)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """What the clerk reads to the resident: ``code``, valid until ``expires_at``."""

    resident_id: int
    code: str
    expires_at: datetime
    new_resident: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of a code a resident sent.

    ``status``: ``linked`` (now verified), ``already`` (this account already
    was, for the same person), ``malformed`` (not six digits; not counted),
    ``failed`` (wrong, reused, expired or dead), ``taken`` (the account is
    verified for another person: unlink it first), ``locked`` (too many wrong
    codes; ``retry_at`` says until when).
    """

    status: str
    resident_id: int | None = None
    retry_at: datetime | None = None


def normalize_code(text: str) -> str | None:
    """The six digits of ``text`` ("123 456", "123-456"), or None if it is not a code."""
    digits = "".join(ch for ch in text if not ch.isspace() and ch != "-")
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


def issue_code(
    connection: Connection,
    keys: KeyedHash,
    actor: Actor,
    *,
    name: str,
    document: str,
    contact: str | None = None,
    now: datetime,
) -> IssuedCode:
    """Register or find the resident and issue a new code; earlier live codes of theirs die.

    Raises :class:`~bot.errors.NotAllowed` unless ``actor`` is a clerk (or
    admin, CLI) and :class:`~bot.identity.DocumentError` for an impossible number.
    """
    actor.require("clerk")
    registered = identity.register(connection, keys, name=name, document=document, contact=contact, now=now)
    connection.execute(
        update(CODES)
        .where(CODES.c.resident_id == registered.resident_id, CODES.c.used_at.is_(None), CODES.c.expires_at > now)
        .values(expires_at=now)
    )
    live = [row.code_hash for row in _live(connection, now)]
    while True:  # two live codes never share digits, so a code names one resident
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        hashed = keys.digest("code", code)
        if hashed not in live:
            break
    expires_at = now + CODE_LIFETIME
    code_id = connection.execute(
        insert(CODES)
        .values(
            resident_id=registered.resident_id,
            code_hash=hashed,
            official_id=actor.official_id,
            actor=actor.username,
            failures=0,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(CODES.c.id)
    ).scalar_one()
    audit.record(
        connection,
        actor,
        "verification_issued",
        detail={
            "resident_id": registered.resident_id,
            "code_id": code_id,
            "new_resident": registered.new,
            "expires_at": expires_at.isoformat(),
        },
        now=now,
    )
    return IssuedCode(registered.resident_id, code, expires_at, registered.new)


def redeem(
    connection: Connection,
    keys: KeyedHash,
    *,
    channel: str,
    platform_user_id: str,
    text: str,
    now: datetime,
    conversation_id: int | None = None,
) -> Outcome:
    """Check the code ``text`` a resident sent from ``platform_user_id`` on ``channel``; link on success."""
    where: dict[str, object] = {"channel": channel, "conversation_id": conversation_id}
    code = normalize_code(text)
    if code is None:
        return Outcome("malformed")
    locked_until = _locked_until(connection, channel, platform_user_id, now)
    if locked_until is not None:
        _audit(connection, "verification_locked", where, now, retry_at=locked_until.isoformat())
        return Outcome("locked", retry_at=locked_until)
    live = _live(connection, now)
    match = None
    for row in live:  # every live code is compared, in constant time: no early exit
        if keys.matches("code", code, row.code_hash):
            match = row
    if match is None:
        return _wrong(connection, keys, code, channel, platform_user_id, live, where, now)
    found = identity.account(connection, channel, platform_user_id)
    if found is not None and found.verified and found.resident_id != match.resident_id:
        _count_failure(connection, channel, platform_user_id, now)
        _audit(connection, "verification_failed", where, now, reason="account_linked_to_another", code_id=match.id)
        return Outcome("taken")
    used = connection.execute(
        update(CODES).where(CODES.c.id == match.id, CODES.c.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if used != 1:  # spent by a concurrent step a moment ago
        return _wrong(connection, keys, code, channel, platform_user_id, live, where, now)
    already = found is not None and found.verified
    identity_id = identity.link(connection, channel, platform_user_id, match.resident_id, now)
    connection.execute(update(CODES).where(CODES.c.id == match.id).values(identity_id=identity_id))
    connection.execute(
        delete(FAILURES).where(FAILURES.c.channel == channel, FAILURES.c.platform_user_id == platform_user_id)
    )
    _audit(
        connection,
        "verification_linked",
        where,
        now,
        resident_id=match.resident_id,
        identity_id=identity_id,
        code_id=match.id,
        moved_from=found.resident_id if found is not None and found.resident_id != match.resident_id else None,
    )
    return Outcome("already" if already else "linked", resident_id=match.resident_id)


def unlink_account(connection: Connection, actor: Actor, *, channel: str, platform_user_id: str, now: datetime) -> bool:
    """Unlink one account from its verified resident (the resident themselves, a clerk or the CLI).

    Returns False when the account was not linked. Audited as ``verification_unlinked``.
    """
    if actor is not SYSTEM:
        actor.require("clerk")
    was = identity.unlink(connection, channel, platform_user_id, now)
    if was is None:
        return False
    audit.record(
        connection,
        actor,
        "verification_unlinked",
        detail={"resident_id": was.resident_id, "identity_id": was.id, "channel": channel},
        now=now,
    )
    return True


def _live(connection: Connection, now: datetime) -> list[Row[Any]]:
    return list(
        connection.execute(
            select(CODES.c.id, CODES.c.resident_id, CODES.c.code_hash).where(
                CODES.c.used_at.is_(None), CODES.c.expires_at > now, CODES.c.failures < MAX_CODE_FAILURES
            )
        ).all()
    )


def _locked_until(connection: Connection, channel: str, platform_user_id: str, now: datetime) -> datetime | None:
    recent = connection.execute(
        select(func.count(), func.min(FAILURES.c.at)).where(
            FAILURES.c.channel == channel,
            FAILURES.c.platform_user_id == platform_user_id,
            FAILURES.c.at > now - LOCK_WINDOW,
        )
    ).one()
    count, oldest = recent
    if count < MAX_ACCOUNT_FAILURES or oldest is None:
        return None
    return _aware(oldest) + LOCK_WINDOW


def _count_failure(connection: Connection, channel: str, platform_user_id: str, now: datetime) -> None:
    connection.execute(insert(FAILURES).values(channel=channel, platform_user_id=platform_user_id, at=now))


def _wrong(
    connection: Connection,
    keys: KeyedHash,
    code: str,
    channel: str,
    platform_user_id: str,
    live: list[Row[Any]],
    where: dict[str, object],
    now: datetime,
) -> Outcome:
    """A code that matches no live code: count it for the account and against every live code."""
    _count_failure(connection, channel, platform_user_id, now)
    ids = [row.id for row in live]
    if ids:
        connection.execute(update(CODES).where(CODES.c.id.in_(ids)).values(failures=CODES.c.failures + 1))
    reason, code_id = "wrong", None
    recent = connection.execute(
        select(CODES.c.id, CODES.c.code_hash, CODES.c.used_at, CODES.c.expires_at).where(
            CODES.c.created_at > now - _RECENT
        )
    ).all()
    for row in recent:
        if keys.matches("code", code, row.code_hash):
            code_id = row.id
            reason = "reused" if row.used_at is not None else "expired" if _aware(row.expires_at) <= now else "dead"
    _audit(connection, "verification_failed", where, now, reason=reason, code_id=code_id)
    locked_until = _locked_until(connection, channel, platform_user_id, now)
    if locked_until is not None:
        _audit(connection, "verification_locked", where, now, retry_at=locked_until.isoformat())
        return Outcome("locked", retry_at=locked_until)
    return Outcome("failed")


def _audit(connection: Connection, action: str, where: dict[str, object], now: datetime, **detail: object) -> None:
    conversation_id = where.get("conversation_id")
    audit.record(
        connection,
        SYSTEM,
        action,
        conversation_id=conversation_id if isinstance(conversation_id, int) else None,
        detail={"channel": where["channel"], **detail},
        now=now,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
