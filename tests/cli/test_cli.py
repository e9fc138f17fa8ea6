"""The ``plaza`` command as a subprocess, on a copy of the town (config.yaml + flows/) in a temporary folder."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.support.server import ROOT, PlazaProcess, free_port, run_plaza

REPORT = "flows/report_incident.yaml"
TICKET = re.compile(r"JUN-\d{4}-\d{6}")
GREETING = "Hola, soy el asistente del Ayuntamiento de Jun"
SPANISH = {"LANG": "es_ES.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}


@pytest.fixture
def town(tmp_path: Path) -> Path:
    """A copy of the shipped town; returns its config.yaml (whose SQLite file is var/ beside it)."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    return tmp_path / "config.yaml"


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (which must be there) by ``new``; return the 1-based line where the change starts."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def sqlite_file(town: Path) -> Path:
    return town.parent / "var" / "plaza.sqlite3"


# --- flows validate ---------------------------------------------------------


def test_validate_shipped_flows(town: Path) -> None:
    result = run_plaza(town, "flows", "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{town.parent / 'flows'}: ok (13 flows, 1 part)"
    assert result.stderr == ""
    assert not (town.parent / "var").exists(), "validating never touches the database"


def test_validate_one_file(town: Path) -> None:
    result = run_plaza(town, "flows", "validate", str(town.parent / REPORT))
    assert result.returncode == 0, result.stderr


def test_validate_missing_path(town: Path) -> None:
    result = run_plaza(town, "flows", "validate", str(town.parent / "nope.yaml"))
    assert result.returncode == 1
    assert "no such file or folder" in result.stderr


BROKEN = [
    pytest.param(
        "    input: text\n",
        "    input: [text\n",
        r"YAML syntax error: .* — check the indentation",
        (0, 1),
        id="yaml-syntax",
    ),
    pytest.param(
        "    save: description\n",
        "    sav: description\n",
        r"unknown key `sav` in state `description` — did you mean `save`\?",
        (0,),
        id="unknown-key",
    ),
    pytest.param(
        "    next: photo\n",
        "    next: phot\n",
        r"`next` in state `description` goes to `phot`, which is not a state of this flow — did you mean `photo`\?",
        (0,),
        id="next-to-missing-state",
    ),
    pytest.param(
        "  cancelled:\n",
        "  orphan:\n    say: {es: a, en: b}\n    end: true\n  cancelled:\n",
        r"state `orphan` can never be reached from `category` — point a `next` at it, or remove it",
        (0,),
        id="unreachable",
    ),
    pytest.param(
        '      en: Report discarded. Nothing was sent. Type "menu" whenever you like.\n    end: true\n',
        '      en: Report discarded. Nothing was sent. Type "menu" whenever you like.\n',
        r"state `cancelled` has no way out — add `next: <state>`, `goto: <flow>`, or `end: true`",
        None,
        id="dead-end",
    ),
    pytest.param(
        "    ask: {es: Cuénteme brevemente qué ocurre., en: Please tell me briefly what is happening.}\n",
        "    ask: {es: Cuénteme brevemente qué ocurre.}\n",
        r"the question of state `description` has no `en` translation — add `en: ...`",
        (0,),
        id="missing-translation",
    ),
    pytest.param(
        "    input: photo\n",
        "    input: gps\n",
        r"unknown input `gps` in state `photo` — use one of: text, choice, yes_no, .*location",
        (0,),
        id="unknown-input",
    ),
    pytest.param(
        "    action: create_service_request\n",
        "    action: create_ticket\n",
        r"unknown action `create_ticket` in state `submit` — known actions are: "
        r"(\w+, )*create_police_report, (\w+, )*create_service_request, (\w+, )*list_my_requests",
        (0,),
        id="unknown-action",
    ),
    pytest.param(
        "Gracias, su aviso es el {ticket}.",
        "Gracias, su aviso es el {tiket}.",
        r"the say of state `submit` \(es\) uses `\{tiket\}`, which no earlier state saves — did you mean `ticket`\?",
        None,
        id="placeholder-never-saved",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected", "offset"), BROKEN)
def test_validate_broken_flow(town: Path, old: str, new: str, expected: str, offset: tuple[int, ...] | None) -> None:
    """``file:line: problem — fix``; ``offset``: where the problem may be, relative to the edit (None: not checked).

    A YAML syntax error may be noticed on the line after the broken one (the hint says so).
    """
    flow = town.parent / REPORT
    line = edit(flow, old, new)
    result = run_plaza(town, "flows", "validate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    pattern = re.compile(rf"^{re.escape(str(flow))}:(\d+): {expected}", re.MULTILINE)
    match = pattern.search(result.stderr)
    assert match is not None, result.stderr
    if offset is not None:
        assert int(match.group(1)) - line in offset, result.stderr
    for printed in result.stderr.strip().splitlines():
        assert re.match(rf"^{re.escape(str(flow))}:\d+: .+ — .+", printed), printed


def test_validate_prints_every_problem_at_once(town: Path) -> None:
    flow = town.parent / REPORT
    edit(flow, "    input: photo\n", "    input: gps\n")
    edit(flow, "    action: create_service_request\n", "    action: create_ticket\n")
    result = run_plaza(town, "flows", "validate")
    assert result.returncode == 1
    assert "unknown input `gps`" in result.stderr and "unknown action `create_ticket`" in result.stderr


def test_yes_no_on_off_keys_stay_words(town: Path) -> None:
    menu = town.parent / "flows" / "main_menu.yaml"
    edit(menu, "      report: {es:", "      on: {es:")
    edit(menu, "      help_me: {es:", "      off: {es:")
    edit(menu, "      report: go_report", "      on: go_report")
    edit(menu, "      help_me: go_tour", "      off: go_tour")
    flow = town.parent / REPORT
    edit(flow, "next: {yes: submit, no: cancelled}", "next:\n      yes: submit\n      no: cancelled")
    result = run_plaza(town, "flows", "validate")
    assert result.returncode == 0, result.stderr


def test_yes_no_keys_must_be_yes_and_no(town: Path) -> None:
    flow = town.parent / REPORT
    edit(flow, "next: {yes: submit, no: cancelled}", "next: {true: submit, false: cancelled}")
    result = run_plaza(town, "flows", "validate")
    assert result.returncode == 1
    assert f"{flow}:" in result.stderr


# --- config errors ----------------------------------------------------------

CONFIG_BROKEN = [
    pytest.param(
        "  ticket_prefix: JUN\n",
        "  ticket_prefx: JUN\n",
        r"town\.ticket_prefx: unknown key — did you mean `ticket_prefix`\?",
        id="unknown-key",
    ),
    pytest.param(
        "    label: {es: Alumbrado público, en: Street lighting}\n    department: servicios\n",
        "    label: {es: Alumbrado público, en: Street lighting}\n    department: servicio\n",
        r"categories\.streetlight\.department: unknown department 'servicio' — did you mean `servicios`\?",
        id="unknown-department",
    ),
    pytest.param(
        "  port: 8000\n", "  port: 80000\n", r"server\.port: 80000 is not a port — use a number", id="port-range"
    ),
    pytest.param(
        "  port: 8000\n", "  port: ocho\n", r"server\.port: 'ocho' is not a port — use a number", id="port-word"
    ),
    pytest.param("  port: 8000\n", "  port: [8000\n", r"\(file\): YAML syntax error", id="yaml-syntax"),
]


@pytest.mark.parametrize("command", [("flows", "validate"), ("db", "upgrade"), ("serve",)], ids=" ".join)
@pytest.mark.parametrize(("old", "new", "expected"), CONFIG_BROKEN)
def test_broken_config_exits_2(town: Path, old: str, new: str, expected: str, command: tuple[str, ...]) -> None:
    line = edit(town, old, new)
    line += old.count("\n") - 1  # the edited key is on the last line of ``old``
    if expected.startswith(r"\(file\)"):
        line = None  # type: ignore[assignment]  # the parser reports where it noticed
    result = run_plaza(town, *command, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    match = re.search(rf"^config error: {re.escape(str(town))}:(\d+): {expected}", result.stderr, re.MULTILINE)
    assert match is not None, result.stderr
    if line is not None:
        assert int(match.group(1)) == line
    assert "Traceback" not in result.stderr
    assert not sqlite_file(town).exists()


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = run_plaza(tmp_path / "config.yaml", "flows", "validate")
    assert result.returncode == 2
    assert "config error:" in result.stderr and "file not found" in result.stderr


# --- db upgrade -------------------------------------------------------------


def test_db_upgrade_creates_the_file_and_is_idempotent(town: Path) -> None:
    assert not sqlite_file(town).exists()
    first = run_plaza(town, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert sqlite_file(town).is_file()
    assert re.search(r"is at revision \w+", first.stdout)
    with sqlite3.connect(sqlite_file(town)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"inbox", "outbox", "alembic_version"} <= tables
    second = run_plaza(town, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    with sqlite3.connect(sqlite_file(town)) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == version


# --- serve ------------------------------------------------------------------


def test_serve_refuses_a_broken_flow(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    flow = town.parent / REPORT
    line = edit(flow, "    input: photo\n", "    input: gps\n")
    result = run_plaza(town, "serve", "--port", str(free_port()), timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the flows have problems" in result.stderr
    assert f"{flow}:{line}: unknown input `gps` in state `photo` — use one of:" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_database_not_migrated_exits_3(town: Path) -> None:
    result = run_plaza(town, "serve", "--port", str(free_port()), timeout=30)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "run `plaza db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_answers_health_and_stops_on_sigterm(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    server = PlazaProcess(town).start()
    try:
        assert f"web chat at http://127.0.0.1:{server.port}/chat" in server.output()
    finally:
        code = server.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees how it ended
    assert code in (0, -signal.SIGTERM), server.output()
    assert "Application shutdown complete." in server.output()


# --- chat -------------------------------------------------------------------

REPORT_SCRIPT = "1\n1\nfarola rota\nomitir\nCalle Real 3\nsí\n/salir\n"


def chat(town: Path, script: str) -> str:
    result = run_plaza(town, "chat", "--user", "vecina", input=script, env=SPANISH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_chat_reports_a_streetlight(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    out = chat(town, REPORT_SCRIPT)
    assert out.startswith("Plaza — Jun.")
    assert GREETING in out
    assert "¿Qué ha pasado?" in out and "1. Alumbrado público" in out
    assert "¿Lo enviamos?" in out and "farola rota" in out and "Calle Real 3" in out
    tickets = TICKET.findall(out)
    assert len(tickets) == 1, out
    assert f"su aviso es el {tickets[0]}. Lo atenderá Servicios Municipales." in out


def test_chat_again_continues_where_we_were(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    first = chat(town, "1\n1\n/salir\n")
    assert GREETING in first and "Cuénteme brevemente qué ocurre." in first
    second = chat(town, "/salir\n")
    assert GREETING not in second
    assert "Cuénteme brevemente qué ocurre." in second
    third = chat(town, "farola rota\nomitir\nCalle Real 3\nsí\n/salir\n")
    assert GREETING not in third
    assert len(TICKET.findall(third)) == 1, third
    assert "• Alumbrado público" in third  # the answers given in the first session were kept


def test_chat_after_a_finished_report_does_not_greet_again(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    chat(town, REPORT_SCRIPT)
    again = chat(town, "/salir\n")
    assert GREETING not in again
    assert "¿En qué puedo ayudarle?" in again
    assert not TICKET.search(again)


def test_chat_in_english(town: Path) -> None:
    assert run_plaza(town, "db", "upgrade").returncode == 0
    result = run_plaza(town, "chat", "--user", "visitor", input="1\n/quit\n", env={**SPANISH, "LANG": "en_GB.UTF-8"})
    assert result.returncode == 0
    assert "Hello, I am the assistant of Jun Town Hall" in result.stdout
    assert "What is the problem?" in result.stdout


def test_chat_on_a_database_not_migrated_exits_3(town: Path) -> None:
    result = run_plaza(town, "chat", input="/salir\n", env=SPANISH, timeout=30)
    assert result.returncode == 3
    assert "run `plaza db upgrade`" in result.stderr


def test_chat_answers_every_line_before_it_leaves(town: Path) -> None:
    """Lines typed ahead (or piped) are answered in this session, not left for the next ``plaza chat``."""
    assert run_plaza(town, "db", "upgrade").returncode == 0
    out = chat(town, "ayuda\n" * 40 + "/salir\n")
    assert out.count("Puede escribir en cualquier momento") == 40
    with sqlite3.connect(sqlite_file(town)) as connection:
        inbox = connection.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
        outbox = connection.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
    assert inbox == [("done", 41)]
    assert outbox == [("sent", 41)]
