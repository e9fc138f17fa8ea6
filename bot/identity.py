"""Residents a clerk registered, and the channel accounts linked to them.

A clerk registers a resident by name and ID document number; only a keyed
hash of the number is stored (:mod:`bot.secretkey`), so the same number finds
the same resident again and nobody can read it back. :func:`link` moves a
channel account (and the conversations of its chat) to a verified resident;
:func:`unlink` gives the account a resident of its own again, unverified.
Everything runs in the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from bot.secretkey import KeyedHash
from models import (
    Appointment,
    ChannelIdentity,
    Conversation,
    HandoffRequest,
    RequestFollower,
    Resident,
    ServiceRequest,
    Subscription,
)

__all__ = [
    "Account",
    "DocumentError",
    "Registered",
    "account",
    "conversation_owner",
    "document_hash",
    "link",
    "normalize_document",
    "register",
    "unlink",
]

RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
APPOINTMENTS = Appointment.__table__  # type: ignore[attr-defined]
FOLLOWERS = RequestFollower.__table__  # type: ignore[attr-defined]
HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]

_SEPARATORS = re.compile(r"[\s\-.]+")


class DocumentError(ValueError):
    """An ID document number that cannot be one (empty, odd characters, too short or long)."""


def normalize_document(number: str) -> str:
    """Upper case, without spaces, dashes or dots: ``12.345.678-z`` and ``12345678Z`` are the same."""
    cleaned = _SEPARATORS.sub("", number).upper()
    if not cleaned.isascii() or not cleaned.isalnum() or not 5 <= len(cleaned) <= 20:
        raise DocumentError("an ID document number has 5 to 20 letters and digits (spaces and dashes are ignored)")
    return cleaned


def document_hash(keys: KeyedHash, number: str) -> str:
    """The stored form of an ID document number (normalized, then keyed-hashed)."""
    return keys.digest("document", normalize_document(number))


@dataclass(frozen=True, slots=True)
class Registered:
    """A resident a clerk registered (``new``) or found again by their ID number."""

    resident_id: int
    new: bool


def register(
    connection: Connection,
    keys: KeyedHash,
    *,
    name: str,
    document: str,
    contact: str | None,
    now: datetime,
) -> Registered:
    """Find the resident with this ID number, or create them; either way they are verified now.

    A name or contact given again replaces the stored one (people move, change phones).
    """
    hashed = document_hash(keys, document)
    name = " ".join(name.split())
    if not name:
        raise DocumentError("the resident's name is empty")
    found = connection.execute(select(RESIDENTS.c.id).where(RESIDENTS.c.document_hash == hashed)).first()
    values: dict[str, object] = {"name": name[:200], "verified": True, "verified_at": now}
    if contact:
        values["contact"] = contact.strip()[:200]
    if found is not None:
        connection.execute(update(RESIDENTS).where(RESIDENTS.c.id == found.id).values(**values))
        return Registered(int(found.id), False)
    resident_id = connection.execute(
        insert(RESIDENTS)
        .values(display_name=name[:200], language="es", document_hash=hashed, created_at=now, **values)
        .returning(RESIDENTS.c.id)
    ).scalar_one()
    return Registered(int(resident_id), True)


@dataclass(frozen=True, slots=True)
class Account:
    """A channel identity as verification sees it."""

    id: int
    channel: str
    platform_user_id: str
    resident_id: int
    verified: bool


def account(connection: Connection, channel: str, platform_user_id: str) -> Account | None:
    """The identity of ``platform_user_id`` on ``channel``, if Plaza has seen it."""
    row = connection.execute(
        select(
            IDENTITIES.c.id, IDENTITIES.c.resident_id, IDENTITIES.c.verified, RESIDENTS.c.verified.label("resident_ok")
        )
        .join(RESIDENTS, RESIDENTS.c.id == IDENTITIES.c.resident_id)
        .where(IDENTITIES.c.channel == channel, IDENTITIES.c.platform_user_id == platform_user_id)
    ).first()
    if row is None:
        return None
    return Account(row.id, channel, platform_user_id, row.resident_id, bool(row.verified and row.resident_ok))


def conversation_owner(connection: Connection, conversation_id: int) -> int:
    """The resident a conversation belongs to (as stored: a link or unlink may just have moved it)."""
    return int(
        connection.execute(
            select(CONVERSATIONS.c.resident_id).where(CONVERSATIONS.c.id == conversation_id)
        ).scalar_one()
    )


def link(connection: Connection, channel: str, platform_user_id: str, resident_id: int, now: datetime) -> int:
    """Make the account a verified one of ``resident_id``; returns the identity's id.

    An account Plaza never saw gets its identity now. An account of another,
    unverified resident (the one created when it first wrote) moves, with its
    chat's conversations, reports, appointments and subscriptions: they were
    this person's all along.
    """
    found = account(connection, channel, platform_user_id)
    if found is None:
        return int(
            connection.execute(
                insert(IDENTITIES)
                .values(
                    channel=channel,
                    platform_user_id=platform_user_id,
                    resident_id=resident_id,
                    verified=True,
                    created_at=now,
                )
                .returning(IDENTITIES.c.id)
            ).scalar_one()
        )
    connection.execute(
        update(IDENTITIES).where(IDENTITIES.c.id == found.id).values(resident_id=resident_id, verified=True)
    )
    if found.resident_id != resident_id:
        _move_chat(connection, found.resident_id, resident_id, channel, platform_user_id, everything=True)
    return found.id


def unlink(connection: Connection, channel: str, platform_user_id: str, now: datetime) -> Account | None:
    """Give the account a new unverified resident of its own (with its chat's conversations).

    The verified resident keeps what they did (reports, procedures); the
    account no longer speaks for them. Returns the account as it was, or None
    when it was not linked to a verified resident.
    """
    found = account(connection, channel, platform_user_id)
    if found is None or not found.verified:
        return None
    language = connection.execute(select(RESIDENTS.c.language).where(RESIDENTS.c.id == found.resident_id)).scalar_one()
    display = connection.execute(select(IDENTITIES.c.display_name).where(IDENTITIES.c.id == found.id)).scalar_one()
    fresh = connection.execute(
        insert(RESIDENTS)
        .values(display_name=display, language=language, verified=False, created_at=now)
        .returning(RESIDENTS.c.id)
    ).scalar_one()
    connection.execute(update(IDENTITIES).where(IDENTITIES.c.id == found.id).values(resident_id=fresh, verified=False))
    _move_chat(connection, found.resident_id, int(fresh), channel, platform_user_id, everything=False)
    return found


def _move_chat(connection: Connection, old: int, new: int, channel: str, chat_id: str, *, everything: bool) -> None:
    """Move the chat ``(channel, chat_id)``'s rows from resident ``old`` to ``new``.

    Conversations always move (they follow the account); with ``everything``
    so do the chat's reports, handoffs, appointments, subscriptions and follows.
    """
    conversation_ids = [
        row.id
        for row in connection.execute(
            select(CONVERSATIONS.c.id).where(
                CONVERSATIONS.c.resident_id == old,
                CONVERSATIONS.c.channel == channel,
                CONVERSATIONS.c.chat_id == chat_id,
            )
        )
    ]
    if conversation_ids:
        connection.execute(
            update(CONVERSATIONS).where(CONVERSATIONS.c.id.in_(conversation_ids)).values(resident_id=new)
        )
    if not everything:
        return
    if conversation_ids:
        for table in (REQUESTS, HANDOFFS):
            connection.execute(
                update(table)
                .where(table.c.resident_id == old, table.c.conversation_id.in_(conversation_ids))
                .values(resident_id=new)
            )
    connection.execute(
        update(APPOINTMENTS)
        .where(APPOINTMENTS.c.resident_id == old, APPOINTMENTS.c.channel == channel, APPOINTMENTS.c.chat_id == chat_id)
        .values(resident_id=new)
    )
    # unique per resident: what the verified resident already has wins, the duplicate goes
    kept = SUBSCRIPTIONS.alias("kept")
    topics = select(kept.c.topic).where(kept.c.resident_id == new, kept.c.channel == channel)
    mine = (SUBSCRIPTIONS.c.resident_id == old, SUBSCRIPTIONS.c.channel == channel, SUBSCRIPTIONS.c.chat_id == chat_id)
    connection.execute(delete(SUBSCRIPTIONS).where(*mine, SUBSCRIPTIONS.c.topic.in_(topics)))
    connection.execute(update(SUBSCRIPTIONS).where(*mine).values(resident_id=new))
    kept_follows = FOLLOWERS.alias("kept")
    followed = select(kept_follows.c.request_id).where(kept_follows.c.resident_id == new)
    theirs = (FOLLOWERS.c.resident_id == old, FOLLOWERS.c.channel == channel, FOLLOWERS.c.chat_id == chat_id)
    connection.execute(delete(FOLLOWERS).where(*theirs, FOLLOWERS.c.request_id.in_(followed)))
    connection.execute(update(FOLLOWERS).where(*theirs).values(resident_id=new))
