"""``plaza bench peer``: Plaza against a plain python-telegram-bot bot, the same incident reports over the Bot API.

The peer (:mod:`adapters.testing.peer_bot`) is the ``ConversationHandler``
bot a town's IT person would write: state in memory, nothing durable. Plaza
runs with its real Telegram adapter (long polling), the SQLite store (WAL,
``synchronous=FULL``) and its processor: every update is committed to the
inbox before it is confirmed to Telegram, every reply is an outbox row sent
once. Each gets a fresh fake Bot API server
(:mod:`adapters.testing.telegram_server`, in this process) and the same
updates: ``--messages`` texts from ``messages / 7`` residents, each saying
hello, choosing the report, a category, a description, skipping the photo,
an address and yes, all queued at once. The clock runs from queueing them
to the moment every resident got a ticket number; the rate is the updates
over that time.

Telegram allows a bot about 30 messages/s; the fake enforces no limit and
the peer, as usually written, does not pace itself, so Plaza's pacing of the
Telegram account is lifted here too (a channel whose limits are the web
chat's): both measure their own work, not Telegram's limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.bench.report import Report
from bot.config import Config

__all__ = ["add_arguments", "run"]

TARGET_RATIO = 1.0
TICKET = re.compile(r"\b[A-Z]+-\d{4}-\d{6}\b")


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    messages: int
    seconds: float
    replies: int
    step_seconds: float = 0.0
    send_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def script(resident: int) -> tuple[str, ...]:
    """What resident number ``resident`` says: menu, category, description, skip photo, address, confirm."""
    return ("hola", "1", "1", f"La farola {resident} no enciende", "omitir", f"Calle Real {resident}", "sí")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages",
        type=int,
        default=2100,
        help=f"updates to feed each bot ({len(script(0))} per resident; default 2100)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a bot may take before it counts as stuck")


async def _until_ticketed(fake: Any, users: set[int], timeout: float) -> int:
    """Wait until every user was sent a ticket number; returns how many messages the bot sent."""
    seen = 0
    ticketed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        fresh = fake.sent_since(seen)
        seen += len(fresh)
        ticketed.update(sent.chat_id for sent in fresh if TICKET.search(sent.text or ""))
        if users <= ticketed:
            return seen
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(users - ticketed)} of {len(users)} residents got no ticket in {timeout:g} s")
        await asyncio.sleep(0.02)


def _feed(fake: Any, residents: int) -> tuple[set[int], int]:
    users = [fake.user(500_000 + number, f"Vecino{number}") for number in range(residents)]
    said = [(user, text) for number, user in enumerate(users) for text in script(number)]
    fake.push_texts(said)
    return {user.id for user in users}, len(said)


async def _run_peer(residents: int, timeout: float) -> Run:
    from adapters.testing.peer_bot import build_peer
    from adapters.testing.telegram_server import serve_fake_telegram

    with serve_fake_telegram() as fake:
        application = build_peer(fake.token, fake.base_url)
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                started = time.perf_counter()
                users, count = _feed(fake, residents)
                replies = await _until_ticketed(fake, users, timeout)
                seconds = time.perf_counter() - started
            finally:
                await application.updater.stop()
                await application.stop()
    return Run("python-telegram-bot ConversationHandler (in memory)", count, seconds, replies)


async def _run_plaza(config: Config, residents: int, timeout: float, folder: Path) -> Run:
    from adapters.telegram import TelegramChannel
    from adapters.testing.telegram_server import serve_fake_telegram
    from bot.runtime import Plaza
    from models.db import Database

    class Unpaced(TelegramChannel):
        @property
        def limits(self) -> Any:
            return replace(super().limits, per_chat_per_s=1000.0, overall_per_s=10000.0)

    url = f"sqlite:///{folder / 'peer.sqlite3'}"
    database = Database(url)
    database.upgrade()
    with serve_fake_telegram() as fake:
        channel = Unpaced(fake.token, api_base_url=fake.base_url, mode="polling", poll_timeout=1, retry_pause=0.1)
        plaza = Plaza(
            replace(config, database_url=url),
            [channel],
            database=database,
            poll_interval=0.05,
            reload_interval=None,
            reminder_interval=None,
            purge_interval=None,
        )
        try:
            async with plaza:
                steps, sends = _spent()
                started = time.perf_counter()
                users, count = _feed(fake, residents)
                replies = await _until_ticketed(fake, users, timeout)
                seconds = time.perf_counter() - started
                steps_after, sends_after = _spent()
        finally:
            database.dispose()
    return Run(
        "Plaza (Telegram adapter, SQLite, durable)",
        count,
        seconds,
        replies,
        step_seconds=steps_after - steps,
        send_seconds=sends_after - sends,
    )


def _spent() -> tuple[float, float]:
    """Seconds spent so far in engine steps and in Telegram sends (this process's /metrics histograms)."""
    from bot.metrics import REGISTRY

    steps = REGISTRY.get_sample_value("plaza_step_seconds_sum") or 0.0
    sends = REGISTRY.get_sample_value("plaza_send_seconds_sum", {"channel": "telegram"}) or 0.0
    return steps, sends


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # PTB's future timedelta periods, without its warning
    for noisy in ("httpx", "telegram", "adapters.telegram"):  # a line per request would drown the tables
        logging.getLogger(noisy).setLevel(logging.WARNING)
    per_resident = len(script(0))
    residents = max(1, int(args.messages) // per_resident)
    timeout = float(args.timeout)
    report.out(f"machine: {report.machine}")
    report.out(f"  peer: {residents} residents × {per_resident} messages")
    peer = asyncio.run(_run_peer(residents, timeout))
    report.out(f"  peer: {peer.rate:,.0f} msg/s; plaza…")
    with tempfile.TemporaryDirectory(prefix="plaza-bench-") as folder:
        plaza = asyncio.run(_run_plaza(config, residents, timeout, Path(folder)))
    ratio = plaza.rate / peer.rate
    verdict = "met" if ratio >= TARGET_RATIO else "missed"
    report.table(
        f"Incident reports over the Bot API: {residents} residents × {per_resident} messages, all queued at once",
        ["bot", "messages", "seconds", "msg/s", "replies sent", "durable"],
        [
            [peer.name, peer.messages, f"{peer.seconds:.2f}", f"{peer.rate:,.0f}", peer.replies, "no"],
            [plaza.name, plaza.messages, f"{plaza.seconds:.2f}", f"{plaza.rate:,.0f}", plaza.replies, "yes"],
        ],
        note=f"Plaza / peer: {ratio:.2f}× — target ≥ {TARGET_RATIO:.1f}×: {verdict} "
        f"({(ratio - TARGET_RATIO) * 100:+.0f} %). Both long-poll the same fake Bot API (served in this "
        "process); neither is paced to Telegram's 30 msg/s.",
    )
    rest = max(0.0, plaza.seconds - plaza.send_seconds)
    report.table(
        "Where Plaza's time went",
        ["part", "seconds", "share of the run", "per message ms"],
        [
            ["whole run", f"{plaza.seconds:.2f}", "100%", f"{plaza.seconds / plaza.messages * 1000:.1f}"],
            [
                "Bot API sends (one at a time)",
                f"{plaza.send_seconds:.2f}",
                f"{plaza.send_seconds / plaza.seconds:.0%}",
                f"{plaza.send_seconds / plaza.messages * 1000:.1f}",
            ],
            [
                "engine steps (processor thread, beside the sends)",
                f"{plaza.step_seconds:.2f}",
                f"{plaza.step_seconds / plaza.seconds:.0%}",
                f"{plaza.step_seconds / plaza.messages * 1000:.1f}",
            ],
            [
                "the rest: outbox claim + mark-sent commits per reply, inbox commits, thread hand-offs",
                f"{rest:.2f}",
                f"{rest / plaza.seconds:.0%}",
                f"{rest / plaza.messages * 1000:.1f}",
            ],
        ],
        note="The replies go out one at a time, as the peer's do; each is claimed (a commit) before its "
        "sendMessage and marked sent (a commit) after it, which is what makes it sent exactly once. "
        "The peer pays only the sendMessage.",
    )
    return 0
