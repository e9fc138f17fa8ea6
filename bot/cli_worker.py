"""``plaza worker``: engine steps and senders without the web server, for scale-out on PostgreSQL.

Run any number of them (and of ``plaza serve``) against one PostgreSQL:
each claims chats under a lease (:mod:`bot.worker`), and sends through a
channel account only while it holds that account's lock
(:mod:`bot.senderlock`). A worker processes the inbox of every channel
(the web chat's too) and sends through the platform channels; the web chat's
replies are sent by a ``plaza serve``, which holds the page's long polls.
Platforms are not polled here: ``plaza serve`` receives.

While the database cannot be reached the worker says so in one line and
keeps trying; a database at the wrong revision stops it (exit 3). SIGTERM or
Ctrl-C stops it cleanly; a SIGKILLed worker's chats are taken over by the
others when its leases run out.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator

from sqlalchemy import Engine

from bot.config import Config

__all__ = ["add_worker_parser", "run_worker", "wait_for_database"]

log = logging.getLogger(__name__)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError("a lease shorter than 1 second cannot cover one round")
    return value


def add_worker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser(
        "worker", help="run engine workers and senders without the web server (PostgreSQL, any number of processes)"
    )
    worker.add_argument("--workers", type=int, default=2, help="worker threads in this process (default 2)")
    worker.add_argument(
        "--lease",
        type=_positive,
        default=None,
        help="seconds a worker holds a chat before others may take it over (default $PLAZA_LEASE_SECONDS or 30)",
    )
    worker.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port")
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")


def wait_for_database(url: str, *, interval: float = 2.0) -> None:
    """Return once the database answers; until then print one line and retry. Raises SchemaError on a bad revision."""
    from bot.listener import one_line
    from models.db import Database

    database = Database(url)
    failing = False
    try:
        while True:
            try:
                database.current()
                break
            except Exception as error:
                if not failing:
                    print(
                        f"database {database.safe_url()} cannot be reached ({one_line(error)}); "
                        f"retrying every {interval:g}s",
                        file=sys.stderr,
                        flush=True,
                    )
                failing = True
                time.sleep(interval)
        if failing:
            print(f"database {database.safe_url()} answers again", file=sys.stderr, flush=True)
        database.check_schema()
    finally:
        database.dispose()


def _metrics_server(engine: Engine, channels: list[str], host: str, port: int) -> None:
    from prometheus_client import CollectorRegistry, Metric, start_http_server
    from prometheus_client.registry import Collector

    from bot.metrics import REGISTRY, BacklogCollector

    class _Everything(Collector):
        def collect(self) -> Iterator[Metric]:
            yield from REGISTRY.collect()
            yield from BacklogCollector(engine, channels).collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())
    start_http_server(port, addr=host, registry=registry)


async def _run(config: Config, workers: int, lease: float | None, metrics: tuple[str, int] | None) -> None:
    from adapters.setup import platform_channels
    from adapters.web import NAME as WEB
    from bot.runtime import Plaza

    channels = platform_channels(config, os.environ)
    process = [WEB, *(channel.name for channel in channels)]
    plaza = Plaza(config, channels, workers=workers, process=process, receive=False, lease_seconds=lease)
    if plaza.database.sqlite:
        plaza.database.dispose()
        raise _NeedsPostgres()
    if metrics is not None:
        _metrics_server(plaza.database.writer, process, *metrics)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    sending = ", ".join(plaza.channels) or "nothing (no platform channel is enabled)"
    print(
        f"Plaza worker for {config.town_name}: {len(plaza.workers)} worker(s), processing {', '.join(process)}; "
        f"sending {sending}; lease {plaza.workers[0].lease_seconds if plaza.workers else 0:g}s "
        f"(database {plaza.database.safe_url()})"
        + (f"; metrics at http://{metrics[0]}:{metrics[1]}/metrics" if metrics else ""),
        flush=True,
    )
    async with plaza:
        await stopping.wait()


class _NeedsPostgres(Exception):
    pass


def run_worker(config: Config, args: argparse.Namespace) -> int:
    """``plaza worker``; returns the exit code (2: not PostgreSQL or a bad option)."""
    from models.db import is_sqlite

    if is_sqlite(config.database_url):
        print(
            "plaza worker needs PostgreSQL (set PLAZA_DATABASE_URL=postgresql+psycopg://USER@HOST/DB); "
            "on SQLite `plaza serve` runs the bot in one process",
            file=sys.stderr,
        )
        return 2
    if args.workers < 0:
        print("plaza worker: --workers must be 0 or more", file=sys.stderr)
        return 2
    wait_for_database(config.database_url)
    metrics = (args.metrics_host, args.metrics_port) if args.metrics_port else None
    try:
        asyncio.run(_run(config, args.workers, args.lease, metrics))
    except _NeedsPostgres:
        return 2
    return 0
