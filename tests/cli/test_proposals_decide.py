"""``plaza proposals decide TICKET accepted|rejected|scheduled [--date]`` as a subprocess, on a copy of the town."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.config import load_config
from models import OutboxItem, Resident, ServiceRequest
from models.db import Database
from tests.support.driver import Bot
from tests.support.server import ROOT, run_plaza

REQUESTS = ServiceRequest.__table__
OUTBOX = OutboxItem.__table__
RESIDENTS = Resident.__table__
TICKET = re.compile(r"JUN-\d{4}-\d{6}")


@pytest.fixture
def town(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    config = tmp_path / "config.yaml"
    assert run_plaza(config, "db", "upgrade").returncode == 0
    return config


@pytest.fixture
def database(town: Path) -> Iterator[Database]:
    db = Database(load_config(town, env={}).database_url)
    try:
        yield db
    finally:
        db.dispose()


def proposal(town: Path, database: Database) -> str:
    chat = Bot(load_config(town, env={}), database).chat()
    chat.say()
    with database.writer.begin() as connection:
        connection.execute(update(RESIDENTS).values(verified=True))
    for text in ("4", "propuesta para el pleno", "Más bancos en la plaza", "Cuatro bancos a la sombra.", "omitir"):
        chat.say(text)
    found = TICKET.search(chat.say("sí"))
    assert found is not None
    return found.group(0)


def told(database: Database) -> list[str]:
    with database.writer.begin() as connection:
        rows = connection.execute(select(OUTBOX.c.payload).where(OUTBOX.c.status == "pending")).all()
    return [row.payload["text"] for row in rows]


def test_scheduling_tells_the_resident_once(town: Path, database: Database) -> None:
    ticket = proposal(town, database)
    result = run_plaza(town, "proposals", "decide", ticket, "scheduled", "--date", "2026-12-18")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ticket}: scheduled for 18/12/2026; the resident will be told"
    [text] = told(database)
    assert f"Su propuesta {ticket} «Más bancos en la plaza» se debatirá en el pleno del 18/12/2026." in text
    again = run_plaza(town, "proposals", "decide", ticket, "scheduled", "--date", "2026-12-18")
    assert again.returncode == 0, again.stderr
    assert "nobody was told again" in again.stdout
    assert len(told(database)) == 1


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("JUN-2000-999999", "accepted"), 1, "no request has the ticket JUN-2000-999999"),
        (("{ticket}", "scheduled"), 2, "`scheduled` needs --date YYYY-MM-DD"),
        (("{ticket}", "rejected", "--date", "2026-12-18"), 2, "--date goes only with `scheduled`"),
        (("{ticket}", "scheduled", "--date", "18/12/2026"), 2, "write it as YYYY-MM-DD"),
        (("{ticket}", "maybe"), 2, "invalid choice: 'maybe'"),
    ],
)
def test_mistakes_change_nothing(town: Path, database: Database, args: tuple[str, ...], code: int, words: str) -> None:
    ticket = proposal(town, database)
    result = run_plaza(town, "proposals", "decide", *(arg.format(ticket=ticket) for arg in args))
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert told(database) == []
    with database.writer.begin() as connection:
        assert connection.execute(select(REQUESTS.c.status)).scalar_one() == "received"


def test_a_procedure_is_not_a_proposal(town: Path, database: Database) -> None:
    chat = Bot(load_config(town, env={}), database).chat()
    chat.say()
    for text in ("4", "recogida de muebles", "Un sofá", "1", "Calle Real 5", "mañana"):
        chat.say(text)
    found = TICKET.search(chat.say("sí"))
    assert found is not None
    result = run_plaza(town, "proposals", "decide", found.group(0), "accepted")
    assert result.returncode == 1
    assert "is not a proposal for the plenary — nothing was changed" in result.stderr
    assert told(database) == []
