"""``plaza bench blackout``: a storm of residents, a broadcast, takeovers and a crash, measured.

The trace (:mod:`bot.bench.blackout_trace`) is played in real time against a
real ``plaza serve`` (and ``plaza worker`` processes on PostgreSQL) talking
to the local platforms (:mod:`bot.bench.blackout_setup`), over real HTTP
(:mod:`bot.bench.blackout_drive`); the outcome is read from what the
platforms received and from the database (:mod:`bot.bench.blackout_measure`).

Modes: ``sqlite`` (``plaza serve`` alone; the chaos kills it and starts it
again), ``pg1`` (``plaza serve --workers 0`` and one ``plaza worker``: the
chaos kills the worker and a supervisor starts it again) and ``pg2`` (two
workers: one is killed and the other carries on). The PostgreSQL modes need
``PLAZA_TEST_DATABASE_URL`` (or ``--postgres``) and are skipped without it.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.bench.report import Report
from bot.config import Config

if TYPE_CHECKING:
    from bot.bench.blackout_measure import Outcome

__all__ = ["MODES", "add_arguments", "run", "run_mode"]

MODES = ("sqlite", "pg1", "pg2")
TARGET_REPLY_P95 = 1.0
TARGET_ACK_P99 = 0.050


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", action="append", choices=MODES, help="repeatable; default: all three")
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 5,000 messages in 120 s; 0.1 = the test's")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drain", type=float, default=180.0, help="seconds to wait after the trace for the backlog")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (default $PLAZA_TEST_DATABASE_URL)")


def run_mode(
    config: Config,
    mode: str,
    *,
    scale: float,
    seed: int = 7,
    drain: float = 180.0,
    postgres: str | None = None,
    log: bool = True,
    wait_replies: bool = True,
    mastodon_limit: bool = True,
) -> Outcome:
    """One mode of the bench; returns its :class:`~bot.bench.blackout_measure.Outcome`.

    After the trace it waits (up to ``drain`` seconds) until every message is
    stored and processed and, with ``wait_replies``, every Telegram reply sent.
    ``mastodon_limit``: mastodon-mock answers 429 past 300 requests per token in
    5 minutes (a 429 pauses Plaza's reading of mentions until the window resets).
    """
    from bot.bench.blackout_drive import drive
    from bot.bench.blackout_measure import measure, reference_replies
    from bot.bench.blackout_setup import Platforms, PlazaCommand, Store, town
    from bot.bench.blackout_trace import blackout_trace
    from bot.bench.machine import Sampler
    from models import InboxItem, OutboxItem

    inbox, outbox = InboxItem.__table__, OutboxItem.__table__  # type: ignore[attr-defined]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request of the load otherwise
    say = print if log else (lambda *_: None)
    trace = blackout_trace(scale=scale, seed=seed)
    reference = reference_replies(config)
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        say(f"  {mode}: {name} took {time.monotonic() - clock:.1f} s")
        clock = time.monotonic()

    with tempfile.TemporaryDirectory(prefix=f"plaza-blackout-{mode}-") as folder:
        platforms = Platforms.start(trace, seed=seed, mastodon_limit=mastodon_limit)
        store = Store(Path(folder), postgres if mode != "sqlite" else None)
        processes: list[PlazaCommand] = []
        sampler = Sampler(interval=1.0)
        try:
            store.subscribe(trace, platforms)
            town_path = town(config, Path(folder))
            env = PlazaCommand.environment(town_path, config, store.url, platforms.environment())
            serve = PlazaCommand(town_path, env, "serve", *(("--workers", "0") if mode != "sqlite" else ()))
            processes.append(serve.start())
            for _ in range({"sqlite": 0, "pg1": 1, "pg2": 2}[mode]):
                processes.append(PlazaCommand(town_path, env, "worker").start())
            for process in processes:
                sampler.watch(process.pid)
            sampler.start()
            phase("setting up")
            victim = processes[-1]

            def kill() -> None:
                victim.kill()
                say(f"  {mode}: killed {victim.args[0]} (pid {victim.pid}) at {trace.kill_at:.0f} s")
                if mode in ("sqlite", "pg1"):  # the only one: a supervisor starts it again
                    again = PlazaCommand(town_path, env, *victim.args)
                    again.port = victim.port
                    processes.append(again.start())
                    sampler.watch(again.pid)

            say(
                f"  {mode}: {len(trace.messages):,} messages in {trace.duration:.0f} s, "
                f"broadcast to {sum(trace.subscribers.values()):,}, {len(trace.takeovers)} takeovers"
            )
            driven = drive(config, trace, platforms, store.database, lambda: serve.base_url, kill)
            phase("the trace")
            say(f"  {mode}: done at (s into the run): {', '.join(f'{k} {v:.1f}' for k, v in driven.finished.items())}")
            expected = len(driven.delivered)
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline:
                with store.database.reader.connect() as connection:
                    stored = connection.execute(select(func.count()).select_from(inbox)).scalar_one()
                    pending = connection.execute(
                        select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                    ).scalar_one()
                    replies = connection.execute(
                        select(func.count())
                        .select_from(outbox)
                        .where(
                            outbox.c.channel == "telegram",
                            outbox.c.broadcast_id.is_(None),
                            outbox.c.status.in_(("pending", "sending")),
                        )
                    ).scalar_one()
                if stored >= expected and pending == 0 and (replies == 0 or not wait_replies):
                    break
                time.sleep(0.5)
            phase("draining")
            sampler.stop()
            for process in processes:
                process.stop()
            outcome = measure(mode, trace, driven, platforms, store.database, reference)
            outcome.peak_rss, outcome.mean_cpu = sampler.peak_rss(), sampler.mean_cpu()
            phase("stopping and measuring")
            return outcome
        finally:
            sampler.stop()
            for process in processes:
                process.kill()
            store.close()
            platforms.stop()


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 1000:,.0f}"


def _s(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.1f}"


def run(config: Config, args: argparse.Namespace, report: Report) -> int:
    from bot.bench.blackout_measure import FLOORS, percentile

    postgres = args.postgres or os.environ.get("PLAZA_TEST_DATABASE_URL")
    outcomes: list[Outcome] = []
    report.out(f"machine: {report.machine}")
    for mode in args.mode or MODES:
        if mode != "sqlite" and not postgres:
            report.text(f"{mode}: skipped, no PostgreSQL (set PLAZA_TEST_DATABASE_URL or --postgres)")
            continue
        outcomes.append(run_mode(config, mode, scale=args.scale, seed=args.seed, drain=args.drain, postgres=postgres))
    scale = f"scale {args.scale:g}, seed {args.seed}"
    report.table(
        f"Correctness ({scale})",
        [
            "mode",
            "messages",
            "lost",
            "doubled",
            "doubled deliveries",
            "re-sent at the kill",
            "left sending at stop",
            "out of order",
            "bot after takeover",
            "unanswered",
            "replies not the script's",
            "malformed refused",
            "takeovers",
        ],
        [
            [
                o.mode,
                o.messages,
                o.lost,
                o.doubled,
                o.doubled_deliveries,
                o.resent_at_crash,
                o.left_sending,
                o.out_of_order,
                o.after_takeover,
                o.unanswered,
                o.different_replies,
                f"{o.malformed_refused}/{o.malformed_total}",
                f"{o.takeovers} ({o.takeover_misses} missed)",
            ]
            for o in outcomes
        ],
        note="Targets: 0 lost, 0 doubled, 0 out of order, 0 after takeover.",
    )
    report.table(
        "Latency (ms)",
        [
            "mode",
            "reply p50",
            "reply p95",
            "reply p99",
            "pacing p50",
            "pacing p95",
            "Telegram end-to-end p50",
            "Telegram end-to-end p95",
            "webhook ack p50",
            "webhook ack p99",
            "refused tries",
        ],
        [
            [
                o.mode,
                _ms(percentile(o.processing, 0.5)),
                _ms(percentile(o.processing, 0.95)),
                _ms(percentile(o.processing, 0.99)),
                _ms(percentile(o.pacing, 0.5)),
                _ms(percentile(o.pacing, 0.95)),
                _ms(percentile(o.end_to_end, 0.5)),
                _ms(percentile(o.end_to_end, 0.95)),
                _ms(percentile(o.acks, 0.5)),
                _ms(percentile(o.acks, 0.99)),
                o.refused_tries,
            ]
            for o in outcomes
        ],
        note=(
            "reply = from the message stored (webhook, or Mastodon read) to its first reply committed, the platform's "
            "pacing excluded; pacing = from that commit to the platform accepting the reply; end-to-end = from the "
            "first POST of the update to the fake Bot API receiving the reply. "
            "Targets: reply p95 ≤ 1 s, ack p99 ≤ 50 ms."
        ),
    )
    report.table(
        "Backlog, limits, resources",
        [
            "mode",
            "inbox drained (s after trace)",
            "Telegram replies drained (s)",
            "replies waiting: mastodon / x",
            "429s provoked: telegram / mastodon / x",
            "peak RSS (MiB)",
            "mean CPU (% of a core)",
        ],
        [
            [
                o.mode,
                _s(o.inbox_drain),
                _s(o.reply_drain),
                f"{o.undelivered_replies.get('mastodon', 0)} / {o.undelivered_replies.get('x', 0)}",
                " / ".join(str(o.limit_violations.get(c, 0)) for c in ("telegram", "mastodon", "x")),
                f"{o.peak_rss:,.0f}",
                f"{o.mean_cpu:,.0f}",
            ]
            for o in outcomes
        ],
        note="RSS and CPU: plaza serve and worker processes summed (the load generator and the fakes are not counted).",
    )
    rows = []
    for o in outcomes:
        for channel, (recipients, sent, failed, last) in o.broadcast.items():
            floor = recipients / FLOORS[channel]
            rate = sent / last if sent and last > 0 else 0.0
            projected = recipients / rate if rate else float("nan")
            rows.append([o.mode, channel, recipients, sent, failed, _s(last), f"{rate:,.2f}", _s(projected), _s(floor)])
    report.table(
        "Broadcast (at the end of the run)",
        [
            "mode",
            "channel",
            "recipients",
            "sent",
            "failed",
            "last send (s)",
            "msg/s",
            "all at this rate (s)",
            "platform floor (s)",
        ],
        rows,
        note="floor = recipients at the platform's own rate (Telegram 30/s, Mastodon 300 per 5 min, X 15 per 15 min).",
    )
    for o in outcomes:
        p95, ack = percentile(o.processing, 0.95), percentile(o.acks, 0.99)
        missed = []
        if not math.isnan(p95) and p95 > TARGET_REPLY_P95:
            missed.append(f"reply p95 {p95:.2f} s is {p95 / TARGET_REPLY_P95:.1f}× the 1 s target")
        if not math.isnan(ack) and ack > TARGET_ACK_P99:
            missed.append(f"ack p99 {ack * 1000:.0f} ms is {ack / TARGET_ACK_P99:.1f}× the 50 ms target")
        if any(o.zeros().values()):
            missed.append(f"correctness: {o.zeros()}; first findings: {o.problems[:5]}")
        report.text(f"{o.mode}: " + ("; ".join(missed) if missed else "every target met"))
    return 1 if any(any(o.zeros().values()) for o in outcomes) else 0
