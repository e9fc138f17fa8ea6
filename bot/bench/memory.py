"""``plaza bench memory``: the process's RSS across 100,000 conversations through the engine.

Each conversation is short (the resident greets, opens the incident flow and
cancels): its messages are accepted as a webhook would (``--accept-batch``
per transaction) and processed by the real :class:`~bot.processor.Processor`
on a fresh SQLite file, ``--chunk`` conversations at a time. After each chunk
the RSS is read; a :class:`~bot.bench.machine.Sampler` also samples it every
half second. Growth is counted from the end of the first chunk (imports,
compiled flows and the driver's caches are warm by then), so what remains is
what the engine keeps per conversation: it should keep nothing.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.bench.report import Report
from bot.config import Config

__all__ = ["add_arguments", "run"]

SCRIPT = ("hola", "1", "cancelar")
TARGET_MB = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conversations", type=int, default=100_000, help="conversations to run (default 100,000)")
    parser.add_argument("--chunk", type=int, default=1_000, help="conversations between two RSS points")
    parser.add_argument("--accept-batch", type=int, default=100, help="messages accepted per transaction")
    parser.add_argument("--batch", type=int, default=64, help="steps per commit of the processor")


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    from bot.bench.machine import Sampler, rss_mb
    from bot.catalog import FlowCatalog
    from bot.engine import Engine
    from bot.inbox import accept
    from bot.messages import InboundMessage
    from bot.processor import Processor
    from models.db import Database

    total, chunk = int(args.conversations), max(1, min(int(args.chunk), int(args.conversations)))
    accept_batch = max(1, int(args.accept_batch))
    report.out(f"machine: {report.machine}")
    points: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="plaza-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'memory.sqlite3'}"
        database = Database(url)
        database.upgrade()
        bench_config = replace(config, database_url=url)
        processor = Processor(
            database.writer,
            Engine(bench_config, FlowCatalog(bench_config, database.writer)),
            ["bench"],
            batch=args.batch,
        )
        gc.collect()
        start_rss = rss_mb()
        points.append((0, start_rss))
        sampler = Sampler(interval=0.5).start()
        started = time.perf_counter()
        done = 0
        try:
            while done < total:
                size = min(chunk, total - done)
                now = datetime.now(UTC)
                for number, text in enumerate(SCRIPT):
                    messages = [
                        InboundMessage(
                            channel="bench",
                            platform_message_id=f"m{c}-{number}",
                            sender_id=f"r{c}",
                            chat_id=f"r{c}",
                            sent_at=now,
                            text=text,
                            language="es",
                        )
                        for c in range(done, done + size)
                    ]
                    for first in range(0, len(messages), accept_batch):
                        accept(database.writer, messages[first : first + accept_batch])
                    while processor.run_once():
                        pass
                done += size
                points.append((done, rss_mb()))
                if done % max(chunk, total // 10) < chunk or done == total:
                    elapsed = time.perf_counter() - started
                    report.out(
                        f"  {done:,} conversations, {done * len(SCRIPT) / elapsed:,.0f} msg/s, "
                        f"RSS {points[-1][1]:.1f} MiB"
                    )
        finally:
            sampler.stop()
            database.dispose()
    seconds = time.perf_counter() - started
    warm = points[1][1]
    final = points[-1][1]
    peak = max(rss for _, rss in points)
    growth = final - warm
    verdict = "met" if growth < TARGET_MB else "missed"
    report.table(
        f"Memory: {total:,} conversations × {len(SCRIPT)} messages ({' / '.join(SCRIPT)}) on SQLite",
        [
            "conversations",
            "messages",
            "seconds",
            "RSS at start MiB",
            f"after {chunk:,} MiB",
            "at end MiB",
            "peak MiB",
            "growth MiB",
            f"target < {TARGET_MB:g} MiB",
        ],
        [
            [
                total,
                total * len(SCRIPT),
                f"{seconds:.1f}",
                f"{start_rss:.1f}",
                f"{warm:.1f}",
                f"{final:.1f}",
                f"{max(peak, sampler.peak_rss()):.1f}",
                f"{growth:+.1f}",
                f"{verdict} ({TARGET_MB - growth:+.1f} MiB)",
            ]
        ],
        note="Growth = RSS at end − RSS after the first chunk (warm-up: imports, compiled flows, driver caches). "
        "One process: acceptance and the engine in the same interpreter, as `plaza serve` on SQLite.",
    )
    report.chart(
        "rss",
        "RSS vs conversations",
        "conversations",
        "RSS (MiB)",
        {"RSS": points},
    )
    return 0
