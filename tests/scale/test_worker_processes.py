"""Real ``plaza worker`` processes sharing one PostgreSQL schema: a stream, a SIGKILL, metrics and JSON logs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from models.db import Database
from tests.support.databases import PostgresSchema
from tests.support.scale import (
    SCRIPT,
    Cuttable,
    WorkerProcess,
    check_stream,
    pending,
    rows,
    schema_url,
    send_round,
    town_with,
)
from tests.support.server import PlazaProcess, free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_workers_a_stream_and_one_killed_mid_round(
    tmp_path: Path, schema: PostgresSchema, pg: Database, reference: list[str], workers: list[WorkerProcess]
) -> None:
    town = town_with(tmp_path)
    env = {
        "PLAZA_DATABASE_URL": schema_url(schema),
        "PLAZA_LEASE_SECONDS": "3",
        "PLAZA_TEST_STEP_DELAY": "0.02",  # rounds last long enough to be killed in the middle of one
        "PLAZA_LOG_FORMAT": "json",
        "PLAZA_LOG_LEVEL": "INFO",
    }
    doomed, survivor = WorkerProcess(town, env), WorkerProcess(town, env)
    workers.extend([doomed, survivor])
    doomed.wait_ready()
    survivor.wait_ready()
    chats = [f"resident-{number:03d}" for number in range(60)]
    half = len(SCRIPT) // 2
    for number in range(half + 1):
        send_round(pg, chats, number)

    def doomed_holds() -> list[str]:
        return [
            row.chat_id
            for row in rows(
                pg,
                "SELECT chat_id FROM conversation_leases WHERE owner LIKE :owner AND lease_until > clock_timestamp()",
                owner=f"%:{doomed.pid}:%",
            )
        ]

    held = wait_for(doomed_holds, timeout=60, interval=0.01)
    doomed.kill()  # in the middle of a round: its transaction never commits, its leases stay until they run out
    for number in range(half + 1, len(SCRIPT)):
        send_round(pg, chats, number)
    wait_for(lambda: pending(pg) == 0, timeout=240, interval=0.2)

    check_stream(pg, chats, reference)
    owners = {row.owner for row in rows(pg, "SELECT owner FROM conversation_leases")}
    assert owners == {None}, "every lease was handed back by the survivor"
    assert held, "the killed worker held chats when it died; check_stream saw them finished"

    metrics = survivor.metrics()
    assert metrics[("plaza_step_seconds_count", ())] > 0
    assert metrics[("plaza_leases_claimed_total", ())] > 0
    assert metrics[("plaza_leases_lost_total", ())] >= 0
    assert metrics[("plaza_inbox_backlog", (("channel", "web"),))] == 0
    waiting_replies = rows(pg, "SELECT count(*) FROM outbox WHERE channel = 'web' AND status = 'pending'")[0][0]
    assert waiting_replies > 0  # the web chat's replies are sent by `plaza serve`, none runs here
    key = ("plaza_outbox_backlog", (("channel", "web"), ("priority", "0"), ("status", "pending")))
    assert metrics[key] == waiting_replies

    for worker in (survivor, doomed):
        lines = worker.log_lines()
        assert lines, worker.output()
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
        started = [entry for entry in entries if " started: channels " in entry["message"]]
        assert len(started) == 2 and all(entry["worker"] for entry in started), entries
    assert survivor.stop() == 0


def test_a_worker_without_its_database_says_so_in_one_line_and_keeps_trying(
    tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    town = town_with(tmp_path)
    nowhere = f"postgresql+psycopg://plaza@127.0.0.1:{free_port()}/plaza"
    worker = WorkerProcess(town, {"PLAZA_DATABASE_URL": nowhere})
    workers.append(worker)
    time.sleep(5)  # a few retries' worth
    assert worker.process.poll() is None, f"it keeps trying:\n{worker.output()}"
    output = worker.output()
    assert "Traceback" not in output
    said = [line for line in output.splitlines() if "cannot be reached" in line]
    assert len(said) == 1, output
    assert "127.0.0.1" in said[0] and "retrying" in said[0]


def test_serve_without_workers_accepts_and_a_worker_answers(
    tmp_path: Path, schema: PostgresSchema, pg: Database, workers: list[WorkerProcess]
) -> None:
    """`plaza serve --workers 0` stores and sends the web chat; a separate `plaza worker` runs the steps."""
    town = town_with(tmp_path)
    env = {"PLAZA_DATABASE_URL": schema_url(schema), "PLAZA_LOG_LEVEL": "INFO"}
    server = PlazaProcess(town, env=env, args=("--workers", "0"))
    try:
        server.start()
        session = uuid.uuid4().hex
        url = f"{server.base_url}/chat/api/{session}/messages"
        assert httpx.post(url, json={"text": "hola", "client_message_id": "m1"}, timeout=10).status_code == 202
        time.sleep(1.0)  # nobody here runs steps
        assert [row.status for row in rows(pg, "SELECT status FROM inbox")] == ["pending"]

        worker = WorkerProcess(town, env)
        workers.append(worker)
        worker.wait_ready()
        got = httpx.get(url, params={"after": 0, "wait": 20}, timeout=30).json()
        assert got and any("¿En qué puedo ayudarle?" in message["text"] for message in got), got
        assert [row.status for row in rows(pg, "SELECT status FROM inbox")] == ["done"]
        metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
        assert 'plaza_inbox_backlog{channel="web"} 0.0' in metrics
    finally:
        server.stop()


def test_a_worker_that_loses_its_database_says_so_once_and_goes_on_when_it_is_back(
    tmp_path: Path, schema: PostgresSchema, pg: Database, workers: list[WorkerProcess]
) -> None:
    database = make_url(schema.url)
    proxy = Cuttable(database.host or "127.0.0.1", database.port or 5432)
    try:
        town = town_with(tmp_path)
        worker = WorkerProcess(town, {"PLAZA_DATABASE_URL": proxy.url(schema), "PLAZA_LOG_LEVEL": "INFO"})
        workers.append(worker)
        worker.wait_ready()
        send_round(pg, ["before"], 0)
        wait_for(lambda: pending(pg) == 0, timeout=30)

        proxy.cut()
        send_round(pg, ["during"], 0)  # accepted (this test reaches the database directly); the worker cannot
        time.sleep(4)
        said = worker.output()
        time.sleep(4)
        assert worker.output().count("cannot be reached") == said.count("cannot be reached"), "no storm"
        assert "Traceback" not in worker.output()
        assert 1 <= said.count("cannot be reached") <= 2, said  # once per worker thread
        assert pending(pg) == 1

        proxy.restore()
        wait_for(lambda: pending(pg) == 0, timeout=60, interval=0.2)
        assert "the database answers again" in worker.output()
        assert "Traceback" not in worker.output()
        statuses = rows(pg, "SELECT chat_id, status, attempts FROM inbox ORDER BY id")
        assert [tuple(row) for row in statuses] == [("before", "done", 1), ("during", "done", 1)]
    finally:
        proxy.close()


def test_two_serve_processes_share_the_web_chat(tmp_path: Path, schema: PostgresSchema, pg: Database) -> None:
    """The page long-polls the server that does not send the web chat's replies: it hears of them at once."""
    town = town_with(tmp_path)
    env = {"PLAZA_DATABASE_URL": schema_url(schema), "PLAZA_LOG_LEVEL": "INFO"}
    sender = PlazaProcess(town, env=env)
    other = PlazaProcess(town, env=env)
    try:
        sender.start()  # first: it takes the web chat's sender lock
        other.start()
        session = uuid.uuid4().hex
        url = f"{other.base_url}/chat/api/{session}/messages"
        assert httpx.post(url, json={"text": "hola", "client_message_id": "m1"}, timeout=10).status_code == 202
        started = time.monotonic()
        got = httpx.get(url, params={"after": 0, "wait": 25}, timeout=40).json()
        waited = time.monotonic() - started
        assert got and any("¿En qué puedo ayudarle?" in message["text"] for message in got), got
        assert waited < 20, "woken by the sender's notification, not by the end of its long poll"
        assert "standing by" in other.output(), "the second server did not send the web chat"
        statuses = rows(pg, "SELECT status, attempts FROM outbox")
        assert statuses and all(tuple(row) == ("sent", 1) for row in statuses)
    finally:
        other.stop()
        sender.stop()
