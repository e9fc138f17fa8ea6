"""What a ``blackout`` run did, measured from the platforms' records (what residents got) and the database.

- **lost**: a message the platform delivered (a 2xx, or a Mastodon post) that
  is not in the inbox processed, or one never accepted within the platforms'
  redelivery time;
- **doubled**: a message whose step wrote more replies than its line of the
  script has (processed twice). Copies a platform received more often than
  the outbox sent them are counted apart: ``resent_at_crash`` (the send in
  flight when its sender was killed, sent again on recovery: Telegram and X
  take no idempotency key) and ``doubled_deliveries`` (any other, e.g. a
  send retried after a timeout although the platform had it);
- **order violations**: a chat whose messages were processed out of arrival
  order, whose replies were written out of their messages' order, or that a
  platform received in another order than the outbox's; a chat whose replies
  are not, text for text, those the script gets on the web chat is counted
  apart (``different_replies``: a message misread, or steps run out of order);
- **after takeover**: a bot message (not an official's, not a broadcast)
  sent to a taken-over chat after the takeover returned.
"""

from __future__ import annotations

import hmac
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.bench.blackout_drive import Driven
from bot.bench.blackout_setup import Platforms
from bot.bench.blackout_trace import SCRIPT, Trace
from bot.config import Config
from bot.inbox import accept
from bot.messages import InboundMessage
from models import InboxItem, OutboxItem
from models.db import Database
from models.rawsql import from_db_json

__all__ = ["Outcome", "measure", "percentile", "reference_replies"]

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
FLOORS = {"telegram": 30.0, "mastodon": 1.0, "x": 15 / 900}
"""Each platform's own send rate (messages/s): the floor a broadcast cannot beat."""
CRASH_WINDOW = 3.0
"""Seconds around the kill within which a second copy counts as the send that was in flight."""


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def reference_replies(config: Config) -> list[list[str]]:
    """The bot's replies to each line of :data:`SCRIPT`, said in order by one resident (embedded processor)."""
    from bot.catalog import FlowCatalog
    from bot.engine import Engine
    from bot.processor import Processor

    with tempfile.TemporaryDirectory(prefix="plaza-reference-") as folder:
        url = f"sqlite:///{Path(folder) / 'reference.sqlite3'}"
        database = Database(url)
        database.upgrade()
        try:
            local = replace(config, database_url=url)
            processor = Processor(database.writer, Engine(local, FlowCatalog(local, database.writer)), ["web"])
            replies: list[list[str]] = []
            for number, said in enumerate(SCRIPT):
                message = InboundMessage(
                    channel="web",
                    platform_message_id=f"reference:{number}",
                    sender_id="reference",
                    chat_id="reference",
                    sent_at=datetime.now(UTC),
                    text=said,
                    language="es",
                )
                accept(database.writer, [message])
                while processor.run_once():
                    pass
                with database.writer.connect() as connection:
                    rows = connection.execute(
                        select(OUTBOX.c.payload).where(OUTBOX.c.chat_id == "reference").order_by(OUTBOX.c.id)
                    ).all()
                texts = [str(from_db_json(row.payload)["text"]) for row in rows]
                replies.append(texts[sum(len(r) for r in replies) :])
            return replies
        finally:
            database.dispose()


@dataclass
class Outcome:
    mode: str
    messages: int = 0
    lost: int = 0
    doubled: int = 0
    doubled_deliveries: int = 0
    """Copies a platform received that no sent row claims, away from the kill (a send retried after a timeout)."""
    resent_at_crash: int = 0
    left_sending: int = 0
    """Rows still ``sending`` after every process stopped (SIGTERM): a send in flight was abandoned."""
    """Copies a platform received twice because their send was in flight when its process was killed."""
    out_of_order: int = 0
    after_takeover: int = 0
    different_replies: int = 0
    """Chats (not taken over) whose replies, in order, are not the ones the script gets on the web chat."""
    unanswered: int = 0
    """Valid messages (not in a taken-over chat) with no reply written."""
    undelivered_replies: dict[str, int] = field(default_factory=dict)
    """Replies still waiting at the end, per channel (platform pacing)."""
    limit_violations: dict[str, int] = field(default_factory=dict)
    malformed_refused: int = 0
    malformed_total: int = 0
    takeovers: int = 0
    takeover_misses: int = 0
    processing: list[float] = field(default_factory=list)
    pacing: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    refused_tries: int = 0
    inbox_drain: float = float("nan")
    reply_drain: float = float("nan")
    broadcast: dict[str, tuple[int, int, int, float]] = field(default_factory=dict)
    """channel -> (recipients, sent, failed, seconds from the broadcast's start to its last send)."""
    peak_rss: float = 0.0
    mean_cpu: float = 0.0
    problems: list[str] = field(default_factory=list)
    """The first few findings, for a failing test's message."""

    def zeros(self) -> dict[str, int]:
        return {
            "lost": self.lost,
            "doubled": self.doubled,
            "out of order": self.out_of_order,
            "after takeover": self.after_takeover,
            "unanswered": self.unanswered,
        }

    def note(self, problem: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(problem)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def measure(
    mode: str,
    trace: Trace,
    driven: Driven,
    platforms: Platforms,
    database: Database,
    reference: list[list[str]],
) -> Outcome:
    outcome = Outcome(mode, messages=len(trace.messages))
    to_wall = datetime.now(UTC) - timedelta(seconds=time.monotonic())  # monotonic -> wall clock
    with database.reader.connect() as connection:
        inbox = {
            (row.channel, row.platform_message_id): row
            for row in connection.execute(
                select(
                    INBOX.c.id,
                    INBOX.c.channel,
                    INBOX.c.platform_message_id,
                    INBOX.c.chat_id,
                    INBOX.c.status,
                    INBOX.c.received_at,
                    INBOX.c.processed_at,
                )
            )
        }
        outbox = list(connection.execute(select(OUTBOX).order_by(OUTBOX.c.id)))
    inbox_line: dict[int, int] = {}
    taken = {key: to_wall + timedelta(seconds=at) for key, at in driven.takeovers.items()}
    outcome.takeovers, outcome.takeover_misses = len(driven.takeovers), len(driven.takeover_misses)
    for message in driven.undelivered:
        outcome.lost += 1
        outcome.note(f"{message.key}: never accepted")
    for delivery in driven.delivered.values():
        message = delivery.message
        row = inbox.get((message.channel, delivery.platform_message_id))
        if row is None or row.status != "done":
            outcome.lost += 1
            outcome.note(f"{message.key}: {'not stored' if row is None else row.status}")
            continue
        inbox_line[row.id] = message.number
    bot_rows = [r for r in outbox if r.official_id is None and r.broadcast_id is None and r.inbox_id is not None]
    by_inbox: dict[int, list[Any]] = {}
    by_chat: dict[tuple[str, str], list[Any]] = {}
    for row in bot_rows:
        by_inbox.setdefault(row.inbox_id, []).append(row)
        by_chat.setdefault((row.channel, row.chat_id), []).append(row)
    received = {row.id: _aware(row.received_at) for row in inbox.values()}
    chats_of_inbox = {row.id: (row.channel, row.chat_id) for row in inbox.values()}
    # doubled processing, unanswered, latency
    for inbox_id, line in inbox_line.items():
        rows = by_inbox.get(inbox_id, [])
        expected = len(reference[line])
        if len(rows) > expected:
            outcome.doubled += 1
            got = [str(from_db_json(r.payload)["text"])[:40] for r in rows]
            outcome.note(f"inbox {inbox_id}: {len(rows)} replies for line {line} (expected {expected}): {got}")
        if chats_of_inbox[inbox_id] in taken:
            continue
        if not rows:
            outcome.unanswered += 1
            outcome.note(f"inbox {inbox_id} ({chats_of_inbox[inbox_id]}): no reply")
            continue
        first = rows[0]
        outcome.processing.append((_aware(first.created_at) - received[inbox_id]).total_seconds())
        if first.sent_at is not None:
            outcome.pacing.append((_aware(first.sent_at) - _aware(first.created_at)).total_seconds())
    # order: each chat's messages processed in arrival order (one commit may hold several: ties are fine)
    processed_by_chat: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
    for row in inbox.values():
        if row.processed_at is not None:
            processed_by_chat.setdefault((row.channel, row.chat_id), []).append((row.id, _aware(row.processed_at)))
    for chat, done_at in processed_by_chat.items():
        times = [at for _, at in sorted(done_at)]
        if times != sorted(times):
            outcome.out_of_order += 1
            outcome.note(f"{chat}: messages processed out of arrival order")
    # and each untouched chat's replies are the script's, in the script's order
    lines_by_chat: dict[tuple[str, str], list[int]] = {}
    for inbox_id, line in sorted(inbox_line.items()):
        lines_by_chat.setdefault(chats_of_inbox[inbox_id], []).append(line)
    for chat, lines in lines_by_chat.items():
        rows = by_chat.get(chat, [])
        if [r.inbox_id for r in rows] != sorted(r.inbox_id for r in rows):
            outcome.out_of_order += 1
            outcome.note(f"{chat}: replies written out of order")
            continue
        if chat in taken:
            continue
        if lines != sorted(lines):
            outcome.out_of_order += 1
            outcome.note(f"{chat}: the script's lines were stored out of order: {lines}")
            continue
        expected_texts = [text for line in lines for text in reference[line]]
        if [str(from_db_json(r.payload)["text"]) for r in rows] != expected_texts:
            outcome.different_replies += 1
            shown = [(r.inbox_id, str(from_db_json(r.payload)["text"])[:30]) for r in rows]
            wanted = [text[:30] for text in expected_texts]
            outcome.note(f"{chat}: not the script's replies in order (lines {lines}): got {shown}, expected {wanted}")
    # after takeover: from the database (sent after the takeover) and from Telegram's own record
    sent_rows = {r.id: r for r in outbox if r.status == "sent"}
    bot_ids = {r.id for r in bot_rows}
    for row in bot_rows:
        at = taken.get((row.channel, row.chat_id))
        if at is not None and row.status == "sent" and row.sent_at is not None and _aware(row.sent_at) > at:
            outcome.after_takeover += 1
            outcome.note(f"outbox {row.id} to {row.channel}:{row.chat_id} sent after the takeover")
    message_row: dict[str, int] = {}
    for row in outbox:
        if row.channel == "telegram" and row.status == "sent":
            for platform_id in from_db_json(row.platform_message_ids) or []:
                message_row[str(platform_id)] = row.id
    in_flight_rows: dict[tuple[str, str], int] = {}
    for row in outbox:
        if row.status == "sending":
            in_flight_rows[(row.channel, row.chat_id)] = in_flight_rows.get((row.channel, row.chat_id), 0) + 1
    outcome.left_sending = sum(in_flight_rows.values())
    delivered_telegram: dict[int, list[tuple[float, int | None]]] = {}
    for copy in platforms.telegram.sent():
        delivered_telegram.setdefault(copy.chat_id, []).append((copy.at, message_row.get(str(copy.message_id))))
    first_try = {(d.message.channel, d.platform_message_id): d.first_try for d in driven.delivered.values()}
    platform_of_inbox = {row.id: key for key, row in inbox.items()}
    for chat_id, deliveries in delivered_telegram.items():
        chat = ("telegram", str(chat_id))
        unclaimed = [when for when, claimed in deliveries if claimed is None]
        in_flight = in_flight_rows.get(chat, 0)  # accepted by the platform, not marked sent when Plaza stopped
        for when in unclaimed[in_flight:] if len(unclaimed) > in_flight else ():
            # a copy no sent row claims: its row was sent again. In flight when the sender was killed it is the
            # outbox's one documented double (Telegram takes no idempotency key); at any other time, a bug.
            if driven.killed_at is not None and abs(when - driven.killed_at) <= CRASH_WINDOW:
                outcome.resent_at_crash += 1
            else:
                outcome.doubled_deliveries += 1
                outcome.note(f"{chat}: a message no outbox row claims, {when - driven.started:.1f} s into the run")
        replies = [claimed for _, claimed in deliveries if claimed is not None and claimed in bot_ids]
        if replies != sorted(replies):
            outcome.out_of_order += 1
            outcome.note(f"{chat}: Telegram received the replies in another order")
        at_taken = driven.takeovers.get(chat)
        for when, claimed in deliveries:
            if at_taken is None or claimed is None or claimed not in bot_ids or when <= at_taken:
                continue
            sent_at = sent_rows[claimed].sent_at
            if not (sent_at is not None and _aware(sent_at) > taken[chat]):  # not counted above
                outcome.after_takeover += 1
                outcome.note(f"{chat}: Telegram got bot message {claimed} after the takeover")
        for when, claimed in deliveries:
            if claimed is None or claimed not in bot_ids:
                continue
            inbox_id = sent_rows[claimed].inbox_id
            key = platform_of_inbox.get(inbox_id)
            if key in first_try and inbox_id in inbox_line and by_inbox[inbox_id][0].id == claimed:
                outcome.end_to_end.append(when - first_try[key])
    x_sent = sum(len(from_db_json(r.platform_message_ids) or []) for r in outbox if r.channel == "x" and not _public(r))
    if len(platforms.x.sent) > x_sent + sum(n for (c, _), n in in_flight_rows.items() if c == "x"):
        killed = None if driven.killed_at is None else (to_wall + timedelta(seconds=driven.killed_at)).timestamp()
        near = sum(1 for dm in platforms.x.sent if killed is not None and abs(dm.at - killed) <= CRASH_WINDOW)
        extra = len(platforms.x.sent) - x_sent - sum(n for (c, _), n in in_flight_rows.items() if c == "x")
        outcome.resent_at_crash += min(extra, near)
        if extra > near:
            outcome.doubled_deliveries += extra - near
            outcome.note(f"X received {len(platforms.x.sent)} DMs, the outbox sent {x_sent}")
    # pacing left over, limits, malformed
    for row in outbox:
        if row.broadcast_id is None and row.status in ("pending", "sending"):
            outcome.undelivered_replies[row.channel] = outcome.undelivered_replies.get(row.channel, 0) + 1
    bot_token = platforms.environment()["MASTODON_ACCESS_TOKEN"]
    mastodon_429 = sum(
        1
        for _, _, _, status, used in platforms.mastodon.requests
        if status == 429 and hmac.compare_digest(str(used), bot_token)
    )
    outcome.limit_violations = {
        "telegram": platforms.telegram.flood_refused,
        "mastodon": mastodon_429,
        "x": platforms.x.limit_refused,
    }
    outcome.malformed_total = len(driven.malformed)
    outcome.malformed_refused = sum(1 for _, status in driven.malformed if status in (400, 401, 403))
    outcome.acks, outcome.refused_tries = list(driven.acks), driven.refused_tries
    # drain and broadcast
    end = to_wall + timedelta(seconds=driven.ended)
    processed = [_aware(r.processed_at) for r in inbox.values() if r.processed_at is not None]
    if processed:
        outcome.inbox_drain = max(0.0, (max(processed) - end).total_seconds())
    telegram_replies = [
        _aware(r.sent_at) for r in outbox if r.channel == "telegram" and r.broadcast_id is None and r.sent_at
    ]
    if telegram_replies and not outcome.undelivered_replies.get("telegram"):
        outcome.reply_drain = max(0.0, (max(telegram_replies) - end).total_seconds())
    started = to_wall + timedelta(seconds=driven.broadcast_started)
    for channel in ("telegram", "mastodon", "x"):
        rows = [r for r in outbox if r.broadcast_id is not None and r.channel == channel and not _public(r)]
        sent = [_aware(r.sent_at) for r in rows if r.status == "sent" and r.sent_at is not None]
        last = (max(sent) - started).total_seconds() if sent else float("nan")
        outcome.broadcast[channel] = (len(rows), len(sent), sum(1 for r in rows if r.status == "failed"), last)
    return outcome


def _public(row: Any) -> bool:
    return bool((from_db_json(row.payload) or {}).get("public"))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
