"""Scale-out test helpers: a URL into the test schema, the town's copy, ``plaza worker`` subprocesses,
a stream of messages from many chats, and the checks that nothing was lost, doubled or reordered."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.inbox import accept
from bot.messages import InboundMessage
from models.db import Database
from models.rawsql import from_db_json
from tests.support.databases import PostgresSchema
from tests.support.server import ROOT, free_port, plaza_command, plaza_env

SCRIPT = ("hola", "1", "alumbrado", "La farola de la plaza está apagada", "omitir", "Calle Real 5", "cancelar")
"""What every resident of a stream says, in order: the replies depend on the order (a flow's questions)."""


def schema_url(schema: PostgresSchema) -> str:
    """A database URL that lands in the test schema (for ``plaza`` subprocesses)."""
    return f"{schema.url}?options={quote(f'-csearch_path={schema.schema}')}"


def town_with(tmp_path: Path, *, telegram: bool = False) -> Path:
    """A copy of the town's config and flows (Telegram enabled for sending when asked)."""
    source = (ROOT / "config.yaml").read_text(encoding="utf-8")
    if telegram:
        changed = source.replace("  telegram:\n    enabled: false", "  telegram:\n    enabled: true")
        assert changed != source
        source = changed
    (tmp_path / "config.yaml").write_text(source, encoding="utf-8")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


class WorkerProcess:
    """``plaza worker`` as a subprocess: stdout and stderr kept apart, metrics on a port of its own."""

    def __init__(self, config_path: Path, env: Mapping[str, str], *, workers: int = 2) -> None:
        self.metrics_port = free_port()
        self.stdout = config_path.parent / f"worker-{self.metrics_port}.out"
        self.stderr = config_path.parent / f"worker-{self.metrics_port}.err"
        args = ["worker", "--workers", str(workers), "--metrics-port", str(self.metrics_port)]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                plaza_command(*args),
                env=plaza_env(config_path, env),
                cwd=config_path.parent,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"plaza worker exited with {code}:\n{self.output()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"plaza worker did not start:\n{self.output()}")
            time.sleep(0.1)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of its /metrics: (name, sorted labels) -> value."""
        body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5.0).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        }

    def output(self) -> str:
        read = [p.read_text(encoding="utf-8", errors="replace") for p in (self.stdout, self.stderr) if p.exists()]
        return "\n".join(read)

    def log_lines(self) -> list[str]:
        return [line for line in self.stderr.read_text(encoding="utf-8").splitlines() if line.strip()]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def rows(database: Database, sql: str, **params: Any) -> list[Any]:
    with database.writer.connect() as connection:
        return list(connection.execute(text(sql), params).all())


def message(chat_id: str, number: int, text_: str, channel: str = "web") -> InboundMessage:
    return InboundMessage(
        channel=channel,
        platform_message_id=f"{chat_id}:{number}",
        sender_id=chat_id,
        chat_id=chat_id,
        sent_at=datetime.now(UTC),
        text=text_,
        language="es",
    )


def send_round(database: Database, chats: Sequence[str], number: int) -> None:
    """Message ``number`` of the script from every chat, as one webhook batch each of 10 chats."""
    batch = [message(chat, number, SCRIPT[number]) for chat in chats]
    for start in range(0, len(batch), 10):
        accept(database.writer, batch[start : start + 10])


def pending(database: Database) -> int:
    return int(rows(database, "SELECT count(*) FROM inbox WHERE status = 'pending'")[0][0])


def replies_by_chat(database: Database) -> dict[str, list[tuple[int, str]]]:
    """Each chat's replies in outbox id order, as (inbox id, text)."""
    found: dict[str, list[tuple[int, str]]] = {}
    for chat_id, inbox_id, payload in rows(database, "SELECT chat_id, inbox_id, payload FROM outbox ORDER BY id"):
        found.setdefault(chat_id, []).append((inbox_id, from_db_json(payload)["text"]))
    return found


def check_stream(database: Database, chats: Sequence[str], reference: Sequence[str]) -> None:
    """0 lost, 0 processed twice, every chat's replies in order and equal to ``reference``."""
    inbox = rows(database, "SELECT chat_id, status, attempts, error FROM inbox ORDER BY id")
    assert len(inbox) == len(chats) * len(SCRIPT), "every message was stored once"
    problems = [row for row in inbox if (row.status, row.attempts, row.error) != ("done", 1, None)]
    assert problems == [], "every message was processed exactly once"
    versions = {row.chat_id: row.version for row in rows(database, "SELECT chat_id, version FROM conversations")}
    assert versions == dict.fromkeys(chats, len(SCRIPT)), "one saved state per message, none twice"
    by_chat = replies_by_chat(database)
    assert sorted(by_chat) == sorted(chats)
    for chat in chats:
        inbox_ids = [inbox_id for inbox_id, _ in by_chat[chat]]
        assert inbox_ids == sorted(inbox_ids), f"{chat}: replies out of order"
        assert [reply for _, reply in by_chat[chat]] == list(reference), f"{chat}: not the conversation expected"


class Cuttable:
    """A TCP proxy in front of PostgreSQL that a test can cut (connections dropped, new ones refused) and restore."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = True
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="cuttable-accept", daemon=True).start()

    def url(self, schema: PostgresSchema) -> str:
        """The schema's URL, through this proxy."""
        proxied = make_url(schema.url).set(host="127.0.0.1", port=self.port)
        return f"{proxied.render_as_string(hide_password=False)}?options={quote(f'-csearch_path={schema.schema}')}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.extend([client, upstream])
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def cut(self) -> None:
        self._open = False
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def restore(self) -> None:
        self._open = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
