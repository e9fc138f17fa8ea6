"""Linking an official's own messenger account, so that handoffs are relayed to it (:mod:`bot.relay`).

An account is ``(channel, platform_user_id)``: the Telegram user id, or the
Mastodon account id, as the channel reports senders. ``chat_id`` is where
Plaza writes to them (on both platforms, for a private chat, the same id:
the default). One account belongs to at most one official; an official may
link several (one per platform). Each change writes an audit row in the same
transaction; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, insert, select

from bot.access import CLI, Actor
from bot.audit import record
from bot.errors import Conflict, Invalid, NotFound
from bot.relay import RELAY_CHANNELS
from models import Official, OfficialIdentity

__all__ = ["Link", "link_account", "links", "unlink_account"]

OFFICIALS = Official.__table__  # type: ignore[attr-defined]
IDENTITIES = OfficialIdentity.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Link:
    """One linked account, as listed."""

    username: str
    department: str
    channel: str
    platform_user_id: str
    chat_id: str
    disabled: bool


def _official(connection: Connection, username: str) -> tuple[int, bool]:
    row = connection.execute(
        select(OFFICIALS.c.id, OFFICIALS.c.disabled).where(OFFICIALS.c.username == username)
    ).first()
    if row is None:
        raise NotFound(f"there is no official {username!r}; add them first with `plaza officials add`")
    return int(row.id), bool(row.disabled)


def _channel(channel: str) -> None:
    if channel not in RELAY_CHANNELS:
        raise NotFound(f"handoffs cannot be relayed to {channel!r}; use one of {', '.join(RELAY_CHANNELS)}")


def link_account(
    connection: Connection,
    username: str,
    channel: str,
    platform_user_id: str,
    chat_id: str | None = None,
    *,
    actor: Actor = CLI,
    now: datetime | None = None,
) -> Link:
    """Link ``username``'s account ``platform_user_id`` on ``channel``; relinking it changes only its chat.

    Raises :class:`NotFound` for an unknown official or channel and
    :class:`Conflict` when the account is another official's.
    """
    _channel(channel)
    user_id = platform_user_id.strip()
    if not user_id:
        raise Invalid("the account id is empty; give the platform's numeric id of the official's account")
    chat = (chat_id or "").strip() or user_id
    official_id, disabled = _official(connection, username)
    owner = connection.execute(
        select(IDENTITIES.c.id, IDENTITIES.c.official_id).where(
            IDENTITIES.c.channel == channel, IDENTITIES.c.platform_user_id == user_id
        )
    ).first()
    if owner is not None and owner.official_id != official_id:
        other = connection.execute(select(OFFICIALS.c.username).where(OFFICIALS.c.id == owner.official_id)).scalar()
        raise Conflict(f"the {channel} account {user_id} is linked to {other}; unlink it there first")
    now = now or datetime.now(UTC)
    if owner is None:
        connection.execute(
            insert(IDENTITIES).values(
                official_id=official_id, channel=channel, platform_user_id=user_id, chat_id=chat, created_at=now
            )
        )
    else:
        connection.execute(IDENTITIES.update().where(IDENTITIES.c.id == owner.id).values(chat_id=chat))
    record(
        connection,
        actor,
        "link_account",
        detail={"official": username, "channel": channel, "platform_user_id": user_id, "chat_id": chat},
        now=now,
    )
    return Link(username, _department(connection, official_id), channel, user_id, chat, disabled)


def _department(connection: Connection, official_id: int) -> str:
    return str(connection.execute(select(OFFICIALS.c.department).where(OFFICIALS.c.id == official_id)).scalar_one())


def unlink_account(
    connection: Connection,
    username: str,
    channel: str,
    platform_user_id: str | None = None,
    *,
    actor: Actor = CLI,
    now: datetime | None = None,
) -> int:
    """Unlink ``username``'s account(s) on ``channel`` (one, when ``platform_user_id`` is given); returns how many.

    Raises :class:`NotFound` when there was nothing to unlink.
    """
    _channel(channel)
    official_id, _ = _official(connection, username)
    where = (IDENTITIES.c.official_id == official_id) & (IDENTITIES.c.channel == channel)
    if platform_user_id is not None:
        where = where & (IDENTITIES.c.platform_user_id == platform_user_id.strip())
    removed = int(connection.execute(delete(IDENTITIES).where(where)).rowcount)
    if removed == 0:
        which = f" as {platform_user_id}" if platform_user_id else ""
        raise NotFound(f"{username} has no {channel} account linked{which}")
    record(
        connection,
        actor,
        "unlink_account",
        detail={"official": username, "channel": channel, "platform_user_id": platform_user_id, "removed": removed},
        now=now,
    )
    return removed


def links(connection: Connection, username: str | None = None) -> list[Link]:
    """Every linked account (of one official), by official then channel."""
    query = (
        select(
            OFFICIALS.c.username,
            OFFICIALS.c.department,
            OFFICIALS.c.disabled,
            IDENTITIES.c.channel,
            IDENTITIES.c.platform_user_id,
            IDENTITIES.c.chat_id,
        )
        .join(OFFICIALS, OFFICIALS.c.id == IDENTITIES.c.official_id)
        .order_by(OFFICIALS.c.username, IDENTITIES.c.channel, IDENTITIES.c.id)
    )
    if username is not None:
        _official(connection, username)
        query = query.where(OFFICIALS.c.username == username)
    return [
        Link(row.username, row.department, row.channel, row.platform_user_id, row.chat_id, bool(row.disabled))
        for row in connection.execute(query)
    ]
