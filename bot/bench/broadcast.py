"""``plaza bench broadcast``: how long 100,000 subscribers take to become outbox rows.

An official's announcement to a topic is one ``broadcasts`` row; sending it
expands the topic's subscribers into outbox rows (:func:`bot.broadcast.start_broadcast`,
batches of :data:`bot.broadcast.BATCH`, one transaction each, so dispatchers
start sending while it goes on). This bench subscribes ``--subscribers``
residents to a topic, creates the broadcast and times the expansion on a
fresh SQLite file and, when set, PostgreSQL; it checks that every subscriber
got exactly one row. A second table and a chart time each batch's two
statements (SQLAlchemy cursor events), to show whether a batch's cost grows.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sqlalchemy import Engine, event, func, select

from bot.bench.databases import add_database_argument
from bot.bench.report import Report
from bot.config import Config

__all__ = ["add_arguments", "run"]

TARGET_SECONDS = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscribers", type=int, default=100_000, help="subscribers of the topic (default 100,000)")
    add_database_argument(parser)


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    from bot.bench.databases import add_subscribers, targets
    from bot.broadcast import BATCH, OUTBOX, create_broadcast, start_broadcast

    count = int(args.subscribers)
    topic = next(iter(config.topics))
    report.out(f"machine: {report.machine}")
    rows: list[list[object]] = []
    missed: list[str] = []
    batches: dict[str, _StatementClock] = {}
    with targets(args.database) as found:
        for target in found:
            with target.open() as database:
                report.out(
                    f"  {target.backend}: subscribing {count:,} residents to {topic!r}",
                )
                add_subscribers(database.writer, count, topic=topic, prefix="bench")
                with database.writer.begin() as connection:
                    broadcast_id = create_broadcast(
                        connection,
                        config,
                        topic=topic,
                        texts={language: "Aviso de prueba / test notice." for language in config.languages},
                        author="cli",
                    )
                with _StatementClock(database.writer) as clock:
                    started = time.perf_counter()
                    written = start_broadcast(database.writer, broadcast_id)
                    seconds = time.perf_counter() - started
                batches[target.backend] = clock
                with database.writer.connect() as connection:
                    stored = connection.execute(
                        select(func.count(func.distinct(OUTBOX.c.chat_id))).where(OUTBOX.c.broadcast_id == broadcast_id)
                    ).scalar_one()
                if written != count or stored != count:
                    report.text(f"{target.backend}: {written:,} rows written for {stored:,} chats, not {count:,}")
                    return 1
                verdict = "met" if seconds <= TARGET_SECONDS else "missed"
                if verdict == "missed":
                    missed.append(f"{target.backend} by {seconds - TARGET_SECONDS:.1f} s")
                rows.append(
                    [
                        target.backend,
                        count,
                        f"{seconds:.2f}",
                        f"{count / seconds:,.0f}",
                        f"{verdict} ({TARGET_SECONDS - seconds:+.1f} s)",
                    ]
                )
    report.table(
        f"Broadcast expansion: {count:,} subscribers into the outbox, batches of {BATCH:,}",
        ["database", "subscribers", "seconds", "rows/s", f"target ≤ {TARGET_SECONDS:g} s"],
        rows,
        note="Each batch is its own transaction (insert … select from the subscriptions); "
        "every subscriber gets exactly one row (checked).",
    )
    report.table(
        "Per batch: the statement that finds the next batch, and the INSERT … SELECT that writes it",
        ["database", "batches", "find next: first / last ms", "insert: first / last ms", "statements' share"],
        [
            [
                backend,
                len(clock.inserts),
                f"{_ms(clock.finds, 0)} / {_ms(clock.finds, -1)}",
                f"{_ms(clock.inserts, 0)} / {_ms(clock.inserts, -1)}",
                f"{(sum(clock.finds) + sum(clock.inserts)) / max(clock.elapsed, 1e-9):.0%}",
            ]
            for backend, clock in batches.items()
        ],
        note="A batch's cost growing from the first to the last means each batch reads past what the "
        "earlier ones expanded; flat means the expansion is linear.",
    )
    report.chart(
        "batches",
        "Broadcast expansion: milliseconds per batch",
        "batch",
        "ms (find next + insert)",
        {
            backend: [
                (float(n), (find + insert) * 1000)
                for n, (find, insert) in enumerate(zip(clock.finds, clock.inserts, strict=False))
            ]
            for backend, clock in batches.items()
        },
    )
    if missed:
        report.text("Target missed: " + "; ".join(missed) + ".")
    return 0


def _ms(values: list[float], index: int) -> str:
    return f"{values[index] * 1000:,.0f}" if values else "-"


class _StatementClock:
    """Times the expansion's statements through SQLAlchemy's cursor events, while it is entered."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.finds: list[float] = []
        self.inserts: list[float] = []
        self.elapsed = 0.0
        self._began = 0.0

    def __enter__(self) -> _StatementClock:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        self._began = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self._began
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        connection.info["bench_started"] = time.perf_counter()

    def _after(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        took = time.perf_counter() - connection.info.pop("bench_started", time.perf_counter())
        head = statement.lstrip()[:200].lower()
        if head.startswith("insert into outbox"):
            self.inserts.append(took)
        elif head.startswith("select max(") and "subscriptions" in statement.lower():
            self.finds.append(took)
