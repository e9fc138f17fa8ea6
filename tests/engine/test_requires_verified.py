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


def town_with_proposals(config: Config, tmp_path: Path) -> Config:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    (flows / "proposal.yaml").write_text(PROPOSAL, encoding="utf-8")
    menu = (flows / "main_menu.yaml").read_text(encoding="utf-8")
    menu = menu.replace(
        "help_me: {es: Cómo funciona, en: How this works}",
        "help_me: {es: Cómo funciona, en: How this works}\n      propose: {es: Proponer, en: Propose}",
    )
    menu = menu.replace(
        "next: {report: go_report, help_me: how}", "next: {report: go_report, help_me: how, propose: go_propose}"
    )
    menu = menu.replace("  go_report:\n", "  go_propose:\n    goto: proposal\n  go_report:\n")
    (flows / "main_menu.yaml").write_text(menu, encoding="utf-8")
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
