"""A database that cannot store anything (read-only, disk full) is said so clearly, never met with silence.

The tests run as root here, where ``chmod`` does not stop a write, and a
tiny disk needs a mount: so a read-only database is simulated by SQLite's own
``PRAGMA query_only`` (in this process) and by opening the file with
``?mode=ro`` (a real read-only open, for ``plaza serve``), and a full disk by
``PRAGMA max_page_count`` set to the file's size (SQLite then answers
SQLITE_FULL, "database or disk is full", as on a full disk).

What must happen: webhooks answer 503 with the reason and store nothing (the
platform delivers again, and once the database takes writes again the
message is stored and answered once); the log says ``database is read-only:
...`` / ``disk full: ...`` in one line; the web chat gets a 503 whose body
is a short reason, not a stack trace (its page keeps the message and tries
again); and ``plaza serve`` refuses to start, saying why, with exit code 3.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from bot.config import Config
from models.db import Database
from tests.support.contract import MENU, Town, running_town
from tests.support.contract_platforms import platform_named
from tests.support.server import ROOT, run_plaza


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def read_only(connection: Any) -> None:
    connection.execute("PRAGMA query_only = 1")


def full(connection: Any) -> None:
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


class Trouble:
    """Applies a pragma to every new connection of both engines (existing ones are closed first)."""

    def __init__(self, database: Database, pragma: Callable[[Any], None]) -> None:
        self.database = database
        self.pragma = pragma

    def _listener(self, connection: Any, record: Any) -> None:
        self.pragma(connection)

    def __enter__(self) -> None:
        for engine in {self.database.writer, self.database.reader}:
            event.listen(engine, "connect", self._listener)
            engine.dispose()

    def __exit__(self, *exc: object) -> None:
        for engine in {self.database.writer, self.database.reader}:
            event.remove(engine, "connect", self._listener)
            engine.dispose()


@pytest.fixture
def town(config: Config, sqlite: Database) -> Iterator[Town]:
    with platform_named("telegram") as telegram, running_town(telegram, config, sqlite) as running:
        yield running


@pytest.mark.parametrize(("pragma", "said"), [(read_only, "database is read-only"), (full, "disk full")])
def test_a_webhook_answers_503_with_the_reason_and_the_message_is_taken_once_it_can_be(
    town: Town, sqlite: Database, caplog: pytest.LogCaptureFixture, pragma: Callable[[Any], None], said: str
) -> None:
    resident, body = town.platform.event()
    # a long message: its row needs new pages, which a full database cannot give
    body = body.replace(b'"text": "hola"', b'"text": "hola ' + b"x" * 6000 + b'"')
    with caplog.at_level(logging.ERROR), Trouble(sqlite, pragma):
        refused = town.post(body, "right")
        assert refused.status_code == 503, refused.text
        assert refused.json() == {"error": f"{said}; deliver again later"}
        assert town.stored() == 0
    lines = [record.getMessage() for record in caplog.records if said in record.getMessage()]
    assert lines and f"{said}: " in lines[0], "one clear line with the driver's own words"
    assert not any(record.exc_info for record in caplog.records if said in record.getMessage()), "no traceback"
    accepted = town.post(body, "right")  # the platform delivers again
    assert accepted.status_code == 200, accepted.text
    town.wait_reply(resident, MENU["es"])
    assert town.stored() == 1


def test_the_web_chat_gets_a_short_503_not_a_stack_trace(town: Town, sqlite: Database) -> None:
    url = f"{town.base_url}/chat/api/session-0123456789abcdef/messages"
    with Trouble(sqlite, read_only):
        answer = httpx.post(url, json={"text": "hola", "client_message_id": "m1"}, timeout=15)
    assert answer.status_code == 503
    assert answer.json() == {"error": "database is read-only; try again later"}
    assert "Traceback" not in answer.text
    again = httpx.post(url, json={"text": "hola", "client_message_id": "m1"}, timeout=15)
    assert again.status_code == 202, again.text  # the page sends the same message again: taken now


def test_plaza_serve_refuses_to_start_on_a_read_only_database(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config = tmp_path / "config.yaml"
    assert run_plaza(config, "db", "upgrade").returncode == 0
    url = f"sqlite:///file:{tmp_path / 'var' / 'plaza.sqlite3'}?mode=ro&uri=true"
    started = run_plaza(config, "serve", "--port", "1", env={"PLAZA_DATABASE_URL": url})
    assert started.returncode == 3, started.stdout + started.stderr
    assert started.stderr.startswith("database: database is read-only: attempt to write a readonly database")
    assert "start again" in started.stderr and "Traceback" not in started.stderr


def test_plaza_serve_refuses_to_start_on_a_full_disk(tmp_path: Path) -> None:
    """A tiny tmpfs when this machine lets the test mount one; otherwise skipped (the check is free space)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here ({mounted.stderr.decode().strip()}); needs root")
    try:
        shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
        shutil.copytree(ROOT / "flows", tmp_path / "flows")
        config = tmp_path / "config.yaml"
        env = {"PLAZA_DATABASE_URL": f"sqlite:///{disk / 'plaza.sqlite3'}", "PLAZA_SECRET_KEY": "k" * 32}
        assert run_plaza(config, "db", "upgrade", env=env).returncode == 0
        with (disk / "filler").open("wb") as filler:  # fill what is left
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass
        started = run_plaza(config, "serve", "--port", "1", env=env)
        assert started.returncode == 3, started.stdout + started.stderr
        assert started.stderr.startswith("database: disk full: "), started.stderr
        assert "Traceback" not in started.stderr
    finally:
        subprocess.run(["umount", str(disk)], check=False)
