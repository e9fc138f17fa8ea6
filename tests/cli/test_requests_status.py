"""``plaza requests status TICKET STATUS``: a clerk sets a status and the resident is told, once."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.server import ROOT, run_plaza

TICKET = re.compile(r"JUN-\d{4}-\d{6}")
SPANISH = {"LANG": "es_ES.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
REPORT_SCRIPT = "1\n1\nfarola rota\nomitir\nCalle Real 3\nsí\n/salir\n"


@pytest.fixture
def town(tmp_path: Path) -> Path:
    """A copy of the shipped town; returns its config.yaml (whose SQLite file is var/ beside it)."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def chat(town: Path, script: str) -> str:
    result = run_plaza(town, "chat", "--user", "vecina", input=script, env=SPANISH)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def pending(town: Path) -> list[str]:
    with sqlite3.connect(town.parent / "var" / "plaza.sqlite3") as connection:
        rows = connection.execute("SELECT chat_id, payload FROM outbox WHERE status = 'pending'").fetchall()
    return [f"{chat_id}: {payload}" for chat_id, payload in rows]


def test_a_clerk_marks_a_report_fixed_and_the_resident_hears_it_once(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    ticket = TICKET.findall(chat(town, REPORT_SCRIPT))[0]

    result = run_plaza(town, "requests", "status", ticket.lower(), "fixed", "--note", "Cambiada la bombilla.")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{ticket}: received -> fixed; 1 message(s) queued"
    queued = pending(town)
    assert len(queued) == 1
    assert queued[0].startswith("vecina: ") and "¡arreglado!" in queued[0] and "Cambiada la bombilla." in queued[0]

    again = run_plaza(town, "requests", "status", ticket, "fixed")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{ticket} is already fixed; nothing sent"
    assert len(pending(town)) == 1

    # the next time the resident opens the chat, the news is there
    out = chat(town, "/salir\n")
    assert re.search(rf"Aviso {ticket}: ¡arreglado! Se ha resuelto en \d+ minutos?\. Gracias por avisar\.", out), out
    assert "Nota del Ayuntamiento: Cambiada la bombilla." in out
    assert pending(town) == []


def test_an_unknown_ticket_exits_1(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    result = run_plaza(town, "requests", "status", "JUN-2026-000099", "fixed")
    assert result.returncode == 1
    assert "no service request with ticket JUN-2026-000099 — check the ticket" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_status_exits_2(town: Path) -> None:
    result = run_plaza(town, "requests", "status", "JUN-2026-000001", "solved")
    assert result.returncode == 2
    assert "unknown status `solved` — use one of: received, acknowledged, in_progress, fixed" in result.stderr


def test_a_database_not_migrated_exits_3(town: Path) -> None:
    result = run_plaza(town, "requests", "status", "JUN-2026-000001", "fixed")
    assert result.returncode == 3
    assert "run `plaza db upgrade`" in result.stderr
