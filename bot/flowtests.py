"""The runner behind ``plaza flows test``: example conversations against the real engine.

The examples (``flows/examples/<flow>.yaml``, format in :mod:`bot.flowexamples`)
say what a resident does and what the bot must answer. Each conversation runs
through the real inbox, processor, engine and outbox, on a fresh temporary
SQLite database and a fresh chat, so conversations never see each other; the
runner stands in for a channel by reading the chat's pending outbox rows and
marking them sent. A conversation stops at its first step that does not go
as written, and its :class:`Failure` names the file and line of that step,
what the resident did, what was expected and what the bot actually answered.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.flowexamples import (
    EXAMPLES_DIR,
    SAVED_KINDS,
    Conversation,
    ExampleFile,
    ExampleStep,
    example_files,
    load_examples,
)
from bot.inbox import accept
from bot.messages import InboundMessage, OutboundMessage, Photo
from bot.outbox import outbound_of
from bot.processor import Processor
from bot.throttle import UNTHROTTLED
from models import ChannelIdentity, OutboxItem, Resident
from models.db import Database

__all__ = ["ExampleResult", "Failure", "format_results", "missing_examples", "run_examples"]

CHANNEL = "examples"
OUTBOX = OutboxItem.__table__  # type: ignore[attr-defined]
RESIDENTS = Resident.__table__  # type: ignore[attr-defined]
IDENTITIES = ChannelIdentity.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Failure:
    """The first step of a conversation that did not go as written."""

    path: str
    line: int
    did: str
    expected: str
    actual: tuple[str, ...]

    def __str__(self) -> str:
        replies = "\n".join(_indent(text) for text in self.actual) or "    (no reply)"
        return f"{self.path}:{self.line}: {self.did}\n  expected: {self.expected}\n  the bot answered:\n{replies}"


@dataclass(frozen=True, slots=True)
class ExampleResult:
    """How one conversation went; ``failure`` is None when it passed."""

    flow: str
    path: str
    name: str
    language: str
    line: int
    failure: Failure | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines() or [""])


def missing_examples(config: Config, directory: Path | None = None) -> tuple[str, ...]:
    """The flows of the flows folder that have no examples file, by name."""
    folder = directory if directory is not None else config.flows_dir / EXAMPLES_DIR
    flows = {p.stem for p in example_files(config.flows_dir)}
    have = {p.stem for p in example_files(folder)} if folder.is_dir() else set()
    return tuple(sorted(flows - have))


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def _shown(reply: OutboundMessage) -> str:
    """A reply as the report shows it and expectations search it: its text, then its buttons."""
    buttons = [f"[{option.label}]" for option in reply.options]
    return "\n".join(part for part in (reply.text, " ".join(buttons)) if part)


def _same(actual: object, expected: object) -> bool:
    if expected is None or actual is None:
        return actual is expected
    if isinstance(expected, bool) or isinstance(actual, bool):
        return bool(actual) is expected if isinstance(expected, bool) else False
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return abs(float(actual) - float(expected)) < 1e-6
    return str(actual) == str(expected)


class _Chat:
    """One resident's chat over one database: push a message, pop the replies."""

    def __init__(self, config: Config, database: Database, language: str) -> None:
        self.database = database
        self.chat_id = f"example-{uuid.uuid4().hex[:12]}"
        self.language = language
        self.engine = Engine(config, FlowCatalog(config, database.writer))
        # an example's resident types instantly: the flood limit (config.yaml `limits:`) is not what is tested
        self.processor = Processor(database.writer, self.engine, (CHANNEL,), limits=UNTHROTTLED)

    def send(self, step: ExampleStep) -> list[OutboundMessage]:
        message = InboundMessage(
            channel=CHANNEL,
            platform_message_id=uuid.uuid4().hex,
            sender_id=self.chat_id,
            chat_id=self.chat_id,
            sent_at=datetime.now(UTC),
            text=step.say,
            choice=step.choice,
            location=step.location,
            photos=(Photo(ref=step.photo),) if step.photo is not None else (),
            language=self.language,
        )
        accept(self.database.writer, [message])
        while self.processor.run_once():
            pass
        return self.pop()

    def pop(self) -> list[OutboundMessage]:
        with self.database.writer.begin() as connection:
            rows = connection.execute(
                select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.chat_id, OUTBOX.c.payload)
                .where(OUTBOX.c.channel == CHANNEL, OUTBOX.c.chat_id == self.chat_id, OUTBOX.c.status == "pending")
                .order_by(OUTBOX.c.id)
            ).all()
            if rows:
                connection.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_([row.id for row in rows]))
                    .values(status="sent", sent_at=datetime.now(UTC))
                )
        return [outbound_of(row) for row in rows]

    def verify(self) -> None:
        """The resident of this chat was verified at the town hall (``verified: true``)."""
        mine = select(IDENTITIES.c.resident_id).where(
            IDENTITIES.c.channel == CHANNEL, IDENTITIES.c.platform_user_id == self.chat_id
        )
        with self.database.writer.begin() as connection:
            connection.execute(update(RESIDENTS).where(RESIDENTS.c.id.in_(mine)).values(verified=True))

    def rows(self, kind: str) -> list[Mapping[str, Any]]:
        with self.database.reader.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(select(SAVED_KINDS[kind])).all()]


def _check(chat: _Chat, path: str, step: ExampleStep, replies: Sequence[OutboundMessage]) -> Failure | None:
    shown = tuple(_shown(reply) for reply in replies)
    heard = _squash("\n".join(shown))
    for text in step.bot:
        if _squash(text) not in heard:
            return Failure(path, step.line, step.describe(), f"a reply containing {text!r}", shown)
    for text in step.not_bot:
        if _squash(text) in heard:
            return Failure(path, step.line, step.describe(), f"no reply containing {text!r}", shown)
    for kind, fields in (step.saved or {}).items():
        rows = chat.rows(kind)
        if not any(all(_same(row.get(name), value) for name, value in fields.items()) for row in rows):
            found = tuple(", ".join(f"{name}={row.get(name)!r}" for name in fields) for row in rows) or (
                f"(no {kind} saved)",
            )
            wanted = ", ".join(f"{name}={value!r}" for name, value in fields.items())
            return Failure(path, step.saved_line or step.line, step.describe(), f"a {kind} with {wanted}", found)
    for kind in step.not_saved:
        rows = chat.rows(kind)
        if rows:
            found = tuple(", ".join(f"{k}={v!r}" for k, v in row.items() if v is not None) for row in rows)
            return Failure(path, step.line, step.describe(), f"no {kind} saved", found)
    return None


def _run(config: Config, database: Database, example: ExampleFile, conversation: Conversation) -> ExampleResult:
    chat = _Chat(config, database, conversation.language)
    result = ExampleResult(example.flow, example.path, conversation.name, conversation.language, conversation.line)
    steps = list(conversation.steps)
    # The resident opens the chat first; a first step of only `bot:` checks the greeting.
    opening = steps.pop(0) if steps[0].is_start else ExampleStep(line=conversation.line)
    failure = _check(chat, example.path, opening, chat.send(opening))
    if conversation.verified:
        chat.verify()  # the opening message made the resident; the town hall checked their ID
    for step in steps:
        if failure is not None:
            break
        failure = _check(chat, example.path, step, chat.send(step))
    return replace(result, failure=failure)


def run_examples(config: Config, directory: Path | None = None) -> list[ExampleResult]:
    """Run every example conversation of ``directory`` (default ``<flows>/examples``).

    Each conversation gets its own freshly migrated temporary SQLite database
    and chat, and drives the real inbox, processor, engine and outbox with
    ``config``'s flows. Returns one result per conversation, in file order.
    Raises :class:`FlowErrors` when the flows or the examples files are broken
    (nothing runs then).
    """
    folder = directory if directory is not None else config.flows_dir / EXAMPLES_DIR
    flows = [p.stem for p in example_files(config.flows_dir)]
    examples = load_examples(folder, config.languages, flows) if folder.is_dir() else []
    results: list[ExampleResult] = []
    with tempfile.TemporaryDirectory(prefix="plaza-examples-") as scratch:
        template = Path(scratch) / "template.sqlite3"
        migrated = Database(f"sqlite:///{template}")
        try:
            migrated.upgrade()
        finally:
            migrated.dispose()
        runs = [(example, conversation) for example in examples for conversation in example.conversations]
        for number, (file, conversation) in enumerate(runs):
            target = Path(scratch) / f"conversation-{number}.sqlite3"
            shutil.copyfile(template, target)
            database = Database(f"sqlite:///{target}")
            try:
                results.append(_run(config, database, file, conversation))
            finally:
                database.dispose()
    return results


def format_results(results: Sequence[ExampleResult]) -> str:
    """The report: every failure in full, then one summary line per flow (and a total)."""
    lines: list[str] = []
    for result in results:
        if result.failure is not None:
            lines.append(f"FAILED {result.flow}: {result.name} ({result.language})")
            lines.append(str(result.failure))
            lines.append("")
    by_flow: dict[str, list[ExampleResult]] = {}
    for result in results:
        by_flow.setdefault(result.flow, []).append(result)
    for flow, group in by_flow.items():
        passed = sum(1 for r in group if r.passed)
        failed = len(group) - passed
        summary = f"{flow}: {len(group)} conversation{'s' if len(group) != 1 else ''}, {passed} passed"
        lines.append(summary + (f", {failed} failed" if failed else ""))
    if len(by_flow) > 1:
        passed = sum(1 for r in results if r.passed)
        lines.append(f"total: {len(results)} conversations, {passed} passed, {len(results) - passed} failed")
    if not results:
        lines.append("no example conversations found")
    return "\n".join(lines)
