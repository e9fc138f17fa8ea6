"""A resident's own data: what Plaza holds about them (export), forgetting them (erasure), and retention.

- :func:`export_link` issues a one-time token (random, stored as SHA-256,
  :data:`EXPORT_LIFETIME`); :func:`claim_export` spends it and returns the
  resident's data as one JSON-ready dict: their conversations, the messages
  they sent and were sent, their requests, subscriptions and appointments,
  and nothing of anybody else (in a group chat only their own messages).
- :func:`erase` blanks the bodies of every message of their chats (inbox
  payload and raw, outbox payload, uploaded media), anonymizes their
  requests (kept for statistics: category, department, status, dates;
  without text, photo, address or a link to them), drops their
  subscriptions and follows, unlinks and removes their channel accounts and
  clears their name, ID hash and contact. Audited as ``privacy_erased``.
- :func:`purge` blanks message bodies older than ``privacy.retention_days``
  and deletes uploaded photos as old that no report keeps (a scheduled job in
  :class:`bot.runtime.Plaza`, and ``plaza privacy purge``).

A blanked message keeps its row, times and ids (so counts and response
times stay true) and carries ``"erased": true``. Everything runs in the
caller's transaction except :func:`purge`, which commits in batches.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Text,
    and_,
    cast,
    delete,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from bot import audit
from bot.access import SYSTEM, Actor
from models import (
    Appointment,
    ChannelIdentity,
    Conversation,
    ExportToken,
    HandoffRequest,
    InboxItem,
    MediaItem,
    OutboxItem,
    RequestFollower,
    Resident,
    ServiceRequest,
    Subscription,
    VerificationFailure,
)

__all__ = ["EXPORT_LIFETIME", "claim_export", "erase", "export_link", "purge", "summary"]

RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
MEDIA = MediaItem.__table__  # type: ignore[attr-defined]
REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
APPOINTMENTS = Appointment.__table__  # type: ignore[attr-defined]
FOLLOWERS = RequestFollower.__table__  # type: ignore[attr-defined]
HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
TOKENS = ExportToken.__table__  # type: ignore[attr-defined]
FAILURES = VerificationFailure.__table__  # type: ignore[attr-defined]

EXPORT_LIFETIME = timedelta(hours=24)
ERASED_OUTBOX: Mapping[str, Any] = {"text": "", "options": [], "expects": None, "photo": None, "erased": True}
_ERASED_MARK = '%"erased"%'  # only a blanked payload has this key: a quote inside a text is escaped
_BATCH = 500


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _chats(connection: Connection, resident_id: int) -> tuple[list[int], list[tuple[str, str]], list[tuple[str, str]]]:
    """The resident's conversation ids, their (channel, chat_id) pairs, and their accounts (channel, user id)."""
    conversations = connection.execute(
        select(CONVERSATIONS.c.id, CONVERSATIONS.c.channel, CONVERSATIONS.c.chat_id).where(
            CONVERSATIONS.c.resident_id == resident_id
        )
    ).all()
    accounts = connection.execute(
        select(IDENTITIES.c.channel, IDENTITIES.c.platform_user_id).where(IDENTITIES.c.resident_id == resident_id)
    ).all()
    return (
        [row.id for row in conversations],
        [(row.channel, row.chat_id) for row in conversations],
        [(row.channel, row.platform_user_id) for row in accounts],
    )


def _own_inbox(chats: list[tuple[str, str]], accounts: list[tuple[str, str]]) -> Any:
    """Inbox rows the resident sent: from one of their accounts, in one of their chats."""
    if not chats or not accounts:
        return None
    return and_(
        tuple_(INBOX.c.channel, INBOX.c.chat_id).in_(chats),
        tuple_(INBOX.c.channel, INBOX.c.sender_id).in_(accounts),
    )


def summary(connection: Connection, resident_id: int) -> dict[str, int]:
    """How much Plaza holds about the resident: conversations, messages, requests, subscriptions."""
    conversation_ids, chats, accounts = _chats(connection, resident_id)
    own = _own_inbox(chats, accounts)
    received = connection.execute(select(INBOX.c.id).where(own)).all() if own is not None else []
    sent = (
        connection.execute(select(OUTBOX.c.id).where(OUTBOX.c.conversation_id.in_(conversation_ids))).all()
        if conversation_ids
        else []
    )
    requests = connection.execute(select(REQUESTS.c.id).where(REQUESTS.c.resident_id == resident_id)).all()
    subscriptions = connection.execute(
        select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.resident_id == resident_id)
    ).all()
    return {
        "conversations": len(conversation_ids),
        "messages": len(received) + len(sent),
        "requests": len(requests),
        "subscriptions": len(subscriptions),
    }


def export_link(connection: Connection, resident_id: int, now: datetime) -> str:
    """A new one-time token for ``/me/export/<token>``, for :data:`EXPORT_LIFETIME`."""
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(TOKENS).values(
            token_hash=_hash(token), resident_id=resident_id, created_at=now, expires_at=now + EXPORT_LIFETIME
        )
    )
    audit.record(connection, SYSTEM, "privacy_export_link", detail={"resident_id": resident_id}, now=now)
    return token


def claim_export(connection: Connection, token: str, now: datetime) -> dict[str, Any] | None:
    """Spend ``token`` and return the resident's data; None for an unknown, used or expired token."""
    row = connection.execute(
        select(TOKENS.c.id, TOKENS.c.resident_id).where(TOKENS.c.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    spent = connection.execute(
        update(TOKENS)
        .where(TOKENS.c.id == row.id, TOKENS.c.used_at.is_(None), TOKENS.c.expires_at > now)
        .values(used_at=now)
    ).rowcount
    if spent != 1:
        return None
    audit.record(connection, SYSTEM, "privacy_exported", detail={"resident_id": row.resident_id}, now=now)
    return _export(connection, row.resident_id, now)


def _when(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _export(connection: Connection, resident_id: int, now: datetime) -> dict[str, Any]:
    resident = connection.execute(
        select(
            RESIDENTS.c.name,
            RESIDENTS.c.display_name,
            RESIDENTS.c.contact,
            RESIDENTS.c.language,
            RESIDENTS.c.verified,
            RESIDENTS.c.verified_at,
            RESIDENTS.c.created_at,
        ).where(RESIDENTS.c.id == resident_id)
    ).one()
    conversation_ids, chats, accounts = _chats(connection, resident_id)
    own = _own_inbox(chats, accounts)
    received = (
        connection.execute(
            select(INBOX.c.channel, INBOX.c.chat_id, INBOX.c.payload, INBOX.c.sent_at).where(own).order_by(INBOX.c.id)
        ).all()
        if own is not None
        else []
    )
    sent = (
        connection.execute(
            select(OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload, OUTBOX.c.official_id, OUTBOX.c.created_at)
            .where(OUTBOX.c.conversation_id.in_(conversation_ids))
            .order_by(OUTBOX.c.id)
        ).all()
        if conversation_ids
        else []
    )
    messages = [
        {
            "from": "you",
            "channel": row.channel,
            "at": _when(row.sent_at),
            "text": (row.payload or {}).get("text"),
            "choice": (row.payload or {}).get("choice"),
            "photos": len((row.payload or {}).get("photos") or ()),
            "location": (row.payload or {}).get("location"),
        }
        for row in received
    ] + [
        {
            "from": "town hall" if row.official_id is not None else "bot",
            "channel": row.channel,
            "at": _when(row.created_at),
            "text": (row.payload or {}).get("text"),
        }
        for row in sent
    ]
    messages.sort(key=lambda message: message["at"] or "")
    requests = connection.execute(
        select(
            REQUESTS.c.ticket,
            REQUESTS.c.kind,
            REQUESTS.c.category,
            REQUESTS.c.department,
            REQUESTS.c.title,
            REQUESTS.c.description,
            REQUESTS.c.details,
            REQUESTS.c.address,
            REQUESTS.c.latitude,
            REQUESTS.c.longitude,
            REQUESTS.c.status,
            REQUESTS.c.created_at,
            REQUESTS.c.updated_at,
        )
        .where(REQUESTS.c.resident_id == resident_id)
        .order_by(REQUESTS.c.id)
    ).all()
    subscriptions = connection.execute(
        select(SUBSCRIPTIONS.c.topic, SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.created_at).where(
            SUBSCRIPTIONS.c.resident_id == resident_id
        )
    ).all()
    appointments = connection.execute(
        select(APPOINTMENTS.c.reference, APPOINTMENTS.c.service, APPOINTMENTS.c.starts_at, APPOINTMENTS.c.status).where(
            APPOINTMENTS.c.resident_id == resident_id
        )
    ).all()
    return {
        "exported_at": now.isoformat(),
        "resident": {
            "name": resident.name,
            "display_name": resident.display_name,
            "contact": resident.contact,
            "language": resident.language,
            "verified": bool(resident.verified),
            "verified_at": _when(resident.verified_at),
            "since": _when(resident.created_at),
        },
        "accounts": [{"channel": channel, "id": user} for channel, user in accounts],
        "conversations": len(conversation_ids),
        "messages": messages,
        "requests": [
            {
                "ticket": row.ticket,
                "kind": row.kind,
                "category": row.category,
                "department": row.department,
                "title": row.title,
                "description": row.description,
                "details": row.details,
                "address": row.address,
                "latitude": row.latitude,
                "longitude": row.longitude,
                "status": row.status,
                "created_at": _when(row.created_at),
                "updated_at": _when(row.updated_at),
            }
            for row in requests
        ],
        "subscriptions": [
            {"topic": row.topic, "channel": row.channel, "since": _when(row.created_at)} for row in subscriptions
        ],
        "appointments": [
            {
                "reference": row.reference,
                "service": row.service,
                "starts_at": _when(row.starts_at),
                "status": row.status,
            }
            for row in appointments
        ],
    }


def _blank_inbox(connection: Connection, condition: Any) -> int:
    """Replace the payload (and raw) of the matching, already processed inbox rows with a blank one."""
    rows = connection.execute(
        select(INBOX.c.id, INBOX.c.chat_id, INBOX.c.sender_id, INBOX.c.sent_at).where(
            condition, INBOX.c.status != "pending", ~cast(INBOX.c.payload, Text).like(_ERASED_MARK)
        )
    ).all()
    for row in rows:
        blank = {
            "sender_id": row.sender_id,
            "chat_id": row.chat_id,
            "sent_at": _when(row.sent_at),
            "text": None,
            "photos": [],
            "erased": True,
        }
        connection.execute(update(INBOX).where(INBOX.c.id == row.id).values(payload=blank, raw={}))
    return len(rows)


def erase(connection: Connection, resident_id: int, now: datetime, actor: Actor = SYSTEM) -> dict[str, int]:
    """Forget the resident (see the module's docstring); returns what was done, by count."""
    conversation_ids, chats, accounts = _chats(connection, resident_id)
    done = {"messages": 0, "requests": 0, "accounts": len(accounts)}
    if chats:
        chat_rows = tuple_(INBOX.c.channel, INBOX.c.chat_id).in_(chats)
        senders = tuple_(INBOX.c.channel, INBOX.c.sender_id).in_(accounts) if accounts else None
        done["messages"] += _blank_inbox(connection, or_(chat_rows, senders) if senders is not None else chat_rows)
        done["messages"] += connection.execute(
            update(OUTBOX)
            .where(tuple_(OUTBOX.c.channel, OUTBOX.c.chat_id).in_(chats), OUTBOX.c.status != "pending")
            .values(payload=dict(ERASED_OUTBOX))
        ).rowcount
        connection.execute(delete(MEDIA).where(tuple_(MEDIA.c.channel, MEDIA.c.chat_id).in_(chats)))
        connection.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id.in_(conversation_ids)).values(data={}))
        connection.execute(update(HANDOFFS).where(HANDOFFS.c.conversation_id.in_(conversation_ids)).values(text=None))
    # a place is kept only for incidents (where the streetlight is), never for a procedure's
    connection.execute(
        update(REQUESTS)
        .where(REQUESTS.c.resident_id == resident_id, REQUESTS.c.kind != "incident")
        .values(latitude=None, longitude=None)
    )
    done["requests"] = connection.execute(
        update(REQUESTS)
        .where(REQUESTS.c.resident_id == resident_id)
        .values(
            resident_id=None,
            conversation_id=None,
            title=None,
            description="",
            details=None,
            photo_ref=None,
            address=None,
        )
    ).rowcount
    connection.execute(delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.resident_id == resident_id))
    connection.execute(delete(FOLLOWERS).where(FOLLOWERS.c.resident_id == resident_id))
    connection.execute(delete(TOKENS).where(TOKENS.c.resident_id == resident_id))
    if accounts:
        connection.execute(
            delete(FAILURES).where(tuple_(FAILURES.c.channel, FAILURES.c.platform_user_id).in_(accounts))
        )
    connection.execute(delete(IDENTITIES).where(IDENTITIES.c.resident_id == resident_id))
    connection.execute(
        update(RESIDENTS)
        .where(RESIDENTS.c.id == resident_id)
        .values(name=None, display_name=None, document_hash=None, contact=None, verified=False, verified_at=None)
    )
    audit.record(connection, actor, "privacy_erased", detail={"resident_id": resident_id, **done}, now=now)
    return done


def purge(db: Engine, retention_days: int, now: datetime) -> int:
    """Blank message bodies older than ``retention_days``; returns how many. Commits every batch."""
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        with db.begin() as connection:
            ids = [
                row.id
                for row in connection.execute(
                    select(INBOX.c.id)
                    .where(
                        INBOX.c.received_at < cutoff,
                        INBOX.c.status != "pending",
                        ~cast(INBOX.c.payload, Text).like(_ERASED_MARK),
                    )
                    .limit(_BATCH)
                )
            ]
            if ids:
                total += _blank_inbox(connection, INBOX.c.id.in_(ids))
        if len(ids) < _BATCH:
            break
    with db.begin() as connection:
        # uploaded photos go too, except those a report keeps (its photo, shown to officials), stored or
        # archived from its platform (bot.media)
        kept = select(REQUESTS.c.photo_ref).where(REQUESTS.c.photo_ref.is_not(None))
        reference = literal("media:") + cast(MEDIA.c.id, String)
        archived_for_a_report = MEDIA.c.source_ref.is_not(None) & MEDIA.c.source_ref.in_(kept)
        total += connection.execute(
            delete(MEDIA).where(MEDIA.c.created_at < cutoff, reference.not_in(kept), ~archived_for_a_report)
        ).rowcount
        total += connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.created_at < cutoff,
                OUTBOX.c.status.in_(("sent", "failed", "cancelled")),
                ~cast(OUTBOX.c.payload, Text).like(_ERASED_MARK),
            )
            .values(payload=dict(ERASED_OUTBOX))
        ).rowcount
        if total:
            audit.record(
                connection, SYSTEM, "privacy_purged", detail={"messages": total, "before": cutoff.isoformat()}, now=now
            )
    return total
