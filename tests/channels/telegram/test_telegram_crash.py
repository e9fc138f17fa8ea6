"""SIGKILL a real ``plaza serve`` polling Telegram between the steps of a message's journey: one reply after restart."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.testing.telegram_server import FakeTelegram
from tests.support.server import ROOT, PlazaProcess, run_plaza, wait_for

pytestmark = pytest.mark.slow

MENU = "¿En qué puedo ayudarle?"


@pytest.fixture
def town(tmp_path: Path) -> Path:
    """A copy of the town polling Telegram (one-second long polls, so a stop is quick)."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    polling = text.replace("  telegram:\n    enabled: false", "  telegram:\n    enabled: true\n    poll_timeout: 1")
    assert polling != text
    (tmp_path / "config.yaml").write_text(polling, encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    upgraded = run_plaza(tmp_path / "config.yaml", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return tmp_path / "config.yaml"


@pytest.fixture
def servers() -> Iterator[list[PlazaProcess]]:
    started: list[PlazaProcess] = []
    yield started
    for server in started:
        server.kill()


def query(town: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    connection = sqlite3.connect(town.parent / "var" / "plaza.sqlite3", timeout=30)
    try:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("hold", "stored_state"),
    [("PLAZA_TEST_HOLD_PROCESSOR", "pending"), ("PLAZA_TEST_HOLD_DISPATCHER", "done")],
    ids=["killed-before-processing", "killed-before-sending"],
)
def test_killed_after_the_update_was_stored_one_reply_after_restart(
    town: Path, servers: list[PlazaProcess], fake: FakeTelegram, hold: str, stored_state: str
) -> None:
    env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url, "PLAZA_LOG_LEVEL": "INFO"}
    ana = fake.user(301, "Ana")
    update_id = fake.push_text(ana, "hola")

    held = PlazaProcess(town, env={**env, hold: "1"})
    servers.append(held)
    held.start()
    wait_for(lambda: not fake.pending_updates(), 30)  # confirmed to Telegram: it was stored first
    wait_for(lambda: query(town, "SELECT status FROM inbox WHERE chat_id = ?", str(ana.id)), 10)
    if stored_state == "done":
        wait_for(lambda: query(town, "SELECT id FROM outbox WHERE chat_id = ?", str(ana.id)), 30)
    held.kill()
    assert [row["status"] for row in query(town, "SELECT status FROM inbox")] == [stored_state]
    assert fake.sent_to(ana.id) == []

    restarted = PlazaProcess(town, env=env)
    servers.append(restarted)
    restarted.start()
    wait_for(lambda: any(MENU in (s.text or "") for s in fake.sent_to(ana.id)), 30)
    wait_for(
        lambda: all(r["status"] == "sent" for r in query(town, "SELECT status FROM outbox WHERE chat_id = ?", "301")),
        30,
    )
    restarted.stop()

    inbox = query(town, "SELECT platform_message_id, status FROM inbox")
    assert [(row["platform_message_id"], row["status"]) for row in inbox] == [(str(update_id), "done")]
    outbox = query(town, "SELECT status, attempts FROM outbox WHERE chat_id = ?", str(ana.id))
    assert [(row["status"], row["attempts"]) for row in outbox] == [("sent", 1)] * len(outbox)
    sent = fake.sent_to(ana.id)
    assert len(sent) == len(outbox) and sum(MENU in (s.text or "") for s in sent) == 1
