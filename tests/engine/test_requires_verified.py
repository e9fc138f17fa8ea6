"""A flow marked `requires: verified` refuses residents whose identity was not checked at the town hall."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from sqlalchemy import update

from bot.config import Config
from models import Resident
from models.db import Database
from tests.support.driver import Bot

ROOT = Path(__file__).resolve().parents[2]

PROPOSAL = """\
flow: proposal
title: {es: Propuesta al pleno, en: Proposal to the council}
start: text
requires: verified
states:
  text:
    ask: {es: Escriba su propuesta., en: Write your proposal.}
    input: text
    save: text
    next: done
  done:
    say: {es: "Recibida: {text}", en: "Received: {text}"}
    end: true
"""


MENU = """\
flow: main_menu
title: {es: Menú, en: Menu}
start: menu
states:
  menu:
    ask: {es: ¿En qué puedo ayudarle?, en: How can I help you?}
    input: choice
    options:
      report: {es: Avisar de una incidencia, en: Report a problem}
      propose: {es: Proponer, en: Propose}
    next: {report: go_report, propose: go_propose}
  go_report:
    goto: report_incident
  go_propose:
    goto: proposal
"""


def town_with_proposals(config: Config, tmp_path: Path) -> Config:
    """The shipped flows, with a menu of our own that leads to a flow requiring verified residents."""
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("report_incident.yaml", "messages.yaml", "words.yaml"):
        shutil.copy(ROOT / "flows" / name, flows / name)
    shutil.copytree(ROOT / "flows" / "parts", flows / "parts")
    (flows / "proposal.yaml").write_text(PROPOSAL, encoding="utf-8")
    (flows / "main_menu.yaml").write_text(MENU, encoding="utf-8")
    return replace(config, flows_dir=flows)


def test_an_unverified_resident_is_told_how_to_verify(config: Config, database: Database, tmp_path: Path) -> None:
    chat = Bot(town_with_proposals(config, tmp_path), database).chat()
    chat.say()
    answer = chat.say("Proponer")
    assert "Ayuntamiento con su DNI" in answer
    assert "¿En qué puedo ayudarle?" in answer  # back at the menu, not inside the flow
    assert "Escriba su propuesta" not in answer


def test_a_verified_resident_may_start_it(config: Config, database: Database, tmp_path: Path) -> None:
    chat = Bot(town_with_proposals(config, tmp_path), database).chat()
    chat.say()
    with database.writer.begin() as connection:
        connection.execute(update(Resident.__table__).values(verified=True))  # type: ignore[attr-defined]
    assert "Escriba su propuesta" in chat.say("Proponer")
    assert "Recibida: Más bancos en la plaza" in chat.say("Más bancos en la plaza")


def test_a_flows_own_hint_gets_min_and_max(config: Config, database: Database, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    report = flows / "report_incident.yaml"
    text = report.read_text(encoding="utf-8")
    text = text.replace(
        "    min_length: 3\n",
        '    min_length: 3\n    hint: {es: "Entre {min} y {max} letras.", en: "Between {min} and {max} letters."}\n',
    )
    report.write_text(text, encoding="utf-8")
    chat = Bot(replace(config, flows_dir=flows), database).chat()
    chat.say()
    chat.say("1")
    chat.say("1")
    assert "Entre 3 y 1000 letras." in chat.say("ab")
