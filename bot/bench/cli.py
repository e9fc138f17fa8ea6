"""``plaza bench NAME``: the argument parsers of every bench and the dispatch to its module."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path
from typing import Any, Protocol

from bot.bench.report import DEFAULT_FOLDER, Report
from bot.config import Config

# name → (module, one-line help). A module has add_arguments(parser) and run(config, args, report) -> int.
BENCHES: dict[str, tuple[str, str]] = {
    "engine": ("bot.bench.engine", "durable messages/s vs the raw-SQL floor (SQLite, and PostgreSQL when set)"),
    "peer": (
        "bot.bench.peer",
        "the incident flow over the Bot API: Plaza (durable) vs a plain PTB ConversationHandler bot",
    ),
    "broadcast": ("bot.bench.broadcast", "seconds to expand 100,000 subscribers into the outbox (SQLite, PostgreSQL)"),
    "memory": ("bot.bench.memory", "RSS growth across 100,000 conversations through the engine"),
    "blackout": (
        "bot.bench.blackout",
        "5,000 messages in 120 s, a broadcast, takeovers and a killed worker: correctness and latency",
    ),
}


class BenchModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, config: Config, args: argparse.Namespace, report: Report) -> int: ...


def _module(name: str) -> BenchModule:
    module: Any = importlib.import_module(BENCHES[name][0])
    return module  # type: ignore[no-any-return]


def add_parser(commands: Any) -> None:
    bench = commands.add_parser("bench", help="run a benchmark: print its tables and write a report")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    for name, (_, summary) in BENCHES.items():
        parser = bench_commands.add_parser(name, help=summary)
        parser.add_argument(
            "--report-dir",
            type=Path,
            default=DEFAULT_FOLDER,
            help=f"where the markdown report and its charts go (default {DEFAULT_FOLDER})",
        )
        _module(name).add_arguments(parser)


def run(config: Config, args: argparse.Namespace) -> int:
    name = str(args.bench_command)
    report = Report(name, command="plaza " + shlex.join(sys.argv[1:]) if sys.argv[1:] else f"plaza bench {name}")
    code = _module(name).run(config, args, report)
    report.write(args.report_dir)
    return code
