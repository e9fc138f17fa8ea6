"""Helpers for the generated-input (fuzz) tests: how many examples, hostile bodies, and the database's verdict.

``examples()`` reads ``PLAZA_FUZZ_EXAMPLES`` (default: a few hundred, so
``make test`` stays quick; ``PLAZA_FUZZ_EXAMPLES=10000`` for the full run).
``hostile_body`` turns a JSON document into what a broken or malicious client
sends instead (invalid UTF-8, deep nesting, truncation, NaN, an oversized
body...). ``drain`` runs the engine over every pending inbox row (the
processor on SQLite, the lease workers on PostgreSQL) and ``inbox_verdict``
checks what the issue asks of the database after a run: each accepted
message stored once, complete and readable, processed once, answered once.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import strategies as st
from sqlalchemy import select

from bot.inbox import message_from_payload
from bot.runtime import Plaza
from models import InboxItem, OutboxItem
from models.db import Database

INBOX = InboxItem.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]

FUZZ_ENV = "PLAZA_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 300
OVERSIZED = b'{"pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
"""A body just over the webhooks' 1 MB limit (built once: generating it per example is slow)."""


def examples(default: int = DEFAULT_EXAMPLES, *, share: float = 1.0) -> int:
    """How many examples a generated test runs: ``PLAZA_FUZZ_EXAMPLES`` (times ``share``) or ``default``."""
    raw = os.environ.get(FUZZ_ENV, "").strip()
    if not raw:
        return default
    return max(1, int(int(raw) * share))


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\ud800", "<b>x</b>", "🙂" * 50, "x" * 5000, "9" * 400]),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)
"""Any JSON value, including lone surrogates, NUL and very long strings."""


def mutate(document: Any, data: st.DataObject) -> Any:
    """``document`` with one generated change somewhere inside: a value replaced, a key dropped or added."""
    if isinstance(document, dict) and document and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(document)))
        copy = dict(document)
        what = data.draw(st.sampled_from(["replace", "drop", "descend", "add"]))
        if what == "drop":
            del copy[key]
        elif what == "add":
            copy[data.draw(st.text(max_size=12))] = data.draw(json_value)
        elif what == "descend":
            copy[key] = mutate(copy[key], data)
        else:
            copy[key] = data.draw(json_value)
        return copy
    if isinstance(document, list) and document and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(document) - 1))
        copy_list = list(document)
        copy_list[index] = mutate(copy_list[index], data)
        return copy_list
    return data.draw(json_value)


HOSTILE = [
    "json",
    "json",
    "json",
    "invalid_utf8",
    "truncated",
    "deep",
    "very_deep",
    "nan",
    "empty",
    "not_json",
    "oversized",
]


def hostile_body(document: Any, kind: str, data: st.DataObject) -> bytes:
    """The bytes a client sends for ``document`` when it is broken in the way ``kind`` names."""
    if kind == "oversized":
        return OVERSIZED
    if kind == "empty":
        return b""
    if kind == "not_json":
        return data.draw(st.binary(max_size=200))
    if kind == "deep":
        depth = data.draw(st.integers(900, 1100))
        return b"[" * depth + b"1" + b"]" * depth
    if kind == "very_deep":
        return b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    if kind == "nan":
        return b'{"update_id": NaN, "x": Infinity, "y": -Infinity}'
    encoded = json.dumps(document, ensure_ascii=data.draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "invalid_utf8":
        at = data.draw(st.integers(0, len(encoded)))
        return (
            encoded[:at] + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + encoded[at:]
        )
    if kind == "truncated":
        return encoded[: data.draw(st.integers(0, max(0, len(encoded) - 1)))]
    return encoded


class InProcess:
    """A synchronous HTTP client for an ASGI app in this process (httpx's ASGITransport on one event loop).

    The app's own exceptions are raised here, not turned into 500s, so a crash
    fails the test with its traceback.
    """

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def call(self, function: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``function()`` on the app's event loop (for example a channel's ``stop``)."""
        return self._portal.call(function)

    def quiesce(self, qualname: str, timeout: float = 30.0) -> None:
        """Wait until the app's background tasks running ``qualname`` (a coroutine's ``__qualname__``) are done."""

        async def done() -> None:
            pending = [
                task
                for task in asyncio.all_tasks()
                if not task.done() and getattr(task.get_coro(), "__qualname__", "") == qualname
            ]
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        self._portal.call(done)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)


@contextmanager
def in_process(app: Any) -> Iterator[InProcess]:
    """An :class:`InProcess` client for ``app`` (its lifespan is not run)."""
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plaza.test")
        try:
            yield InProcess(portal, client)
        finally:
            portal.call(client.aclose)


def drain(plaza: Plaza) -> int:
    """Run engine steps until no inbox row is pending; returns how many rows were handled."""
    handled = 0
    runners: list[Any] = [plaza.processor] if plaza.processor is not None else list(plaza.workers)
    assert runners, "this Plaza processes nothing"
    while True:
        done = sum(runner.run_once() for runner in runners)
        if not done:
            return handled
        handled += done


@dataclass(frozen=True)
class Verdict:
    stored: int
    replies: int


def inbox_verdict(database: Database, channel: str, accepted: set[str]) -> Verdict:
    """Check the inbox and outbox of ``channel`` after a run whose accepted message keys were ``accepted``.

    Every accepted key is stored exactly once and nothing else is; every row is
    complete (its payload rebuilds the message), processed once (``done``,
    one attempt) and answered: at least one reply, and no reply twice.
    """
    with database.reader.connect() as connection:
        rows = connection.execute(
            select(INBOX.c.id, INBOX.c.platform_message_id, INBOX.c.chat_id, INBOX.c.payload, INBOX.c.status)
            .add_columns(INBOX.c.attempts, INBOX.c.error)
            .where(INBOX.c.channel == channel)
        ).all()
        replies = connection.execute(
            select(OUTBOX.c.inbox_id, OUTBOX.c.payload).where(
                OUTBOX.c.channel == channel, OUTBOX.c.inbox_id.is_not(None)
            )
        ).all()
    keys = Counter(row.platform_message_id for row in rows)
    assert [key for key, count in keys.items() if count > 1] == [], "a message stored twice"
    assert set(keys) == accepted, (
        f"stored but never acknowledged: {sorted(set(keys) - accepted)[:5]}; "
        f"acknowledged but not stored: {sorted(accepted - set(keys))[:5]}"
    )
    per_row: dict[int, list[str]] = {}
    for reply in replies:
        per_row.setdefault(reply.inbox_id, []).append(json.dumps(reply.payload, sort_keys=True))
    for row in rows:
        message = message_from_payload(channel, row.platform_message_id, row.payload)
        assert message.chat_id == row.chat_id and message.chat_id, row
        assert (row.status, row.attempts, row.error) == ("done", 1, None), row
        answers = per_row.get(row.id, [])
        assert answers, f"no reply to {row.platform_message_id}: {row.payload}"
        assert len(answers) == len(set(answers)), f"a reply twice to {row.platform_message_id}: {answers}"
    return Verdict(stored=len(rows), replies=len(replies))
