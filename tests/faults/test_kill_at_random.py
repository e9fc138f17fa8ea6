"""SIGKILL at seeded random moments while traffic flows: after the restarts nothing accepted is lost, nothing
is processed twice, every chat's replies arrive in order, and the only doubles are sends in flight at a kill.

A real ``plaza serve`` (on PostgreSQL ``plaza serve --workers 0`` and a
``plaza worker``) takes webhooks from the fake Bot API while residents keep
talking; at random moments (seed ``PLAZA_FAULT_SEED``) the test SIGKILLs it
(on PostgreSQL the server, the worker or both) and starts it again on the
same port. Steps are slowed a little (``PLAZA_TEST_STEP_DELAY``) and every
send takes 50 ms to be answered, so kills land while accepting (a webhook
stored but not yet answered: the fake delivers again), while processing (an
uncommitted batch: done again) and while sending.

Why doubles can happen and are only counted: the outbox marks a row
``sending`` before the platform call and ``sent`` after it; a process killed
between the two leaves the row ``sending``, and the next sender sends it
again. Telegram's Bot API has no idempotency key, so the resident sees that
one message twice; platforms with a key (Mastodon) drop the copy. So the test
counts the doubles and checks each is the message in flight (followed by its
recorded copy), and that there are at most as many as kills.

``PLAZA_FAULT_KILLS`` (default 2) sets the kills per database, for a longer run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.testing.telegram_server import FakeTelegram, serve_fake_telegram
from bot.config import Config
from models.db import Database
from tests.support.databases import PostgresSchema, postgres_url
from tests.support.faults import Traffic, ledger, reference, settled, telegram_town
from tests.support.scale import WorkerProcess, rows, schema_url
from tests.support.server import PlazaProcess, free_port, wait_for

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("PLAZA_FAULT_KILLS", "2"))
SEED = int(os.environ.get("PLAZA_FAULT_SEED", "20261124"))


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with serve_fake_telegram() as running:
        running.latency = 0.05
        running.redeliver_after = 0.3
        yield running


class Town:
    """The processes of one Plaza, each started again on the same port (and database) after a kill."""

    def __init__(self, config: Path, env: dict[str, str], port: int, *, worker: bool) -> None:
        self.config = config
        self.env = {**env, "PLAZA_TEST_STEP_DELAY": "0.02", "PLAZA_LEASE_SECONDS": "3"}
        self.port = port
        self.worker = worker
        self.running: dict[str, PlazaProcess | WorkerProcess] = {}
        self.everything: list[PlazaProcess | WorkerProcess] = []

    def start(self, name: str) -> None:
        started: PlazaProcess | WorkerProcess
        if name == "serve":
            args = ("--workers", "0") if self.worker else ()
            started = PlazaProcess(self.config, env=self.env, port=self.port, args=args)
            self.everything.append(started)
            started.start()
        else:
            started = WorkerProcess(self.config, self.env, workers=1)
            self.everything.append(started)
            started.wait_ready()
        self.running[name] = started

    def kill(self, name: str) -> None:
        self.running.pop(name).kill()

    def stop(self) -> None:
        for process in self.everything:
            process.kill()


@pytest.fixture
def towns() -> Iterator[list[Town]]:
    made: list[Town] = []
    yield made
    for town in made:
        town.stop()


def in_flight(database: Database) -> dict[str, int]:
    """What the dead process left unfinished, read right after the kill."""
    counts = {
        "inbox pending": "SELECT count(*) FROM inbox WHERE status = 'pending'",
        "outbox pending": "SELECT count(*) FROM outbox WHERE status = 'pending'",
        "sending": "SELECT count(*) FROM outbox WHERE status = 'sending'",
    }
    return {name: int(rows(database, sql)[0][0]) for name, sql in counts.items()}


def kill_at_random(
    town: Town, database: Database, fake: FakeTelegram, traffic: Traffic, victims: list[list[str]]
) -> list[dict[str, int]]:
    """Each kill comes a random time after the town is up again (a restart is slow on a busy machine)."""
    rng = random.Random(SEED)
    began = time.monotonic()
    traffic.start()
    seen: list[dict[str, int]] = []
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.1, 2.5))
        doomed = rng.choice(victims)
        for name in doomed:
            town.kill(name)
        seen.append({"at ms": int((time.monotonic() - began) * 1000), **in_flight(database)})
        for name in doomed:
            town.start(name)
    traffic.finish()
    wait_for(lambda: settled(database, fake, traffic), timeout=120, interval=0.2)
    return seen


def run_and_check(town: Town, database: Database, fake: FakeTelegram, config: Config, folder: Path) -> None:
    traffic = Traffic(fake, residents=4, interval=1.0)
    town.start("serve")
    if town.worker:
        town.start("worker")
    victims = [["serve"], ["worker"], ["serve", "worker"]] if town.worker else [["serve"]]
    kills = kill_at_random(town, database, fake, traffic, victims)
    result = ledger(database, fake, traffic, reference(config, folder, traffic.cycles))
    print(
        f"\n{database.writer.dialect.name}: seed {SEED}, {len(kills)} kills, {len(traffic.pushed)} messages, "
        f"{sum(len(fake.sent_to(int(chat))) for chat in traffic.chats)} sends; lost {result.lost}, "
        f"duplicates {result.duplicates}, webhook deliveries refused {result.refused}; at each kill: {kills}"
    )
    assert result.lost == 0
    assert result.duplicates <= len(kills)
    assert result.duplicates <= sum(kill["sending"] for kill in kills), "a double is always a send in flight"


def test_sigkill_at_random_moments_on_sqlite(
    fake: FakeTelegram, config: Config, tmp_path: Path, towns: list[Town]
) -> None:
    port = free_port()
    config_path, env = telegram_town(tmp_path, fake, port)
    town = Town(config_path, env, port, worker=False)
    towns.append(town)
    database = Database(f"sqlite:///{tmp_path / 'var' / 'plaza.sqlite3'}")
    try:
        run_and_check(town, database, fake, config, tmp_path)
    finally:
        database.dispose()


@pytest.mark.postgres
def test_sigkill_of_server_and_worker_at_random_moments_on_postgres(
    fake: FakeTelegram, config: Config, tmp_path: Path, towns: list[Town], request: pytest.FixtureRequest
) -> None:
    postgres_url()
    schema: PostgresSchema = request.getfixturevalue("_postgres")
    database = schema.fresh()
    try:
        port = free_port()
        config_path, env = telegram_town(tmp_path, fake, port, schema_url(schema))
        town = Town(config_path, env, port, worker=True)
        towns.append(town)
        run_and_check(town, database, fake, config, tmp_path)
    finally:
        database.dispose()
