"""Operability: /metrics in Prometheus text with sane values (SQLite and PostgreSQL), 429s counted, JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from adapters.base import Dispatch, Limits
from adapters.web import WebChannel
from bot.config import Config
from bot.errors import RetryLater
from bot.logs import JsonFormatter
from bot.messages import OutboundMessage, SentReceipt
from bot.metrics import REGISTRY
from bot.outbox import Dispatcher, Reply, enqueue
from bot.runtime import Plaza
from bot.web.app import create_app
from models import OutboxItem
from models.db import Database
from tests.support.server import AppServer, wait_for

OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def http(config: Config, database: Database) -> Iterator[httpx.Client]:
    web = WebChannel()
    plaza = Plaza(config, [web], database=database, poll_interval=0.05)
    with AppServer(create_app(plaza, web)) as server, httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        yield client


def test_metrics_show_steps_sends_and_backlogs(http: httpx.Client, database: Database) -> None:
    before = scrape(http)
    steps_before = before.get(("plaza_step_seconds_count", ()), 0.0)
    sends_before = before.get(("plaza_send_seconds_count", (("channel", "web"),)), 0.0)
    assert before[("plaza_inbox_backlog", (("channel", "web"),))] == 0

    session = uuid.uuid4().hex
    posted = http.post(f"/chat/api/{session}/messages", json={"text": "hola", "client_message_id": "m1"})
    assert posted.status_code == 202
    replies = http.get(f"/chat/api/{session}/messages", params={"after": 0, "wait": 10}).json()
    assert replies, "the bot answered"

    def sent_since() -> Samples | None:
        samples = scrape(http)
        return samples if samples.get(("plaza_send_seconds_count", (("channel", "web"),)), 0) > sends_before else None

    after = wait_for(sent_since, timeout=10)
    assert after[("plaza_step_seconds_count", ())] >= steps_before + 1
    assert after[("plaza_step_seconds_sum", ())] > before.get(("plaza_step_seconds_sum", ()), 0.0)
    assert after[("plaza_step_seconds_bucket", (("le", "+Inf"),))] == after[("plaza_step_seconds_count", ())]
    assert after[("plaza_inbox_backlog", (("channel", "web"),))] == 0
    assert ("plaza_leases_lost_total", ()) in after
    assert ("plaza_send_rate_limited_total", ()) not in after  # labelled: samples appear per channel once counted

    # a backlog appears as soon as rows wait: three broadcast rows nobody sends (an unknown channel)
    with database.writer.begin() as connection:
        notices = [Reply(text=f"aviso {n}") for n in range(3)]
        enqueue(connection, channel="nowhere", chat_id="x", replies=notices, priority=10)
    waiting = scrape(http)
    assert waiting[("plaza_outbox_backlog", (("channel", "nowhere"), ("priority", "10"), ("status", "pending")))] == 3


class Throttled:
    """A channel whose platform answers 429 once, then accepts."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def name(self) -> str:
        return "throttled"

    @property
    def limits(self) -> Limits:
        return Limits(max_text=1000, max_options=10, per_chat_per_s=1000.0, overall_per_s=1000.0)

    async def start(self, dispatch: Dispatch) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        self.calls += 1
        if self.calls == 1:
            raise RetryLater(self.name, 0.0, "Too Many Requests", rate_limited=True)
        if self.calls == 2:
            raise RetryLater(self.name, 0.0, "Bad Gateway")
        return SentReceipt(platform_message_ids=("1",), sent_at=datetime.now(UTC))


async def test_429s_and_retries_are_counted_apart(sqlite: Database) -> None:
    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"channel": "throttled"}) or 0.0

    limited, retried, sent = (
        value("plaza_send_rate_limited_total"),
        value("plaza_send_retry_later_total"),
        value("plaza_send_seconds_count"),
    )
    channel = Throttled()
    with sqlite.writer.begin() as connection:
        enqueue(connection, channel="throttled", chat_id="c", replies=[Reply(text="hola")])
    dispatcher = Dispatcher(sqlite.writer, channel)
    for _ in range(3):
        await dispatcher.dispatch_once()
        with sqlite.writer.begin() as connection:  # the 502's backoff is not what this test waits for
            connection.execute(update(OUTBOX).values(next_attempt_at=datetime.now(UTC)))
    assert channel.calls == 3
    assert value("plaza_send_rate_limited_total") == limited + 1, "only the 429"
    assert value("plaza_send_retry_later_total") == retried + 2, "the 429 and the 502"
    assert value("plaza_send_seconds_count") == sent + 1, "one successful send timed"


def test_json_log_lines_carry_time_level_logger_message_and_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("plaza.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("lost the lease on %s", "web:abc", extra={"conversation_id": 7, "chat_id": "abc"})
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            logger.exception("a step failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, "one line per record, a traceback included"
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "plaza.test.json"
    assert first["message"] == "lost the lease on web:abc"
    assert first["conversation_id"] == 7 and first["chat_id"] == "abc"
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]
