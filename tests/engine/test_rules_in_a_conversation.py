"""A flow whose ``next`` is rules: the engine follows them on the saved answers and the resident."""

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

CLASSES = """\
flow: main_menu
title: {es: Clases, en: Classes}
start: age
states:
  age:
    ask: {es: ¿Qué edad tiene?, en: How old are you?}
    input: number
    save: age
    next:
      - if: {age: {min: 65}, resident: verified}
        then: seniors
      - if: {age: {min: 65}}
        then: verify
      - else: photo
  photo:
    ask: {es: Envíe una foto si quiere., en: Send a photo if you like.}
    input: photo
    optional: true
    save: photo
    next:
      - if: {photo: null}
        then: no_photo
      - else: with_photo
  seniors:
    say: {es: "Grupo de mayores ({age} años).", en: "Seniors' group ({age} years)."}
    end: true
  verify:
    say: {es: Verifíquese en el Ayuntamiento primero., en: Please get verified at the town hall first.}
    end: true
  no_photo:
    say: {es: Inscrito sin foto., en: Signed up without a photo.}
    end: true
  with_photo:
    say: {es: Inscrito con foto., en: Signed up with a photo.}
    end: true
"""


def town(config: Config, tmp_path: Path) -> Config:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("messages.yaml", "words.yaml"):
        shutil.copy(ROOT / "flows" / name, flows / name)
    (flows / "main_menu.yaml").write_text(CLASSES, encoding="utf-8")
    return replace(config, flows_dir=flows)


def test_rules_pick_by_answer_and_by_the_residents_verification(
    config: Config, database: Database, tmp_path: Path
) -> None:
    bot = Bot(town(config, tmp_path), database)
    ana = bot.chat("ana")
    ana.say()
    answer = ana.say("70")
    assert "Verifíquese en el Ayuntamiento primero." in answer
    assert answer.endswith("¿Qué edad tiene?")
    with database.writer.begin() as connection:
        connection.execute(update(Resident.__table__).values(verified=True))  # type: ignore[attr-defined]
    assert "Grupo de mayores (70 años)." in ana.say("70")
    assert "Envíe una foto" in ana.say("40")
    assert "Inscrito sin foto." in ana.say("omitir")


def test_a_wrong_answer_before_rules_is_asked_again(config: Config, database: Database, tmp_path: Path) -> None:
    chat = Bot(town(config, tmp_path), database).chat("ben")
    chat.say()
    answer = chat.say("setenta")
    assert answer.endswith("¿Qué edad tiene?")
    assert "Verifíquese" not in answer and "Grupo" not in answer
