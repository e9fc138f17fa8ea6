"""``plaza bench engine``: durable messages per second vs the raw-SQL floor, same run.

The workload is the incident flow, conversation by conversation as residents
would write it (start, category, description, skip photo, address, confirm):
every message is accepted in its own transaction, as a webhook is, and then
processed by the real :class:`~bot.processor.Processor` (group commit).

The floor runs the same writes through the bare DB-API driver (sqlite3 or
psycopg) with the same transaction boundaries: the inbox insert per message,
then per batch the claim, conversation read and update, and outbox insert.
It has no flow logic, no ORM/Core layer and no JSON of real state: the cost any durable design must pay. The ratio
``plaza / floor`` says how much of the machine the engine's own work takes;
each round runs Plaza and then the floor back to back, and the table gives
the median of the rounds' ratios (fsync times on shared disks drift a lot
between rounds, less within one).

On PostgreSQL the bench also fills an inbox and lets ``--worker-processes``
real ``plaza worker`` processes drain it (:mod:`bot.bench.drain`), reported
in a table of its own: the scale-out figure, beside the in-process one.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import make_url

from bot.bench.databases import add_database_argument
from bot.bench.report import Report
from bot.config import Config
from bot.inbox import accept
from bot.messages import InboundMessage
from models.db import Database

__all__ = ["add_arguments", "run"]

SCRIPT: tuple[str | None, ...] = (None, "1", "1", "La farola de la esquina no enciende", "omitir", "Calle Real 3", "sí")


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    messages: int
    plaza_seconds: float
    floor_seconds: float
    ratios: tuple[float, ...]

    @property
    def plaza_rate(self) -> float:
        return self.messages / self.plaza_seconds

    @property
    def floor_rate(self) -> float:
        return self.messages / self.floor_seconds


def _messages(round_index: int, conversations: int, tag: str) -> list[InboundMessage]:
    now = datetime.now(UTC)
    return [
        InboundMessage(
            channel="bench",
            platform_message_id=f"{tag}-{c}-{round_index}",
            sender_id=f"{tag}-{c}",
            chat_id=f"{tag}-{c}",
            sent_at=now,
            text=SCRIPT[round_index],
            language="es",
        )
        for c in range(conversations)
    ]


def _plaza_run(config: Config, database: Database, conversations: int, batch: int, tag: str) -> tuple[int, float]:
    from bot.catalog import FlowCatalog
    from bot.engine import Engine
    from bot.processor import Processor

    catalog = FlowCatalog(config, database.writer)
    processor = Processor(database.writer, Engine(config, catalog), ["bench"], batch=batch)
    count = 0
    started = time.perf_counter()
    for round_index in range(len(SCRIPT)):
        for message in _messages(round_index, conversations, tag):
            accept(database.writer, [message])
            count += 1
        while processor.run_once():
            pass
    return count, time.perf_counter() - started


class _Floor:
    """The same writes as the engine, through the DB-API driver with no layer on top."""

    def __init__(self, url: str, schema: str | None) -> None:
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.sqlite:
            self.connection: Any = sqlite3.connect(make_url(url).database or "", isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
                self.connection.execute(f"PRAGMA {pragma}")
            self.mark = "?"
        else:
            import psycopg

            dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            options = f"-csearch_path={schema}" if schema else ""
            self.connection = psycopg.connect(dsn, autocommit=True, options=options)
            self.mark = "%s"

    def sql(self, statement: str) -> str:
        return statement.replace("?", self.mark)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.connection.execute(self.sql(statement), params)

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")

    def close(self) -> None:
        self.connection.close()


def _floor_run(url: str, schema: str | None, conversations: int, batch: int, tag: str) -> tuple[int, float]:
    floor = _Floor(url, schema)
    payload_state = json.dumps(
        {
            "answers": {"category": "streetlight", "description": "x" * 40},
            "shown": {"category": "Alumbrado", "description": "x" * 40},
            "history": [],
            "pending": None,
        }
    )
    reply = json.dumps(
        {
            "text": "¿Dónde es? Comparta su ubicación o escriba la dirección.",
            "options": [],
            "expects": "location",
            "photo": None,
        }
    )
    count = 0
    started = time.perf_counter()
    for round_index in range(len(SCRIPT)):
        for message in _messages(round_index, conversations, tag):
            now = datetime.now(UTC).isoformat()
            floor.begin()
            floor.execute(
                "SELECT id FROM inbox WHERE channel = ? AND platform_message_id = ?",
                ("floor", message.platform_message_id),
            )
            floor.execute(
                "INSERT INTO inbox (channel, platform_message_id, chat_id, sender_id, payload, raw, status,"
                " attempts, sent_at, received_at) VALUES (?, ?, ?, ?, ?, '{}', 'pending', 0, ?, ?)",
                (
                    "floor",
                    message.platform_message_id,
                    message.chat_id,
                    message.sender_id,
                    json.dumps({"text": message.text, "chat_id": message.chat_id}),
                    now,
                    now,
                ),
            )
            floor.execute("COMMIT")
            count += 1
        while True:
            rows = floor.execute(
                "SELECT id, chat_id FROM inbox WHERE status = 'pending' AND channel = 'floor' ORDER BY id LIMIT ?",
                (batch,),
            ).fetchall()
            if not rows:
                break
            floor.begin()
            for inbox_id, chat_id in rows:
                now = datetime.now(UTC).isoformat()
                floor.execute(
                    "UPDATE inbox SET status = 'done', processed_at = ?, attempts = attempts + 1 "
                    "WHERE id = ? AND status = 'pending'",
                    (now, inbox_id),
                )
                found = floor.execute(
                    "SELECT c.id, c.version FROM conversations c JOIN residents r ON "
                    "r.id = c.resident_id WHERE c.channel = 'floor' AND c.chat_id = ?",
                    (chat_id,),
                ).fetchone()
                if found is None:
                    resident = floor.execute(
                        "INSERT INTO residents (language, verified, created_at) VALUES ('es', ?, ?) RETURNING id",
                        (False, now),
                    ).fetchone()[0]
                    floor.execute(
                        "INSERT INTO channel_identities (channel, platform_user_id, resident_id, verified,"
                        " created_at) VALUES ('floor', ?, ?, ?, ?)",
                        (chat_id, resident, False, now),
                    )
                    found = floor.execute(
                        "INSERT INTO conversations (channel, chat_id, resident_id, flow, flow_version, state, data,"
                        " language, mode, version, created_at, updated_at) VALUES ('floor', ?, ?, 'main_menu',"
                        " 'v', 'menu', '{}', 'es', 'bot', 0, ?, ?) RETURNING id, version",
                        (chat_id, resident, now, now),
                    ).fetchone()
                floor.execute(
                    "UPDATE conversations SET state = 'location', data = ?, version = version + 1, "
                    "updated_at = ? WHERE id = ? AND version = ?",
                    (payload_state, now, found[0], found[1]),
                )
                floor.execute(
                    "INSERT INTO outbox (channel, chat_id, conversation_id, inbox_id, payload, priority, "
                    "status, attempts, platform_message_ids, next_attempt_at, created_at) VALUES "
                    "('floor', ?, ?, ?, ?, 0, 'pending', 0, '[]', ?, ?)",
                    (chat_id, found[0], inbox_id, reply, now, now),
                )
            floor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    floor.close()
    return count, elapsed


def _measure(
    config: Config, url: str, backend: str, conversations: int, rounds: int, batch: int, schema: str | None
) -> Result:
    database = Database(url, schema=schema)
    database.upgrade()
    bench_config = replace(config, database_url=url)
    plaza_best, floor_best, count = float("inf"), float("inf"), 0
    ratios: list[float] = []
    try:
        for round_number in range(rounds):
            tag = uuid.uuid4().hex[:8]
            count, plaza_seconds = _plaza_run(bench_config, database, conversations, batch, f"p{tag}")
            _, floor_seconds = _floor_run(url, schema, conversations, batch, f"f{tag}")
            plaza_best, floor_best = min(plaza_best, plaza_seconds), min(floor_best, floor_seconds)
            ratios.append(floor_seconds / plaza_seconds)
            print(
                f"  {backend} round {round_number + 1}/{rounds}: plaza {count / plaza_seconds:,.0f} msg/s, "
                f"floor {count / floor_seconds:,.0f} msg/s",
                flush=True,
            )
    finally:
        database.dispose()
    return Result(backend, count, plaza_best, floor_best, tuple(ratios))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=2,
        help="PostgreSQL: `plaza worker` processes that drain a filled inbox (default 2; 0 skips the drain)",
    )
    parser.add_argument("--worker-threads", type=int, default=1, help="--workers of each of them (default 1)")
    parser.add_argument(
        "--drain-conversations",
        type=int,
        default=2000,
        help=f"chats whose {len(SCRIPT)} messages fill the inbox before the drain (default 2000)",
    )


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    """Measure each database (and the PostgreSQL drain) and add the tables to the report; returns the exit code."""
    from bot.bench.databases import Target, targets
    from bot.bench.drain import Drain, drain

    conversations, rounds, batch = int(args.conversations), int(args.rounds), int(args.batch)
    results: list[Result] = []
    drains: list[Drain] = []
    report.out(f"machine: {report.machine}")
    with targets(args.database) as found:
        for target in found:
            with target.open() as database:
                database.dispose()  # _measure opens its own
                results.append(
                    _measure(config, target.url, target.backend, conversations, rounds, batch, target.schema)
                )
        for target in found:
            if target.backend != "postgresql" or int(args.worker_processes) <= 0:
                continue
            fresh = Target(target.url, f"plaza_drain_{uuid.uuid4().hex[:8]}")  # its own schema: it counts every row
            with fresh.open() as database:
                report.out(
                    f"  postgresql drain: {args.drain_conversations} chats × {len(SCRIPT)} messages, "
                    f"{args.worker_processes} plaza worker process(es)"
                )
                drains.append(
                    drain(
                        fresh,
                        database,
                        SCRIPT,
                        conversations=int(args.drain_conversations),
                        processes=int(args.worker_processes),
                        threads=int(args.worker_threads),
                    )
                )
    report.table(
        f"Engine in-process: {conversations} conversations × {len(SCRIPT)} messages, batch {batch}, {rounds} rounds",
        [
            "database",
            "messages",
            "plaza msg/s (best)",
            "raw-SQL floor msg/s (best)",
            "plaza / floor (median)",
            "target",
        ],
        [
            [
                result.backend,
                result.messages,
                f"{result.plaza_rate:,.0f}",
                f"{result.floor_rate:,.0f}",
                f"{statistics.median(result.ratios):.0%}",
                _verdict(statistics.median(result.ratios)) if result.backend == "sqlite" else "",
            ]
            for result in results
        ],
        note=f"Target: plaza ≥ {FLOOR_TARGET:.0%} of the raw-SQL floor on SQLite. "
        "Each message is accepted in its own transaction (as a webhook), then processed in group commits.",
    )
    if drains:
        report.table(
            "Engine on PostgreSQL: a filled inbox drained by `plaza worker` processes",
            ["processes × threads", "messages", "drain seconds", "msg/s", "wall seconds", "workers' CPU %", "target"],
            [
                [
                    f"{d.processes} × {d.threads}",
                    d.messages,
                    f"{d.seconds:.1f}",
                    f"{d.rate:,.0f}",
                    f"{d.wall_seconds:.1f}",
                    f"{d.worker_cpu:.0f}",
                    f"{'met' if d.rate >= DRAIN_TARGET else 'missed'} ({d.rate / DRAIN_TARGET - 1:+.0%})",
                ]
                for d in drains
            ],
            note=f"Target: ≥ {DRAIN_TARGET:,} msg/s with 2 workers. The rate spans the first to the last processed_at "
            "(the processes' start-up is not counted; the wall time is). CPU: summed over the worker "
            "processes, 100 = one core.",
        )
        for d in drains:
            if d.rate < DRAIN_TARGET:
                report.text(
                    f"The PostgreSQL drain missed {DRAIN_TARGET:,} msg/s by {DRAIN_TARGET - d.rate:,.0f} msg/s "
                    f"({1 - d.rate / DRAIN_TARGET:.0%}). The workers used {d.worker_cpu:.0f} % CPU of the "
                    f"{d.processes * d.threads * 100} % their threads could: they spend most of a step waiting for "
                    "PostgreSQL's answers (every statement of a step is a round trip), and PostgreSQL shares "
                    "this machine's cores with them."
                )
    return 0


FLOOR_TARGET = 0.40
DRAIN_TARGET = 1000


def _verdict(ratio: float) -> str:
    if ratio >= FLOOR_TARGET:
        return f"met (+{(ratio - FLOOR_TARGET) * 100:.0f} points)"
    return f"missed by {(FLOOR_TARGET - ratio) * 100:.0f} points"
