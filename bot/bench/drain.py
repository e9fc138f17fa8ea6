"""The engine bench's PostgreSQL drain: a filled inbox emptied by real ``plaza worker`` processes.

The inbox is filled first (``conversations`` chats, each with the whole
incident conversation waiting, accepted in webhook-sized transactions); then
``processes`` ``plaza worker --workers THREADS`` subprocesses start against
the same schema and claim the chats under leases (:mod:`bot.worker`). The
drain rate is the messages over the span between the first and the last
``processed_at`` the workers stamped, so the processes' start-up is not
counted; the wall time from spawning them is reported beside it.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from bot.bench.databases import Target
from bot.bench.machine import Sampler
from bot.inbox import accept
from bot.messages import InboundMessage
from models.db import Database

__all__ = ["Drain", "drain"]


@dataclass(frozen=True, slots=True)
class Drain:
    processes: int
    threads: int
    messages: int
    seconds: float
    wall_seconds: float
    worker_cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def _fill(database: Database, script: tuple[str | None, ...], conversations: int, batch: int) -> int:
    now = datetime.now(UTC)
    messages = [
        InboundMessage(
            channel="web",
            platform_message_id=f"d{c}-{number}",
            sender_id=f"d{c}",
            chat_id=f"d{c}",
            sent_at=now,
            text=said,
            language="es",
        )
        for c in range(conversations)
        for number, said in enumerate(script)
    ]
    for first in range(0, len(messages), batch):
        accept(database.writer, messages[first : first + batch])
    return len(messages)


def _count(database: Database, sql: str) -> int:
    with database.writer.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def drain(
    target: Target,
    database: Database,
    script: tuple[str | None, ...],
    *,
    conversations: int,
    processes: int,
    threads: int,
    timeout: float = 900.0,
) -> Drain:
    """Fill the inbox, let the worker processes empty it; raises when they fail or stall past ``timeout``."""
    count = _fill(database, script, conversations, batch=100)
    env = dict(os.environ)
    env["PLAZA_DATABASE_URL"] = target.process_url
    env.setdefault("PLAZA_SECRET_KEY", secrets.token_hex(32))
    env.setdefault("PYTHONUNBUFFERED", "1")
    command = [sys.executable, "-m", "bot.cli", "worker", "--workers", str(threads)]
    sampler = Sampler(interval=0.5)
    # files, not pipes: a pipe nobody reads could fill and block a worker; closed in the finally below
    logs = [tempfile.TemporaryFile() for _ in range(processes)]  # noqa: SIM115
    workers = [
        subprocess.Popen(  # noqa: S603 (our own command: this interpreter running bot.cli)
            command, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
        for log in logs
    ]
    spawned = time.perf_counter()
    try:
        for worker in workers:
            sampler.watch(worker.pid)
        sampler.start()
        deadline = time.monotonic() + timeout
        while (left := _count(database, "SELECT count(*) FROM inbox WHERE status = 'pending'")) > 0:
            for worker, log in zip(workers, logs, strict=True):
                if worker.poll() is not None:
                    log.seek(0)
                    error = log.read().decode(errors="replace")
                    raise RuntimeError(f"plaza worker exited with {worker.returncode}: {error[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} messages still pending after {timeout:g} s")
            time.sleep(0.2)
        wall = time.perf_counter() - spawned
    finally:
        sampler.stop()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
        for log in logs:
            log.close()
    done = _count(database, "SELECT count(*) FROM inbox WHERE status = 'done'")
    if done != count:
        raise RuntimeError(f"{done} of {count} messages processed")
    with database.writer.connect() as connection:
        first, last = connection.execute(text("SELECT min(processed_at), max(processed_at) FROM inbox")).one()
    return Drain(processes, threads, count, (last - first).total_seconds(), wall, sampler.mean_cpu())
