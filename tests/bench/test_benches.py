"""Every ``plaza bench`` runs end to end at a tiny size and writes its report with the expected tables.

Correctness only: the benches really run (the engine and its floor, real
``plaza worker`` processes on PostgreSQL, Plaza and the peer bot over the
fake Bot API, a broadcast's expansion, RSS sampling) and report what they
measured; no number is asserted, speed belongs to the benches themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bench.cli import BENCHES
from bot.cli import main
from tests.support.databases import postgres_url

ROOT = Path(__file__).resolve().parents[2]


def bench(tmp_path: Path, *args: str) -> str:
    """Run ``plaza bench ARGS`` in this process; returns the markdown report it wrote."""
    code = main(["--config", str(ROOT / "config.yaml"), "bench", *args, "--report-dir", str(tmp_path)])
    assert code == 0
    [report] = tmp_path.glob(f"{args[0]}-*.md")
    return report.read_text(encoding="utf-8")


def rows_of(report: str, header: str) -> list[list[str]]:
    """The body rows of the table whose header line is ``header``."""
    lines = report.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_every_bench_is_registered() -> None:
    assert {"engine", "peer", "broadcast", "memory"} <= set(BENCHES)


def test_broadcast_expands_every_subscriber(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'broadcast.sqlite3'}"
    report = bench(tmp_path, "broadcast", "--subscribers", "120", "--database", database)
    [row] = rows_of(report, "| database | subscribers | seconds | rows/s | target ≤ 10 s |")
    assert row[:2] == ["sqlite", "120"]
    assert row[4].startswith(("met", "missed"))
    header = "| database | batches | find next: first / last ms | insert: first / last ms | statements' share |"
    [batches] = rows_of(report, header)
    assert batches[:2] == ["sqlite", "1"]  # 120 subscribers: one batch
    assert next(tmp_path.glob("broadcast-*-batches.png")).read_bytes().startswith(b"\x89PNG")


def test_memory_samples_rss_across_conversations(tmp_path: Path) -> None:
    report = bench(tmp_path, "memory", "--conversations", "20", "--chunk", "10")
    header = (
        "| conversations | messages | seconds | RSS at start MiB | after 10 MiB | at end MiB | peak MiB | growth MiB "
        "| target < 20 MiB |"
    )
    [row] = rows_of(report, header)
    assert row[:2] == ["20", "60"]
    assert float(row[5]) > 0
    chart = next(tmp_path.glob("memory-*-rss.png"))
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_peer_and_plaza_answer_the_same_reports(tmp_path: Path) -> None:
    report = bench(tmp_path, "peer", "--messages", "50", "--timeout", "120")
    peer, plaza = rows_of(report, "| bot | messages | seconds | msg/s | replies sent | durable |")
    assert peer[0].startswith("python-telegram-bot") and plaza[0].startswith("Plaza")
    assert peer[1] == plaza[1] == "49"  # 7 residents × 7 messages
    assert int(peer[4]) >= 49 and int(plaza[4]) >= 49  # a reply to every message, a ticket to everyone
    assert [peer[5], plaza[5]] == ["no", "yes"]
    assert "Plaza / peer:" in report


def test_engine_on_sqlite_against_its_floor(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'engine.sqlite3'}"
    report = bench(tmp_path, "engine", "--conversations", "5", "--rounds", "1", "--database", database)
    header = (
        "| database | messages | plaza msg/s (best) | raw-SQL floor msg/s (best) | plaza / floor (median) | target |"
    )
    [row] = rows_of(report, header)
    assert row[:2] == ["sqlite", "35"]
    assert row[5].startswith(("met", "missed"))


@pytest.mark.postgres
def test_engine_drain_by_worker_processes_on_postgres(tmp_path: Path) -> None:
    url = postgres_url()
    assert url is not None
    report = bench(
        tmp_path,
        "engine",
        "--conversations",
        "3",
        "--rounds",
        "1",
        "--database",
        url,
        "--drain-conversations",
        "10",
    )
    header = "| processes × threads | messages | drain seconds | msg/s | wall seconds | workers' CPU % | target |"
    [row] = rows_of(report, header)
    assert row[:2] == ["2 × 1", "70"]
