"""SIGKILL a real ``plaza serve`` between the steps of a message's journey; on restart nothing is lost or doubled.

Test hooks (environment of the killed server only):
- ``PLAZA_TEST_HOLD_PROCESSOR=1``: messages are accepted (202) but never processed.
- ``PLAZA_TEST_HOLD_DISPATCHER=1``: steps commit their replies, which are never sent.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ROOT, PlazaProcess, run_plaza, wait_for

pytestmark = pytest.mark.slow

GREETING = "Hola, soy el asistente del Ayuntamiento de Jun"
MENU = "¿En qué puedo ayudarle?"


@pytest.fixture
def town(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config = tmp_path / "config.yaml"
    upgraded = run_plaza(config, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return config


@pytest.fixture
def servers() -> Iterator[list[PlazaProcess]]:
    """Every server a test starts; whatever is still running at the end is killed."""
    started: list[PlazaProcess] = []
    yield started
    for server in started:
        server.kill()


def start(town: Path, servers: list[PlazaProcess], **env: str) -> PlazaProcess:
    server = PlazaProcess(town, env={"PLAZA_LOG_LEVEL": "INFO", **env})
    servers.append(server)
    return server.start()


class Rows:
    """Reads the server's SQLite file directly (WAL: readers never block the server)."""

    def __init__(self, town: Path) -> None:
        self.path = town.parent / "var" / "plaza.sqlite3"

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            connection.row_factory = sqlite3.Row
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def inbox(self, inbox_id: int) -> sqlite3.Row:
        (row,) = self.query("SELECT status, attempts, error FROM inbox WHERE id = ?", inbox_id)
        return row

    def outbox(self, chat_id: str) -> list[sqlite3.Row]:
        return self.query(
            "SELECT id, inbox_id, status, attempts, sent_at FROM outbox WHERE chat_id = ? ORDER BY id", chat_id
        )


def post_start(base_url: str, session: str, client_id: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/chat/api/{session}/messages", json={"start": True, "client_message_id": client_id}, timeout=10
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def replies(base_url: str, session: str, until: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Long-poll the bot's messages from the start until one contains ``until``, then once more for stragglers."""
    got: list[dict[str, Any]] = []
    after = 0
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=15) as client:
        while not any(until in m["text"] for m in got):
            assert time.monotonic() < deadline, f"no {until!r} in {timeout} s; got {got}"
            batch = client.get(f"/chat/api/{session}/messages", params={"after": after, "wait": 5}).json()
            if batch:
                after = batch[-1]["id"]
                got.extend(batch)
        got.extend(client.get(f"/chat/api/{session}/messages", params={"after": after, "wait": 1}).json())
        everything = client.get(f"/chat/api/{session}/messages", params={"after": 0}).json()
    assert [m["id"] for m in everything] == [m["id"] for m in got], "polling from 0 sees the same messages"
    return got


def assert_processed_once(rows: Rows, session: str, inbox_id: int, got: list[dict[str, Any]]) -> None:
    assert rows.inbox(inbox_id)["status"] == "done"
    assert rows.inbox(inbox_id)["attempts"] == 1
    outbox = rows.outbox(session)
    assert outbox, "the step wrote its replies"
    assert {row["inbox_id"] for row in outbox} == {inbox_id}
    assert [(row["status"], row["attempts"]) for row in outbox] == [("sent", 1)] * len(outbox)
    assert all(row["sent_at"] is not None for row in outbox)
    text = "\n".join(m["text"] for m in got)
    assert text.count(GREETING) == 1 and text.count(MENU) == 1, text
    assert [m["id"] for m in got] == [row["id"] for row in outbox], "the client sees each row exactly once"


def assert_redelivery_is_a_no_op(server: PlazaProcess, rows: Rows, session: str, client_id: str, inbox_id: int) -> None:
    before = [tuple(row) for row in rows.outbox(session)]
    again = post_start(server.base_url, session, client_id)
    assert again == {"id": inbox_id, "duplicate": True}
    time.sleep(0.5)
    last = before[-1][0]
    later = httpx.get(
        f"{server.base_url}/chat/api/{session}/messages", params={"after": last, "wait": 1.5}, timeout=10
    ).json()
    assert later == []
    assert [tuple(row) for row in rows.outbox(session)] == before
    assert rows.query("SELECT count(*) AS n FROM inbox WHERE chat_id = ?", session)[0]["n"] == 1
    assert rows.inbox(inbox_id)["attempts"] == 1


def test_kill_after_accept_before_processing(town: Path, servers: list[PlazaProcess]) -> None:
    rows = Rows(town)
    session, client_id = uuid.uuid4().hex, "tab:0001"

    held = start(town, servers, PLAZA_TEST_HOLD_PROCESSOR="1")
    accepted = post_start(held.base_url, session, client_id)
    assert accepted["duplicate"] is False
    inbox_id = accepted["id"]
    assert rows.inbox(inbox_id)["status"] == "pending"
    time.sleep(0.5)  # a processor that ignored the hold would have run by now
    held.kill()

    assert tuple(rows.inbox(inbox_id)) == ("pending", 0, None)
    assert rows.outbox(session) == []

    server = start(town, servers)
    got = replies(server.base_url, session, until=MENU)
    assert_processed_once(rows, session, inbox_id, got)
    assert_redelivery_is_a_no_op(server, rows, session, client_id, inbox_id)
    assert server.stop() is not None


def test_redelivery_while_held_then_after_restart(town: Path, servers: list[PlazaProcess]) -> None:
    """The page retried before the crash and again after it: one inbox row, processed once."""
    rows = Rows(town)
    session, client_id = uuid.uuid4().hex, "tab:0002"
    held = start(town, servers, PLAZA_TEST_HOLD_PROCESSOR="1")
    first = post_start(held.base_url, session, client_id)
    assert post_start(held.base_url, session, client_id) == {"id": first["id"], "duplicate": True}
    held.kill()

    server = start(town, servers)
    assert post_start(server.base_url, session, client_id) == {"id": first["id"], "duplicate": True}
    got = replies(server.base_url, session, until=MENU)
    assert_processed_once(rows, session, first["id"], got)
    assert_redelivery_is_a_no_op(server, rows, session, client_id, first["id"])


def test_kill_after_processing_before_sending(town: Path, servers: list[PlazaProcess]) -> None:
    rows = Rows(town)
    session, client_id = uuid.uuid4().hex, "tab:0003"

    held = start(town, servers, PLAZA_TEST_HOLD_DISPATCHER="1")
    inbox_id = post_start(held.base_url, session, client_id)["id"]
    wait_for(lambda: rows.inbox(inbox_id)["status"] == "done", timeout=15)
    pending = rows.outbox(session)
    assert pending and [(row["status"], row["attempts"]) for row in pending] == [("pending", 0)] * len(pending)
    # Not sent means not visible: the page only reads sent rows.
    assert httpx.get(f"{held.base_url}/chat/api/{session}/messages", params={"after": 0}, timeout=10).json() == []
    held.kill()

    assert [tuple(row) for row in rows.outbox(session)] == [tuple(row) for row in pending]
    server = start(town, servers)
    got = replies(server.base_url, session, until=MENU)
    assert_processed_once(rows, session, inbox_id, got)
    assert [row["id"] for row in rows.outbox(session)] == [row["id"] for row in pending], "no new replies"
    assert_redelivery_is_a_no_op(server, rows, session, client_id, inbox_id)


def test_a_conversation_goes_on_after_the_crash(town: Path, servers: list[PlazaProcess]) -> None:
    """The state written before the kill is the state after it: the next answer continues the flow."""
    rows = Rows(town)
    session = uuid.uuid4().hex
    held = start(town, servers, PLAZA_TEST_HOLD_PROCESSOR="1")
    post_start(held.base_url, session, "m1")
    response = httpx.post(
        f"{held.base_url}/chat/api/{session}/messages", json={"choice": "report", "client_message_id": "m2"}, timeout=10
    )
    assert response.status_code == 202
    held.kill()

    server = start(town, servers)
    got = replies(server.base_url, session, until="¿Qué ha pasado?")
    text = "\n".join(m["text"] for m in got)
    assert text.count(GREETING) == 1 and text.index(GREETING) < text.index("¿Qué ha pasado?")
    statuses = rows.query("SELECT status, attempts FROM inbox WHERE chat_id = ? ORDER BY id", session)
    assert [tuple(row) for row in statuses] == [("done", 1), ("done", 1)]
