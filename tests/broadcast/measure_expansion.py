"""How fast a broadcast's subscribers become outbox rows (run by hand; not a test).

    PYTHONPATH=. .venv/bin/python tests/broadcast/measure_expansion.py [10000 100000 ...]

Measures :func:`bot.broadcast.start_broadcast` (batches of
:data:`~bot.broadcast.BATCH`, one transaction each) on a fresh SQLite file
and, when ``PLAZA_TEST_DATABASE_URL`` is set, on PostgreSQL, and prints
rows per second.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.broadcast import create_broadcast, start_broadcast
from bot.config import load_config
from models.db import Database
from tests.support.subscribers import add_subscribers

ROOT = Path(__file__).resolve().parents[2]


def measure(database: Database, count: int) -> float:
    config = load_config(ROOT / "config.yaml", env={})
    add_subscribers(database.writer, count, topic="news", prefix=f"m{count}")
    with database.writer.begin() as connection:
        broadcast_id = create_broadcast(
            connection, config, topic="news", texts={"es": "Aviso de prueba.", "en": "Test notice."}, author="cli"
        )
    started = time.perf_counter()
    written = start_broadcast(database.writer, broadcast_id)
    elapsed = time.perf_counter() - started
    assert written == count, (written, count)
    return count / elapsed


def main(counts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            database = Database(f"sqlite:///{folder}/plaza-{count}.sqlite3")
            database.upgrade()
            print(f"sqlite      {count:>7} subscribers: {measure(database, count):>9,.0f} rows/s", flush=True)
            database.dispose()
    url = os.environ.get("PLAZA_TEST_DATABASE_URL")
    if url:
        for count in counts:
            schema = f"plaza_measure_{uuid.uuid4().hex[:8]}"
            admin = create_engine(url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                database = Database(url, schema=schema)
                database.upgrade()
                print(f"postgresql  {count:>7} subscribers: {measure(database, count):>9,.0f} rows/s", flush=True)
                database.dispose()
            finally:
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [10_000, 100_000])
