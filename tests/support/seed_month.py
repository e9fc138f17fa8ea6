"""A month of known reports, for the transparency figures; run it to see what the page shows.

``seed_month(database, now)`` inserts public and private reports with status
changes at known times (see ``MONTH``); the expected figures are worked out
by hand in tests/public/test_transparency_figures.py.

    .venv/bin/python -m tests.support.seed_month     # prints the JSON figures and the page as text
"""

from __future__ import annotations

import html
import json
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Config
from models.db import Database
from tests.support.plazaweb import seed_request, seed_update

H = timedelta(hours=1)
D = timedelta(days=1)

# (name, created days ago, category, department, private, kind, [(hours after report, status)], photo)
MONTH: tuple[tuple[str, int, str, str, bool, str, tuple[tuple[float, str], ...], bool], ...] = (
    ("lamp", 20, "streetlight", "servicios", False, "incident", ((1, "acknowledged"), (5, "fixed")), True),
    ("rubbish", 15, "cleaning", "servicios", False, "incident", ((3, "acknowledged"), (29, "fixed")), False),
    ("leak", 10, "water", "servicios", False, "incident", ((2, "acknowledged"), (4, "in_progress")), False),
    ("pothole", 5, "roads", "servicios", False, "incident", (), False),
    ("bulb", 3, "streetlight", "servicios", False, "incident", ((0.5, "acknowledged"), (2, "fixed")), True),
    ("bench", 25, "other", "alcaldia", False, "incident", ((4, "acknowledged"), (48, "closed")), False),
    ("sign", 200, "other", "alcaldia", False, "incident", ((10, "acknowledged"), (72, "fixed")), False),
    ("party", 4, "noise", "policia", True, "incident", ((1, "fixed"),), False),
    ("police", 6, "police", "policia", True, "police", ((2, "acknowledged"),), False),
    ("certificate", 7, "residence_certificate", "secretaria", False, "procedure", ((1, "fixed"),), False),
)


def seed_month(database: Database, now: datetime) -> dict[str, str]:
    """Insert :data:`MONTH` relative to ``now``; returns each report's ticket by name."""
    tickets = {}
    for name, days, category, department, private, kind, changes, photo in MONTH:
        created = now - days * D
        photo_ref = None
        if photo:
            photo_ref = _store_photo(database)
        request_id, ticket = seed_request(
            database,
            created_at=created,
            category=category,
            department=department,
            private=private,
            kind=kind,
            description=f"Aviso {name}",
            photo_ref=photo_ref,
        )
        status = "received"
        for hours, new in changes:
            seed_update(database, request_id, status, new, created + hours * H, note=f"{name}: {new}")
            status = new
        tickets[name] = ticket
    return tickets


def _store_photo(database: Database) -> str:
    from bot.inbox import Upload, store_upload
    from tests.support.server import tiny_png

    with database.writer.begin() as connection:
        return store_upload(connection, "test", "seed", Upload(tiny_png(), "image/png"))


def _page_text(page: str) -> str:
    body = page.split("<body>", 1)[1]
    body = re.sub(r"<(tr|li|h1|h2|p|div)[^>]*>", "\n", body)
    body = re.sub(r"</t[dh]>", " | ", body)
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def main() -> int:
    from bot.config import load_config
    from tests.support.plazaweb import web_client

    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'month.sqlite3'}")
        database.upgrade()
        config: Config = load_config(root / "config.yaml", env={})
        seed_month(database, datetime.now(UTC))
        with web_client(config, database) as client:
            figures = client.get("/transparency.json", params={"lang": "en"}).json()
            page = client.get("/", params={"lang": "en"}).text
        database.dispose()
    print(json.dumps(figures["windows"], indent=1, ensure_ascii=False))
    print(_page_text(page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
