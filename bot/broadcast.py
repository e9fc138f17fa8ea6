"""Broadcasts: an official's announcement to a topic, fanned out through the outbox.

The life of one broadcast (``broadcasts.status``)::

    draft ──start──► sending ──every row settled──► done
      └──────cancel──────┴──► cancelled  (pending rows cancelled; sent ones stay sent)

- :func:`create_broadcast` checks the topic and that there is a text in every
  one of the town's languages, and stores a ``draft`` with what will be sent,
  rendered once (``messages.yaml``'s ``broadcast`` and ``broadcast_public``):
  what the official previewed is what goes out.
- :func:`preview` says what the subscribers of each language will read and how
  many recipients there are per channel.
- :func:`start_broadcast` writes one outbox row per subscriber, at
  :data:`~models.PRIORITY_BROADCAST` (replies to residents always go first:
  the dispatcher orders by priority and interrupts a broadcast round when a
  reply is committed). Each recipient gets the text in their own language
  (``residents.language``; the town's default when it is not one of the
  broadcast's). The expansion runs in batches of subscriptions in id order,
  each batch in one transaction that also moves the broadcast's cursor
  (``expanded_through``): a crash loses at most the uncommitted batch, and
  running :func:`start_broadcast` again resumes after the cursor. On top of
  that the outbox is unique on ``(broadcast_id, channel, chat_id)`` and rows
  are inserted with ``ON CONFLICT DO NOTHING``, so two expansions running at
  once, or a resident subscribed twice to the same chat, still give exactly
  one message per recipient.
- :func:`progress` counts the broadcast's rows (sent / failed / cancelled /
  pending of ``total``) and estimates the time left from the rate observed so
  far; :func:`undelivered` lists the recipients whose message failed, with the
  platform's reason; :func:`cancel_broadcast` cancels what is still pending.

Public posts: Mastodon (300 requests per 5 minutes) and X (15 DMs per 15
minutes) cannot DM thousands. The rule: on every *enabled* Mastodon and X
channel the announcement is also posted once publicly by the town's account
(an outbox row with ``payload.public`` and chat ``"public"``; the adapter
posts a public status or a tweet, both languages in one post, split into a
thread when long), and the private messages there go only to residents who
opted in, i.e. subscribed to the topic on that channel. Telegram has no
public timeline: when ``channels.telegram.channel`` names the town's Telegram
channel (``"@jun_avisos"``, the bot one of its admins) the announcement is
also sent there; every Telegram and web chat subscriber is messaged.

When a platform says an account is gone (:class:`~bot.errors.Undeliverable`
with ``gone``), the dispatcher calls :func:`forget_gone` in the transaction
that marks the row failed: every subscription of that chat is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, Engine, and_, bindparam, case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.config import Config
from bot.errors import PlazaError
from bot.flows import MESSAGES_FILE, Text, load_messages
from bot.outbox import Reply
from bot.templates import render
from models import PRIORITY_BROADCAST, Broadcast, OutboxItem, Resident, Subscription
from models.base import UTCDateTime

__all__ = [
    "BATCH",
    "MAX_TEXT",
    "PUBLIC_CHANNELS",
    "PUBLIC_CHAT",
    "BroadcastError",
    "BroadcastPreview",
    "BroadcastProgress",
    "BroadcastSummary",
    "Undelivered",
    "UnknownBroadcast",
    "cancel_broadcast",
    "create_broadcast",
    "eta_text",
    "forget_gone",
    "list_broadcasts",
    "preview",
    "progress",
    "resume_broadcasts",
    "settle_broadcasts",
    "start_broadcast",
    "undelivered",
]

BROADCASTS = Broadcast.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
SUBSCRIPTIONS = Subscription.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]

BATCH = 2000
"""Subscriptions expanded per transaction."""
MAX_TEXT = 4000
"""Characters an announcement may have in one language (adapters split long messages)."""
PUBLIC_CHANNELS = ("mastodon", "x")
"""Platforms where the town's account also posts the announcement publicly."""
PUBLIC_CHAT = "public"
"""The chat id of a public post's outbox row."""


class BroadcastError(PlazaError):
    """A broadcast cannot be made as asked; ``problem`` says why and ``hint`` what to do.

    ``missing`` names the languages without a text, when that is the problem.
    """

    def __init__(self, problem: str, hint: str = "", *, missing: tuple[str, ...] = ()) -> None:
        self.problem = problem
        self.hint = hint
        self.missing = missing
        super().__init__(f"{problem} — {hint}" if hint else problem)


class UnknownBroadcast(BroadcastError):
    """No broadcast has this id."""

    def __init__(self, broadcast_id: int) -> None:
        self.broadcast_id = broadcast_id
        super().__init__(f"there is no broadcast {broadcast_id}", "`plaza broadcast list` shows them")


@dataclass(frozen=True, slots=True)
class BroadcastPreview:
    """What a broadcast will send, before it is sent.

    ``messages``: language -> the message its subscribers read. ``recipients``:
    channel -> how many private messages. ``languages``: language -> how many
    recipients read it. ``public``: channel -> the public post's text.
    """

    broadcast_id: int
    topic: str
    messages: Mapping[str, str]
    recipients: Mapping[str, int]
    languages: Mapping[str, int]
    public: Mapping[str, str]

    @property
    def total(self) -> int:
        """Outbox rows the broadcast will have: private messages plus public posts."""
        return sum(self.recipients.values()) + len(self.public)


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    """How far a broadcast got.

    ``total`` is exact once ``expanded`` (before, an estimate from the
    subscriber count). ``rate`` is messages per second observed between the
    first and the last one sent (None before two were sent); ``eta_seconds``
    the time left for ``pending`` at that rate. ``status`` is the stored one,
    except that a ``sending`` broadcast with every row settled reads ``done``.
    """

    broadcast_id: int
    topic: str
    status: str
    total: int
    sent: int
    failed: int
    cancelled: int
    pending: int
    expanded: bool
    started_at: datetime | None
    finished_at: datetime | None
    rate: float | None
    eta_seconds: float | None

    @property
    def settled(self) -> int:
        """Rows that will not change any more (sent, failed or cancelled)."""
        return self.sent + self.failed + self.cancelled

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled")


@dataclass(frozen=True, slots=True)
class BroadcastSummary:
    """One line of :func:`list_broadcasts`."""

    broadcast_id: int
    topic: str
    status: str
    author: str
    total: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A recipient the platform refused, with its reason (``outbox.last_error``)."""

    channel: str
    chat_id: str
    reason: str


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregates (min/max) come back as text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- creating and previewing -------------------------------------------------------


def create_broadcast(
    connection: Connection,
    config: Config,
    *,
    topic: str,
    texts: Mapping[str, str],
    author: str,
    messages: Mapping[str, Text] | None = None,
) -> int:
    """Store a draft broadcast and return its id; nothing is sent yet.

    ``topic`` must be a key of config.yaml's ``topics``; ``texts`` must hold a
    non-empty text (at most :data:`MAX_TEXT` characters) for every language of
    the town and no other. ``author`` is the official's username or ``"cli"``.
    ``messages`` is the bot's wording (default: ``messages.yaml`` of the flows
    folder). Raises :class:`BroadcastError` naming what is wrong.
    """
    if topic not in config.topics:
        known = ", ".join(config.topics) or "none are configured"
        raise BroadcastError(f"unknown topic `{topic}`", f"use one of: {known} (config.yaml, topics)")
    cleaned = {language: str(text).strip() for language, text in texts.items() if text is not None}
    extra = sorted(set(cleaned) - set(config.languages))
    if extra:
        raise BroadcastError(
            f"the town has no language {', '.join(extra)}", f"write the texts in {', '.join(config.languages)}"
        )
    missing = tuple(language for language in config.languages if not cleaned.get(language))
    if missing:
        raise BroadcastError(
            f"the announcement has no text in {', '.join(missing)}",
            f"every subscriber reads it in their language: write it in {', '.join(config.languages)}",
            missing=missing,
        )
    too_long = [language for language in config.languages if len(cleaned[language]) > MAX_TEXT]
    if too_long:
        raise BroadcastError(
            f"the text in {', '.join(too_long)} is longer than {MAX_TEXT} characters", "shorten it or link to a page"
        )
    if not author.strip():
        raise BroadcastError("a broadcast needs an author", "the official's username, or cli")
    wording = messages if messages is not None else load_messages(config.flows_dir / MESSAGES_FILE, config.languages)
    rendered = _render(config, wording, topic, cleaned)
    now = _now()
    broadcast_id = connection.execute(
        BROADCASTS.insert()
        .values(
            topic=topic,
            texts=cleaned,
            rendered=rendered,
            author=author.strip(),
            status="draft",
            total=0,
            expanded_through=0,
            created_at=now,
        )
        .returning(BROADCASTS.c.id)
    ).scalar_one()
    return int(broadcast_id)


def _render(config: Config, wording: Mapping[str, Text], topic: str, texts: Mapping[str, str]) -> dict[str, Any]:
    label = config.topics[topic].label
    private = {
        language: render(
            wording["broadcast"][language],
            {"topic": label.get(language, topic), "text": texts[language], "town": config.town_name},
        )
        for language in config.languages
    }
    post = "\n\n".join(
        render(wording["broadcast_public"][language], {"topic": label.get(language, topic), "text": texts[language]})
        for language in config.languages
    )
    chats = {
        name: PUBLIC_CHAT
        for name in PUBLIC_CHANNELS
        if (settings := config.channels.get(name)) is not None and settings.enabled
    }
    telegram = config.channels.get("telegram")
    if telegram is not None and telegram.enabled and telegram.settings.get("channel"):
        chats["telegram"] = str(telegram.settings["channel"])  # the town's Telegram channel: an ordinary send
    return {
        "private": private,
        "public": {name: post for name in chats},
        "public_chats": chats,
        "default": config.default_language,
    }


def _broadcast(connection: Connection, broadcast_id: int, *, lock: bool = False) -> Any:
    query = select(BROADCASTS).where(BROADCASTS.c.id == broadcast_id)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise UnknownBroadcast(broadcast_id)
    return row


def _recipients(topic: str) -> Any:
    """The subscriptions of ``topic`` joined with their resident's language."""
    return (
        select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.chat_id, RESIDENTS.c.language)
        .join(RESIDENTS, RESIDENTS.c.id == SUBSCRIPTIONS.c.resident_id)
        .where(SUBSCRIPTIONS.c.topic == topic)
    )


def _language_of(rendered: Mapping[str, Any]) -> Any:
    """SQL: the resident's language if the broadcast has it, else its default."""
    others = [language for language in rendered["private"] if language != rendered["default"]]
    if not others:
        return literal(rendered["default"])
    return case(
        *((RESIDENTS.c.language == language, literal(language)) for language in others),
        else_=literal(rendered["default"]),
    )


def preview(connection: Connection, broadcast_id: int) -> BroadcastPreview:
    """What each language's subscribers will read, and how many recipients per channel.

    Counts distinct chats, as the expansion sends them (a chat subscribed twice gets one message).
    """
    row = _broadcast(connection, broadcast_id)
    rendered = row.rendered
    recipients = (
        _recipients(row.topic)
        .with_only_columns(
            SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.chat_id, func.max(_language_of(rendered)).label("language")
        )
        .group_by(SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.chat_id)
    )
    chats = recipients.subquery()
    per_channel = connection.execute(
        select(chats.c.channel, func.count()).group_by(chats.c.channel).order_by(chats.c.channel)
    ).all()
    per_language = connection.execute(
        select(chats.c.language, func.count()).group_by(chats.c.language).order_by(chats.c.language)
    ).all()
    return BroadcastPreview(
        broadcast_id=broadcast_id,
        topic=row.topic,
        messages=dict(rendered["private"]),
        recipients={str(channel): int(count) for channel, count in per_channel},
        languages={language: 0 for language in rendered["private"]}
        | {str(language): int(count) for language, count in per_language},
        public=dict(rendered["public"]),
    )


# --- sending -----------------------------------------------------------------------


def _insert(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(OUTBOX)


_COLUMNS = (
    "broadcast_id",
    "channel",
    "chat_id",
    "payload",
    "priority",
    "status",
    "attempts",
    "platform_message_ids",
    "next_attempt_at",
    "created_at",
)


def _begin(connection: Connection, row: Any, now: datetime) -> None:
    """draft -> sending: the estimate of the total, and the public posts (first, so they go first)."""
    rendered = row.rendered
    subscribers = connection.execute(
        select(func.count()).select_from(
            _recipients(row.topic)
            .with_only_columns(SUBSCRIPTIONS.c.channel, SUBSCRIPTIONS.c.chat_id)
            .distinct()
            .subquery()
        )
    ).scalar_one()
    for channel, text in rendered["public"].items():
        connection.execute(
            _insert(connection)
            .values(
                broadcast_id=row.id,
                channel=channel,
                chat_id=rendered["public_chats"].get(channel, PUBLIC_CHAT),
                payload={**Reply(text=text).payload(), "public": True},
                priority=PRIORITY_BROADCAST,
                status="pending",
                attempts=0,
                platform_message_ids=[],
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
    connection.execute(
        update(BROADCASTS)
        .where(BROADCASTS.c.id == row.id)
        .values(status="sending", started_at=now, total=int(subscribers) + len(rendered["public"]))
    )


def _expand_batch(connection: Connection, broadcast_id: int, batch: int) -> int | None:
    """Write the next batch of recipients and move the cursor; None when there is nothing left to do."""
    row = _broadcast(connection, broadcast_id, lock=True)
    if row.status != "sending" or row.expanded_at is not None:
        return None
    now = _now()
    following = (
        select(SUBSCRIPTIONS.c.id)
        .where(SUBSCRIPTIONS.c.topic == row.topic, SUBSCRIPTIONS.c.id > row.expanded_through)
        .order_by(SUBSCRIPTIONS.c.id)
        .limit(batch)
        .subquery()
    )
    upto = connection.execute(select(func.max(following.c.id))).scalar_one()
    if upto is None:  # every subscriber is in the outbox: the total is now exact
        total = connection.execute(
            select(func.count()).select_from(OUTBOX).where(OUTBOX.c.broadcast_id == broadcast_id)
        ).scalar_one()
        connection.execute(
            update(BROADCASTS).where(BROADCASTS.c.id == broadcast_id).values(expanded_at=now, total=int(total))
        )
        return None
    rendered = row.rendered
    payloads = {language: Reply(text=text).payload() for language, text in rendered["private"].items()}
    default = rendered["default"]
    others = [language for language in payloads if language != default]
    payload: Any = bindparam("p_default", payloads[default], type_=JSON)
    if others:
        payload = case(
            *(
                (RESIDENTS.c.language == language, bindparam(f"p_{language}", payloads[language], type_=JSON))
                for language in others
            ),
            else_=payload,
        )
    chosen = (
        _recipients(row.topic)
        .with_only_columns(
            literal(broadcast_id),
            SUBSCRIPTIONS.c.channel,
            SUBSCRIPTIONS.c.chat_id,
            payload,
            literal(PRIORITY_BROADCAST),
            literal("pending"),
            literal(0),
            bindparam("no_ids", [], type_=JSON),
            bindparam("now_due", now, type_=UTCDateTime()),
            bindparam("now_created", now, type_=UTCDateTime()),
        )
        .where(and_(SUBSCRIPTIONS.c.id > row.expanded_through, SUBSCRIPTIONS.c.id <= upto))
    )
    # RETURNING counts what was written (psycopg reports no rowcount for INSERT ... SELECT here)
    written = len(
        connection.execute(
            _insert(connection).from_select(_COLUMNS, chosen).on_conflict_do_nothing().returning(OUTBOX.c.id)
        ).all()
    )
    connection.execute(update(BROADCASTS).where(BROADCASTS.c.id == broadcast_id).values(expanded_through=upto))
    return written


def start_broadcast(target: Engine | Connection, broadcast_id: int, *, batch: int = BATCH) -> int:
    """Send a draft broadcast, or resume one whose expansion was interrupted; returns rows written now.

    With an :class:`Engine`, the start and each batch are their own
    transaction (what a long expansion wants: the dispatchers start sending
    while it goes on, and a crash keeps every committed batch). With a
    :class:`Connection`, everything happens in the caller's transaction.
    Calling it again is harmless: a finished expansion writes nothing, a
    cancelled broadcast is not restarted. Raises :class:`UnknownBroadcast`.
    """
    if isinstance(target, Connection):
        return _start(target, broadcast_id, batch)
    with target.begin() as connection:
        _start(connection, broadcast_id, 0)
    written = 0
    while True:
        with target.begin() as connection:
            step = _expand_batch(connection, broadcast_id, batch)
        if step is None:
            return written
        written += step


def _start(connection: Connection, broadcast_id: int, batch: int) -> int:
    row = _broadcast(connection, broadcast_id, lock=True)
    if row.status == "draft":
        _begin(connection, row, _now())
    written = 0
    while batch:
        step = _expand_batch(connection, broadcast_id, batch)
        if step is None:
            break
        written += step
    return written


def resume_broadcasts(engine: Engine, *, batch: int = BATCH) -> int:
    """Finish the expansion of every ``sending`` broadcast that was interrupted; returns rows written.

    ``plaza serve`` runs it at start, so a ``send`` that crashed half way is
    completed (nobody twice, nobody lost). Running at the same time as the
    interrupted expansion itself is safe too (see the module docstring).
    """
    with engine.connect() as connection:
        unfinished = connection.execute(
            select(BROADCASTS.c.id)
            .where(BROADCASTS.c.status == "sending", BROADCASTS.c.expanded_at.is_(None))
            .order_by(BROADCASTS.c.id)
        ).scalars()
        ids = [int(broadcast_id) for broadcast_id in unfinished]
    return sum(start_broadcast(engine, broadcast_id, batch=batch) for broadcast_id in ids)


def cancel_broadcast(connection: Connection, broadcast_id: int) -> int:
    """Cancel a draft or sending broadcast: its pending rows become ``cancelled``; returns how many.

    Rows already sent (or failed) stay as they are, and an expansion still
    running stops at its next batch. A broadcast already done or cancelled is
    left alone (0). Raises :class:`UnknownBroadcast`.
    """
    row = _broadcast(connection, broadcast_id, lock=True)
    if row.status not in ("draft", "sending"):
        return 0
    now = _now()
    connection.execute(
        update(BROADCASTS).where(BROADCASTS.c.id == broadcast_id).values(status="cancelled", cancelled_at=now)
    )
    cancelled = connection.execute(
        update(OUTBOX)
        .where(OUTBOX.c.broadcast_id == broadcast_id, OUTBOX.c.status == "pending")
        .values(status="cancelled", last_error="the broadcast was cancelled")
    ).rowcount
    return int(cancelled or 0)


def forget_gone(connection: Connection, channel: str, chat_id: str) -> int:
    """Remove every subscription of a chat whose account the platform says is gone; returns how many."""
    removed = connection.execute(
        delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.channel == channel, SUBSCRIPTIONS.c.chat_id == chat_id)
    ).rowcount
    return int(removed or 0)


# --- watching ----------------------------------------------------------------------


def progress(connection: Connection, broadcast_id: int) -> BroadcastProgress:
    """Sent / failed / cancelled / pending of ``total``, and the ETA at the observed rate (read only)."""
    row = _broadcast(connection, broadcast_id)
    counts: dict[str, int] = dict(
        connection.execute(
            select(OUTBOX.c.status, func.count()).where(OUTBOX.c.broadcast_id == broadcast_id).group_by(OUTBOX.c.status)
        ).all()
    )
    sent, failed = int(counts.get("sent", 0)), int(counts.get("failed", 0))
    cancelled, pending = int(counts.get("cancelled", 0)), int(counts.get("pending", 0))
    first, last = connection.execute(
        select(func.min(OUTBOX.c.sent_at), func.max(OUTBOX.c.sent_at)).where(
            OUTBOX.c.broadcast_id == broadcast_id, OUTBOX.c.status == "sent"
        )
    ).one()
    first, last = _aware(first), _aware(last)
    expanded = row.expanded_at is not None
    rows = sent + failed + cancelled + pending
    total = rows if expanded else max(int(row.total), rows)
    rate: float | None = None
    if first is not None and last is not None and sent >= 2 and last > first:
        rate = (sent - 1) / (last - first).total_seconds()
    still = total - sent - failed - cancelled
    eta = still / rate if rate else None
    status = row.status
    finished = _aware(row.finished_at)
    if status == "sending" and expanded and pending == 0:
        status, finished = "done", finished or last or _aware(row.expanded_at)
    return BroadcastProgress(
        broadcast_id=broadcast_id,
        topic=row.topic,
        status=status,
        total=total,
        sent=sent,
        failed=failed,
        cancelled=cancelled,
        pending=pending,
        expanded=expanded,
        started_at=_aware(row.started_at),
        finished_at=finished if status == "done" else _aware(row.finished_at),
        rate=rate,
        eta_seconds=None if status == "cancelled" else 0.0 if status == "done" else eta,
    )


def undelivered(connection: Connection, broadcast_id: int, limit: int = 100) -> list[Undelivered]:
    """The recipients whose message failed, oldest first, with the platform's reason."""
    rows = connection.execute(
        select(OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.last_error)
        .where(OUTBOX.c.broadcast_id == broadcast_id, OUTBOX.c.status == "failed")
        .order_by(OUTBOX.c.id)
        .limit(limit)
    ).all()
    return [Undelivered(channel=r.channel, chat_id=r.chat_id, reason=r.last_error or "") for r in rows]


def settle_broadcasts(connection: Connection) -> int:
    """Mark ``done`` every sending broadcast that is fully expanded and has nothing pending; returns how many."""
    pending = select(OUTBOX.c.id).where(OUTBOX.c.broadcast_id == BROADCASTS.c.id, OUTBOX.c.status == "pending")
    candidates = connection.execute(
        select(BROADCASTS.c.id).where(
            BROADCASTS.c.status == "sending", BROADCASTS.c.expanded_at.is_not(None), ~pending.exists()
        )
    ).all()
    for (broadcast_id,) in candidates:
        last = _aware(
            connection.execute(
                select(func.max(OUTBOX.c.sent_at)).where(OUTBOX.c.broadcast_id == broadcast_id)
            ).scalar_one()
        )
        connection.execute(
            update(BROADCASTS)
            .where(BROADCASTS.c.id == broadcast_id, BROADCASTS.c.status == "sending")
            .values(status="done", finished_at=last or _now())
        )
    return len(candidates)


def list_broadcasts(connection: Connection, limit: int = 50) -> list[BroadcastSummary]:
    """The newest broadcasts first; a ``sending`` one with every row settled reads ``done`` (as in :func:`progress`)."""
    pending = select(OUTBOX.c.id).where(OUTBOX.c.broadcast_id == BROADCASTS.c.id, OUTBOX.c.status == "pending")
    status = case(
        (
            and_(BROADCASTS.c.status == "sending", BROADCASTS.c.expanded_at.is_not(None), ~pending.exists()),
            literal("done"),
        ),
        else_=BROADCASTS.c.status,
    ).label("status")
    rows = connection.execute(
        select(
            BROADCASTS.c.id,
            BROADCASTS.c.topic,
            status,
            BROADCASTS.c.author,
            BROADCASTS.c.total,
            BROADCASTS.c.created_at,
        )
        .order_by(BROADCASTS.c.id.desc())
        .limit(limit)
    ).all()
    return [
        BroadcastSummary(
            broadcast_id=row.id,
            topic=row.topic,
            status=row.status,
            author=row.author,
            total=row.total,
            created_at=_aware(row.created_at) or datetime.now(UTC),
        )
        for row in rows
    ]


def eta_text(seconds: float | None) -> str:
    """``1h 05m``, ``3m 20s``, ``12s``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    left = timedelta(seconds=round(seconds))
    hours, rest = divmod(int(left.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"
