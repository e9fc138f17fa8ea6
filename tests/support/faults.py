"""Fault tests' harness: Plaza fed by the fake Bot API's webhooks, and the ledger that says what was lost or doubled.

:func:`telegram_town` is a copy of the town with Telegram on in webhook mode
(the fake POSTs every update to ``/webhooks/telegram`` on a fixed port, so a
restarted ``plaza serve`` gets the redeliveries). :class:`Traffic` is residents
saying :data:`~tests.support.scale.SCRIPT` over and over from a thread.
:func:`ledger` compares three records at the end: what the fake pushed, what
Plaza stored and answered (inbox, conversations, outbox) and what the fake
delivered to each chat; it fails on anything lost, processed twice or out of
order, and returns the sends the platform saw twice.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.testing.telegram_server import FakeTelegram
from bot.catalog import FlowCatalog
from bot.config import Config
from bot.engine import Engine
from bot.inbox import accept
from bot.messages import InboundMessage
from bot.processor import Processor
from models.db import Database
from models.rawsql import from_db_json
from tests.support.scale import SCRIPT, rows
from tests.support.server import ROOT, run_plaza

SECRET = "faults-Secret_42"


def telegram_town(
    folder: Path, fake: FakeTelegram, port: int, database_url: str | None = None
) -> tuple[Path, dict[str, str]]:
    """The town with Telegram in webhook mode towards ``127.0.0.1:port``; migrated; returns (config, env)."""
    source = (ROOT / "config.yaml").read_text(encoding="utf-8")
    webhook = f"http://127.0.0.1:{port}/webhooks/telegram"
    changed = source.replace(
        "  telegram:\n    enabled: false",
        f"  telegram:\n    enabled: true\n    mode: webhook\n    webhook_url: {webhook}",
    )
    assert changed != source
    (folder / "config.yaml").write_text(changed, encoding="utf-8")
    shutil.copytree(ROOT / "flows", folder / "flows")
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PLAZA_LOG_LEVEL": "INFO",
    }
    if database_url:
        env["PLAZA_DATABASE_URL"] = database_url
    upgraded = run_plaza(folder / "config.yaml", "db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return folder / "config.yaml", env


class Traffic:
    """Residents of the fake saying :data:`SCRIPT`, one round (a line each) every ``interval``, for at least
    ``cycles`` whole scripts and then until :meth:`finish` (which lets the script under way end)."""

    def __init__(self, fake: FakeTelegram, residents: int, *, cycles: int = 1, interval: float = 0.5) -> None:
        self.fake = fake
        self.users = [fake.user(7000 + number, "Ana") for number in range(residents)]
        self.cycles = 0
        self.at_least = cycles
        self.interval = interval
        self.pushed: list[int] = []
        self._enough = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    @property
    def chats(self) -> list[str]:
        return [str(user.id) for user in self.users]

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop after the script under way (and at least the cycles asked for)."""
        self._enough.set()
        self._thread.join()

    def _run(self) -> None:
        while self.cycles < self.at_least or not self._enough.is_set():
            for line in SCRIPT:
                for user in self.users:
                    self.pushed.append(self.fake.push_text(user, line))
                time.sleep(self.interval)
            self.cycles += 1


def reference(config: Config, folder: Path, cycles: int = 1) -> list[str]:
    """The replies to :data:`SCRIPT` (``cycles`` times) from a Telegram resident, one message after another,
    by the embedded processor on a fresh SQLite file: what every chat of the traffic must get (the script
    ends by cancelling, so each cycle gets the same replies)."""
    database = Database(f"sqlite:///{folder / 'reference.sqlite3'}")
    database.upgrade()
    try:
        processor = Processor(database.writer, Engine(config, FlowCatalog(config, database.writer)), ["telegram"])
        for number, said in enumerate(list(SCRIPT) * cycles):
            message = InboundMessage(
                channel="telegram",
                platform_message_id=str(number),
                sender_id="1",
                chat_id="1",
                sent_at=datetime.now(UTC),
                text=said,
                language="es",
                sender_name="Ana",
            )
            accept(database.writer, [message])
            while processor.run_once():
                pass
        return [
            from_db_json(payload)["text"] for (payload,) in rows(database, "SELECT payload FROM outbox ORDER BY id")
        ]
    finally:
        database.dispose()


def settled(database: Database, fake: FakeTelegram, traffic: Traffic) -> bool:
    """Every pushed update confirmed (a 2xx), processed, and every reply sent."""
    if fake.pending_updates():
        return False
    inbox = rows(database, "SELECT count(*) FROM inbox WHERE status = 'pending'")[0][0]
    outbox = rows(database, "SELECT count(*) FROM outbox WHERE status <> 'sent'")[0][0]
    return inbox == 0 and outbox == 0 and len(traffic.pushed) == len(traffic.users) * len(SCRIPT) * traffic.cycles


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the fault did to the conversation, as counted at the end."""

    lost: int
    """Messages accepted (or pushed) but never stored, or stored and never answered: must be 0."""
    duplicates: int
    """Sends the platform saw twice (the message in flight when the sender died or the answer was lost)."""
    refused: int
    """Webhook deliveries that got no 2xx (the platform delivered them again)."""


def ledger(database: Database, fake: FakeTelegram, traffic: Traffic, expected: Sequence[str]) -> Ledger:
    """Check the three records against each other; fail on a loss, a double step or a reorder."""
    pushed = sorted(str(update_id) for update_id in traffic.pushed)
    inbox = rows(database, "SELECT platform_message_id, chat_id, status, attempts, error FROM inbox ORDER BY id")
    stored = sorted(row.platform_message_id for row in inbox)
    assert stored == pushed, "every update the platform pushed is stored exactly once"
    assert [row for row in inbox if (row.status, row.error) != ("done", None)] == [], "every message processed"
    assert {row.attempts for row in inbox} == {1}, "a step killed halfway rolled back and counted no attempt"
    versions = {row.chat_id: row.version for row in rows(database, "SELECT chat_id, version FROM conversations")}
    assert versions == dict.fromkeys(traffic.chats, len(SCRIPT) * traffic.cycles), "one saved state per message"
    outbox = rows(
        database, "SELECT id, chat_id, inbox_id, status, payload, platform_message_ids FROM outbox ORDER BY id"
    )
    assert {row.status for row in outbox} == {"sent"}
    recorded: dict[int, tuple[str, str]] = {}
    for row in outbox:
        for message_id in from_db_json(row.platform_message_ids):
            recorded[int(message_id)] = (row.chat_id, from_db_json(row.payload)["text"])
    duplicates = 0
    for chat in traffic.chats:
        mine = [row for row in outbox if row.chat_id == chat]
        texts = [from_db_json(row.payload)["text"] for row in mine]
        assert texts == list(expected), f"chat {chat}: the replies of the conversation, in order, each once"
        inbox_ids = [row.inbox_id for row in mine]
        assert inbox_ids == sorted(inbox_ids), f"chat {chat}: replies out of order"
        seen: list[Any] = fake.sent_to(int(chat))
        kept = [sent for sent in seen if sent.message_id in recorded]
        assert [sent.text for sent in kept] == texts, f"chat {chat}: what the resident saw, in order"
        for index, sent in enumerate(seen):
            if sent.message_id in recorded:
                continue
            # a copy the sender never recorded: it must be the in-flight one, sent again right after
            later = next((s for s in seen[index + 1 :] if s.message_id in recorded), None)
            assert later is not None and later.text == sent.text, f"chat {chat}: an unexplained send {sent}"
            duplicates += 1
    refused = sum(1 for _, status in fake.webhook_deliveries() if not 200 <= status < 300)
    return Ledger(lost=len(pushed) - len(stored), duplicates=duplicates, refused=refused)
