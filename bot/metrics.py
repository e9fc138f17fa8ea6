"""Prometheus metrics: what the engine and the senders did, and the backlog the database holds.

Counters and histograms live in :data:`REGISTRY`, one per process, and are
updated where the work happens (:mod:`bot.processor`, :mod:`bot.worker`,
:mod:`bot.outbox`). The backlogs are read from the database when scraped
(:class:`BacklogCollector`), so every process reports the same shared queue.

========================================  ==========================================================
``plaza_inbox_backlog{channel}``          inbox rows waiting for a step
``plaza_outbox_backlog{channel,priority,status}``  outbox rows pending or being sent (0 replies, 10 broadcasts)
``plaza_step_seconds``                    one engine step (claim, state machine, save, replies)
``plaza_send_seconds{channel}``           one platform send (all parts of a message)
``plaza_send_rate_limited_total{channel}``  the platform answered 429 (rate limited)
``plaza_send_retry_later_total{channel}``  any send the platform asked to retry later (429s, 5xx, timeouts)
``plaza_leases_claimed_total``            chats claimed by this process's workers
``plaza_leases_lost_total``               claims whose work was rolled back: another worker took over
========================================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from models import InboxItem, OutboxItem

__all__ = [
    "CONTENT_TYPE",
    "LEASES_CLAIMED",
    "LEASES_LOST",
    "RATE_LIMITED",
    "REGISTRY",
    "RETRY_LATER",
    "SEND_SECONDS",
    "STEP_SECONDS",
    "BacklogCollector",
    "render",
]

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

STEP_SECONDS = Histogram(
    "plaza_step_seconds",
    "Seconds one engine step took (in its transaction)",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "plaza_send_seconds",
    "Seconds one platform send took",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "plaza_send_rate_limited", "Sends the platform refused with 429 (rate limited)", ["channel"], registry=REGISTRY
)
RETRY_LATER = Counter(
    "plaza_send_retry_later",
    "Sends the platform asked to retry later (429s, server errors, timeouts)",
    ["channel"],
    registry=REGISTRY,
)
LEASES_CLAIMED = Counter("plaza_leases_claimed", "Chats claimed by this process's workers", registry=REGISTRY)
LEASES_LOST = Counter(
    "plaza_leases_lost", "Claims whose steps were rolled back because another worker took the lease", registry=REGISTRY
)


class BacklogCollector(Collector):
    """Reads the inbox and outbox backlogs from the database at each scrape."""

    def __init__(self, engine: Engine, channels: Sequence[str] = ()) -> None:
        self._engine = engine
        self._channels = tuple(channels)
        """Channels reported even with an empty inbox (0 rather than no sample)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        inbox = GaugeMetricFamily("plaza_inbox_backlog", "Inbox rows waiting for a step", labels=["channel"])
        outbox = GaugeMetricFamily(
            "plaza_outbox_backlog",
            "Outbox rows pending or being sent, by priority (0 replies, 10 broadcasts)",
            labels=["channel", "priority", "status"],
        )
        with self._engine.connect() as connection:
            waiting = dict.fromkeys(self._channels, 0)
            for channel, count in connection.execute(
                select(INBOX.c.channel, func.count()).where(INBOX.c.status == "pending").group_by(INBOX.c.channel)
            ):
                waiting[channel] = count
            for channel, count in sorted(waiting.items()):
                inbox.add_metric([channel], float(count))
            for channel, priority, status, count in connection.execute(
                select(OUTBOX.c.channel, OUTBOX.c.priority, OUTBOX.c.status, func.count())
                .where(OUTBOX.c.status.in_(("pending", "sending")))
                .group_by(OUTBOX.c.channel, OUTBOX.c.priority, OUTBOX.c.status)
            ):
                outbox.add_metric([channel, str(priority), status], float(count))
        yield inbox
        yield outbox


def render(engine: Engine | None = None, channels: Sequence[str] = ()) -> bytes:
    """The Prometheus text exposition: this process's metrics, plus the backlogs of ``engine``'s database."""
    text = generate_latest(REGISTRY)
    if engine is not None:
        backlog = CollectorRegistry(auto_describe=False)
        backlog.register(BacklogCollector(engine, channels))
        text += generate_latest(backlog)
    return text
