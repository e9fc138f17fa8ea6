"""``plaza bench broadcast``: how long 100,000 subscribers take to become outbox rows.

An official's announcement to a topic is one ``broadcasts`` row; sending it
expands the topic's subscribers into outbox rows (:func:`bot.broadcast.start_broadcast`,
batches of :data:`bot.broadcast.BATCH`, one transaction each, so dispatchers
start sending while it goes on). This bench subscribes ``--subscribers``
residents to a topic, creates the broadcast and times the expansion on a
fresh SQLite file and, when set, PostgreSQL; it checks that every subscriber
got exactly one row.
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import func, select

from bot.bench.report import Report
from bot.config import Config

__all__ = ["add_arguments", "run"]

TARGET_SECONDS = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscribers", type=int, default=100_000, help="subscribers of the topic (default 100,000)")
    parser.add_argument(
        "--database",
        action="append",
        default=None,
        help="database URL to measure (repeatable; default: a temporary SQLite file, "
        "plus $PLAZA_TEST_DATABASE_URL when set)",
    )


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    from bot.bench.databases import add_subscribers, targets
    from bot.broadcast import BATCH, OUTBOX, create_broadcast, start_broadcast

    count = int(args.subscribers)
    topic = next(iter(config.topics))
    report.out(f"machine: {report.machine}")
    rows: list[list[object]] = []
    missed: list[str] = []
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
                started = time.perf_counter()
                written = start_broadcast(database.writer, broadcast_id)
                seconds = time.perf_counter() - started
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
    if missed:
        report.text("Target missed: " + "; ".join(missed) + ".")
    return 0
