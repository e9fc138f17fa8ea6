"""No route starts a `requires: verified` flow for an unverified account; every one works once verified.

Routes: the menu's number, its label, a button, a `goto` of another flow, a
`call`, the word "persona" when it starts such a flow, a conversation moved
(`moved:`) into a version that now requires it, a flow that came to require
it while the conversation was in it, going back, an account unlinked halfway,
and another person writing in a verified resident's group chat.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.access import CLI
from bot.config import Config
from bot.inbox import accept
from bot.verification import unlink_account
from models.db import Database
from tests.support.driver import Bot, Chat
from tests.support.residents import issue

ROOT = Path(__file__).resolve().parents[2]
REFUSED = "Para este trámite necesito saber que es usted."
MENU = "¿En qué puedo ayudarle?"
CERTIFICATE = "¿Para qué necesita el certificado de empadronamiento?"
SECRET_ASK = "¿Cuál es su número de expediente?"
LINKED = "esta cuenta ya está verificada"


def verified(chat: Chat, database: Database) -> None:
    _, code = issue(database)
    assert LINKED in chat.say(f"verificar {code}")
    chat.say("menú")


def refused_then_allowed(chat: Chat, database: Database, route: Callable[[], str], inside: str) -> None:
    """``route`` is refused (told how to verify, back at the menu); after verifying it leads ``inside``."""
    answer = route()
    assert REFUSED in answer and "verificar 123456" in answer
    assert MENU in answer and inside not in answer
    verified(chat, database)
    assert inside in route()


@pytest.fixture
def bot(town: Config, database: Database) -> Bot:
    return Bot(town, database)


def opened(bot: Bot, user: str = "ana") -> Chat:
    chat = bot.chat(user, channel="telegram")
    chat.say()
    return chat


def test_by_the_menus_numbers(bot: Bot, database: Database) -> None:
    chat = opened(bot)
    refused_then_allowed(chat, database, lambda: chat.say("4") and chat.say("1"), CERTIFICATE)


def test_by_the_options_names(bot: Bot, database: Database) -> None:
    chat = opened(bot)
    route = lambda: chat.say("Trámites y propuestas al pleno") and chat.say("Certificado de empadronamiento")  # noqa: E731
    refused_then_allowed(chat, database, route, CERTIFICATE)


def test_by_the_buttons(bot: Bot, database: Database) -> None:
    chat = opened(bot)
    route = lambda: chat.say(choice="procedures") and chat.say(choice="residence_certificate")  # noqa: E731
    refused_then_allowed(chat, database, route, CERTIFICATE)


@pytest.mark.parametrize(
    ("number", "inside"), [("3", "¿En qué actividad quiere inscribirse?"), ("4", "¿Cuál es su propuesta?")]
)
def test_every_verified_procedure(bot: Bot, database: Database, number: str, inside: str) -> None:
    chat = opened(bot)
    refused_then_allowed(chat, database, lambda: chat.say("4") and chat.say(number), inside)


SECRET = """\
flow: secret
title: {es: Expediente, en: File}
start: number
requires: verified
states:
  number:
    ask: {es: ¿Cuál es su número de expediente?, en: What is your file number?}
    input: text
    save: number
    next: done
  done:
    say: {es: "Expediente {number}.", en: "File {number}."}
    end: true
"""

CALLER = """\
flow: caller
title: {es: Consulta, en: Enquiry}
start: ask_it
requires: null
states:
  ask_it:
    call: secret
    next: done
  done:
    say: {es: Gracias., en: Thanks.}
    end: true
"""

MENU_FLOW = """\
flow: main_menu
title: {es: Menú, en: Menu}
start: menu
states:
  menu:
    ask: {es: ¿En qué puedo ayudarle?, en: How can I help you?}
    input: choice
    options:
      report: {es: Avisar de una incidencia, en: Report a problem}
      direct: {es: Expediente, en: File}
      called: {es: Consulta, en: Enquiry}
    next: {report: go_report, direct: go_direct, called: go_called}
  go_report:
    goto: report_incident
  go_direct:
    goto: secret
  go_called:
    goto: caller
"""


def town_with(config: Config, tmp_path: Path, *, secret_as_part: bool) -> Config:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("report_incident.yaml", "messages.yaml", "words.yaml", "talk_to.yaml"):
        shutil.copy(ROOT / "flows" / name, flows / name)
    shutil.copytree(ROOT / "flows" / "parts", flows / "parts")
    (flows / "main_menu.yaml").write_text(MENU_FLOW, encoding="utf-8")
    (flows / "caller.yaml").write_text(CALLER, encoding="utf-8")
    target = flows / "parts" / "secret.yaml" if secret_as_part else flows / "secret.yaml"
    target.write_text(SECRET, encoding="utf-8")
    if secret_as_part:
        (flows / "main_menu.yaml").write_text(MENU_FLOW.replace("    goto: secret\n", "    goto: caller\n"), "utf-8")
    return replace(config, flows_dir=flows)


def test_by_a_goto(town: Config, database: Database, tmp_path: Path) -> None:
    chat = opened(Bot(town_with(town, tmp_path, secret_as_part=False), database))
    refused_then_allowed(chat, database, lambda: chat.say("Expediente"), SECRET_ASK)


def test_by_a_call(town: Config, database: Database, tmp_path: Path) -> None:
    chat = opened(Bot(town_with(town, tmp_path, secret_as_part=True), database))
    refused_then_allowed(chat, database, lambda: chat.say("Consulta"), SECRET_ASK)


def test_by_the_word_persona(town: Config, database: Database) -> None:
    person = replace(town, handoff=replace(town.handoff, person_flow="procedure_residence_certificate"))
    chat = opened(Bot(person, database))
    refused_then_allowed(chat, database, lambda: chat.say("persona"), CERTIFICATE)


def test_by_a_moved_state(town: Config, database: Database, tmp_path: Path) -> None:
    """An admin makes a flow require verification and moves conversations halfway into its new version."""
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    bot = Bot(replace(town, flows_dir=flows), database)
    chat = opened(bot)
    chat.say("1")
    assert "Cuénteme brevemente qué ocurre." in chat.say("1")
    report = flows / "report_incident.yaml"
    text = report.read_text(encoding="utf-8")
    assert "  description:\n" in text
    text = text.replace("requires: null\n", "requires: verified\nmoved:\n  description: details\n")
    text = text.replace("  description:\n", "  details:\n").replace("    next: description\n", "    next: details\n")
    report.write_text(text, encoding="utf-8")
    bot.catalog.reload()
    answer = chat.say("Farola apagada")
    assert REFUSED in answer and MENU in answer
    verified(chat, database)
    chat.say("1")
    assert "Cuénteme brevemente qué ocurre." in chat.say("1")


def test_a_flow_that_came_to_require_it_while_in_it(town: Config, database: Database, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    bot = Bot(replace(town, flows_dir=flows), database)
    chat = opened(bot)
    chat.say("1")
    assert "Cuénteme brevemente qué ocurre." in chat.say("1")
    report = flows / "report_incident.yaml"
    report.write_text(report.read_text(encoding="utf-8").replace("requires: null\n", "requires: verified\n"), "utf-8")
    bot.catalog.reload()
    answer = chat.say("Farola apagada")
    assert REFUSED in answer and MENU in answer


def test_an_account_unlinked_halfway(bot: Bot, database: Database) -> None:
    chat = opened(bot)
    verified(chat, database)
    chat.say("4")
    assert CERTIFICATE in chat.say("1")
    with database.writer.begin() as connection:
        assert unlink_account(connection, CLI, channel="telegram", platform_user_id="ana", now=datetime.now(UTC))
    answer = chat.say("1")
    assert REFUSED in answer and "¿Cómo quiere recibirlo?" not in answer


def test_going_back_into_it(bot: Bot, database: Database) -> None:
    chat = opened(bot)
    verified(chat, database)
    chat.say("4")
    chat.say("1")
    chat.say("1")  # purpose answered; now at delivery
    with database.writer.begin() as connection:
        unlink_account(connection, CLI, channel="telegram", platform_user_id="ana", now=datetime.now(UTC))
    answer = chat.say("atrás")
    assert REFUSED in answer and CERTIFICATE not in answer


def test_someone_else_in_a_verified_residents_group_chat(bot: Bot, database: Database) -> None:
    """In a group chat, the conversation is the verified resident's, but another sender is not them."""
    chat = opened(bot, "group-1")
    verified(chat, database)
    chat.say("4")
    stranger = replace(chat.message("1"), sender_id="stranger")
    accept(database.writer, [stranger])
    answer = "\n".join(reply.text for reply in chat.process())
    assert REFUSED in answer and CERTIFICATE not in answer


VERIFIED_CALLER = """\
flow: caller
title: {es: Consulta, en: Enquiry}
start: where
requires: verified
states:
  where:
    call: ask_place
    next: done
  done:
    say: {es: Gracias., en: Thanks.}
    end: true
"""


def test_inside_a_part_called_by_a_verified_flow(town: Config, database: Database, tmp_path: Path) -> None:
    """Unlinked while answering a part (ask_place) that a verified-only flow called: the part goes too."""
    verified_town = town_with(town, tmp_path, secret_as_part=False)
    (verified_town.flows_dir / "caller.yaml").write_text(VERIFIED_CALLER, encoding="utf-8")
    chat = opened(Bot(verified_town, database))
    verified(chat, database)
    assert "¿Dónde es?" in chat.say("Consulta")
    with database.writer.begin() as connection:
        unlink_account(connection, CLI, channel="telegram", platform_user_id="ana", now=datetime.now(UTC))
    answer = chat.say("Calle Real 5")
    assert REFUSED in answer and "Gracias." not in answer
