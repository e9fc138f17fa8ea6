"""What a ``blackout`` run stands on: the three local platforms, the town, the database and the processes.

- :class:`Platforms`: the fake Bot API, the fake X API and mastodon-mock in
  this process, with realistic latency, 1 % errors (Telegram and X) and
  real 429s (Telegram's flood control, X's DM limit, Mastodon's 300 requests
  per 5 minutes), and every resident and subscriber of the trace known to them.
- :func:`town`: a copy of the town's config.yaml with Telegram (webhook),
  Mastodon (polling) and X (webhook) on.
- :class:`Store`: an empty SQLite file or a fresh PostgreSQL schema, migrated.
- :class:`PlazaCommand`: ``plaza serve`` or ``plaza worker`` as a subprocess,
  so that one can be SIGKILLed.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, insert, select, text

from adapters.testing.mastodon_server import JUN_TOKEN, MastodonServer
from adapters.testing.serving import AppServer, free_port
from adapters.testing.telegram_server import FakeTelegram, Flood
from adapters.testing.x_server import FakeX
from adapters.testing.x_server import environment as x_environment
from bot.bench.blackout_trace import Trace
from bot.config import Config
from models import Resident, Subscription
from models.db import Database

__all__ = ["TELEGRAM_SECRET", "Platforms", "PlazaCommand", "Store", "mastodon_name", "telegram_id", "town", "x_id"]

TELEGRAM_SECRET = "blackout-webhook-secret"  # noqa: S105 (the local fake's, not a real secret)
TOPIC = "news"


def telegram_id(resident: int, subscriber: bool = False) -> int:
    return (5_000_000 if subscriber else 100_000) + resident


def x_id(resident: int, subscriber: bool = False) -> str:
    return str((3_000_000_000 if subscriber else 2_000_000_000) + resident)


def mastodon_name(resident: int, subscriber: bool = False) -> str:
    return f"{'s' if subscriber else 'r'}{resident}"


@dataclass
class Platforms:
    """The three fakes, running; ``mastodon_ids`` maps a username to its account id (the chat id)."""

    telegram: FakeTelegram
    x: FakeX
    mastodon: MastodonServer
    servers: list[AppServer]
    mastodon_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, trace: Trace, *, seed: int, mastodon_limit: bool = True) -> Platforms:
        telegram = FakeTelegram()
        telegram.call_latency, telegram.error_rate, telegram.flood = (0.03, 0.12), 0.01, Flood(overall=30, per_chat=2)
        telegram.random.seed(seed)
        x = FakeX()
        x.latency, x.error_rate, x.dm_limit = (0.08, 0.25), 0.01, (15, 900.0)
        x.random.seed(seed + 1)
        names = [mastodon_name(r) for r in trace.residents("mastodon")]
        names += [mastodon_name(n, True) for n in range(trace.subscribers["mastodon"])]
        mastodon = MastodonServer(dict.fromkeys(names), rate_limited=mastodon_limit)
        servers = [AppServer(telegram.app).start(), AppServer(x.app).start()]
        telegram.base_url = servers[0].base_url
        mastodon.start()
        platforms = cls(telegram, x, mastodon, servers)
        for resident in trace.residents("telegram"):
            telegram.user(telegram_id(resident), f"Vecino{resident}")
        for number in range(trace.subscribers["telegram"]):
            telegram.user(telegram_id(number, True), f"Suscriptor{number}")
        with httpx.Client(base_url=mastodon.base_url, timeout=30.0) as http:
            for name in names:
                me = http.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {name}-token"})
                me.raise_for_status()
                platforms.mastodon_ids[name] = str(me.json()["id"])
            # every request waits as over the internet (mastodon-mock's own fault injection)
            rule = {"match": {"path_regex": "^/api/"}, "effect": {"type": "latency", "delay_ms": 60}}
            http.post("/api/v1/_mock/faults", json=rule).raise_for_status()
        return platforms

    @property
    def x_url(self) -> str:
        return self.servers[1].base_url

    def environment(self) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": self.telegram.token,
            "TELEGRAM_API_BASE_URL": self.telegram.base_url,
            "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "MASTODON_API_BASE_URL": self.mastodon.base_url,
            "MASTODON_ACCESS_TOKEN": JUN_TOKEN,
            **x_environment(self.x_url),
        }

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.mastodon.stop()


def town(config: Config, folder: Path) -> Path:
    """config.yaml of the town with the three platforms on (their secrets come from :meth:`Platforms.environment`)."""
    source = config.path.read_text(encoding="utf-8")
    for name, extra in (("telegram", "\n    mode: webhook"), ("mastodon", ""), ("x", "\n    mode: webhook")):
        before = f"  {name}:\n    enabled: false"
        if before not in source:
            raise RuntimeError(f"{config.path}: channels.{name} is not `enabled: false` as the bench expects")
        source = source.replace(before, f"  {name}:\n    enabled: true{extra}")
    path = folder / "config.yaml"
    path.write_text(source, encoding="utf-8")
    return path


class Store:
    """The run's database: a SQLite file in ``folder``, or a new schema in the PostgreSQL at ``postgres``."""

    def __init__(self, folder: Path, postgres: str | None) -> None:
        self.schema = f"plaza_blackout_{uuid.uuid4().hex[:8]}" if postgres else None
        self.base = postgres or f"sqlite:///{folder / 'blackout.sqlite3'}"
        if self.schema:
            admin = create_engine(self.base)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            self.url = f"{self.base}?options={quote(f'-csearch_path={self.schema}')}"
        else:
            self.url = self.base
        self.database = Database(self.base, schema=self.schema)
        self.database.upgrade()

    def subscribe(self, trace: Trace, platforms: Platforms) -> None:
        """The broadcast's recipients: subscribers of ``news`` on the three platforms."""
        chats = [("telegram", str(telegram_id(n, True))) for n in range(trace.subscribers["telegram"])]
        names = [mastodon_name(n, True) for n in range(trace.subscribers["mastodon"])]
        chats += [("mastodon", platforms.mastodon_ids[name]) for name in names]
        chats += [("x", x_id(n, True)) for n in range(trace.subscribers["x"])]
        residents, subscriptions = Resident.__table__, Subscription.__table__  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        with self.database.writer.begin() as connection:
            first = connection.execute(select(residents.c.id).order_by(residents.c.id.desc()).limit(1)).scalar() or 0
            for start in range(0, len(chats), 5000):
                part = list(enumerate(chats))[start : start + 5000]
                connection.execute(
                    insert(residents),
                    [{"id": first + 1 + n, "language": "es", "verified": False, "created_at": now} for n, _ in part],
                )
                connection.execute(
                    insert(subscriptions),
                    [
                        {"resident_id": first + 1 + n, "channel": c, "chat_id": chat, "topic": TOPIC, "created_at": now}
                        for n, (c, chat) in part
                    ],
                )
            if not self.database.sqlite:  # ids were given: move the sequence past them
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence('residents', 'id'), max(id)) FROM residents")
                )

    def close(self) -> None:
        self.database.dispose()
        if self.schema:
            admin = create_engine(self.base)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


class PlazaCommand:
    """``plaza serve`` or ``plaza worker`` as a subprocess; its output goes to a log file beside the town."""

    def __init__(self, town_path: Path, env: dict[str, str], *args: str) -> None:
        self.town_path = town_path
        self.env = env
        self.args = args
        self.port = free_port()
        self.log = town_path.parent / f"{args[0]}-{self.port}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def environment(cls, town_path: Path, config: Config, database_url: str, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAZA_", "TELEGRAM_", "MASTODON_", "X_"))}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(
            PLAZA_CONFIG=str(town_path),
            PLAZA_FLOWS_DIR=str(config.flows_dir),
            PLAZA_DATABASE_URL=database_url,
            PLAZA_SECRET_KEY=secrets.token_hex(32),
            PLAZA_LEASE_SECONDS="5",
            PLAZA_LOG_LEVEL="WARNING",
            PTB_TIMEDELTA="true",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> PlazaCommand:
        flag = "--port" if self.args[0] == "serve" else "--metrics-port"
        command = [sys.executable, "-m", "bot.cli", *self.args, flag, str(self.port)]
        if self.args[0] == "serve":
            command += ["--host", "127.0.0.1"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (this interpreter running plaza)
                command, env=self.env, cwd=self.town_path.parent, stdout=out, stderr=subprocess.STDOUT
            )
        path = "/healthz" if self.args[0] == "serve" else "/metrics"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"plaza {self.args[0]} exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base_url + path, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"plaza {self.args[0]} did not start:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
