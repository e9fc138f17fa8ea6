"""``call:``: a part written once (flows/parts/) used inside other flows, sharing their answers."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.catalog import flow_context
from bot.config import Config
from bot.errors import FlowErrors
from bot.flows import load_flows
from models.db import Database
from tests.support.driver import Bot

ROOT = Path(__file__).resolve().parents[2]

MENU = """\
flow: main_menu
title: {es: Menú, en: Menu}
start: what
states:
  what:
    ask: {es: ¿Qué ha visto?, en: What did you see?}
    input: text
    save: what
    next: place
  place:
    call: ask_place
    next: confirm
  confirm:
    ask: {es: "¿Enviamos «{what}» en {location}?", en: "Send '{what}' at {location}?"}
    input: yes_no
    next: {yes: sent, no: dropped}
  sent:
    say: {es: "Enviado: {what}, {location}.", en: "Sent: {what}, {location}."}
    end: true
  dropped:
    say: {es: Descartado., en: Dropped.}
    end: true
"""

PART = """\
flow: ask_place
title: {es: Dónde, en: Where}
start: location
states:
  location:
    ask: {es: ¿Dónde está?, en: Where is it?}
    input: location
    save: location
    next: landmark
  landmark:
    ask: {es: ¿Algo cerca para encontrarlo?, en: Anything nearby to find it?}
    input: text
    optional: true
    save: landmark
    next: done
  done:
    say: {es: Anotado el sitio., en: Place noted.}
    end: true
"""


def town(config: Config, tmp_path: Path, part: str = PART, menu: str = MENU) -> Config:
    flows = tmp_path / "flows"
    (flows / "parts").mkdir(parents=True)
    for name in ("messages.yaml", "words.yaml"):
        shutil.copy(ROOT / "flows" / name, flows / name)
    (flows / "main_menu.yaml").write_text(menu, encoding="utf-8")
    (flows / "parts" / "ask_place.yaml").write_text(part, encoding="utf-8")
    return replace(config, flows_dir=flows)


def test_a_called_part_runs_and_the_caller_goes_on_with_its_answers(
    config: Config, database: Database, tmp_path: Path
) -> None:
    chat = Bot(town(config, tmp_path), database).chat()
    chat.say()
    assert chat.say("Farola apagada").endswith("¿Dónde está?")
    assert chat.say("Calle Real 5").endswith("¿Algo cerca para encontrarlo?")
    answer = chat.say("omitir")
    assert "Anotado el sitio." in answer
    assert answer.endswith("¿Enviamos «Farola apagada» en Calle Real 5?")
    answer = chat.say("sí")
    assert "Enviado: Farola apagada, Calle Real 5." in answer
    assert answer.endswith("¿Qué ha visto?")


def test_back_crosses_into_and_out_of_the_part_keeping_answers(
    config: Config, database: Database, tmp_path: Path
) -> None:
    chat = Bot(town(config, tmp_path), database).chat()
    chat.say()
    chat.say("Banco roto")
    assert chat.say("atrás").endswith("¿Qué ha visto?")  # from the part's first question to the caller's
    assert chat.say("Papelera rota").endswith("¿Dónde está?")
    chat.say("Plaza Mayor")
    chat.say("junto a la fuente")
    assert chat.say("atrás").endswith("¿Algo cerca para encontrarlo?")  # from the caller back into the part
    answer = chat.say("omitir")
    assert answer.endswith("¿Enviamos «Papelera rota» en Plaza Mayor?")
    assert "Enviado: Papelera rota, Plaza Mayor." in chat.say("sí")


def test_cancel_inside_a_part_leaves_both_flows(config: Config, database: Database, tmp_path: Path) -> None:
    chat = Bot(town(config, tmp_path), database).chat()
    chat.say()
    chat.say("Bache")
    answer = chat.say("cancelar")
    assert answer.endswith("¿Qué ha visto?")
    chat.say("Bache grande")
    chat.say("Calle Ancha")
    assert chat.say("omitir").endswith("¿Enviamos «Bache grande» en Calle Ancha?")


def errors(config: Config, tmp_path: Path, part: str = PART, menu: str = MENU) -> list[str]:
    flows = town(config, tmp_path, part, menu).flows_dir
    with pytest.raises(FlowErrors) as caught:
        load_flows(flows, flow_context(config))
    return [f"{e.problem} — {e.hint}" for e in caught.value.errors]


def test_parts_are_checked_with_their_callers(config: Config, tmp_path: Path) -> None:
    assert errors(config, tmp_path / "a", menu=MENU.replace("call: ask_place", "call: ask_plaec")) == [
        "`call` names the flow `ask_plaec`, which does not exist — did you mean `ask_place`?"
    ]
    assert errors(config, tmp_path / "b", menu=MENU.replace("call: ask_place\n    next: confirm", "goto: ask_place"))[
        0
    ].startswith("`goto` names `ask_place`, which is a part — write `call: ask_place`")
    looping = PART.replace("  done:\n", "  again:\n    call: ask_place\n    next: done\n  done:\n").replace(
        "next: done\n  again", "next: again\n  again", 1
    )
    assert any("comes back to `ask_place`" in e for e in errors(config, tmp_path / "c", part=looping))
    no_next = MENU.replace("    call: ask_place\n    next: confirm\n", "    call: ask_place\n")
    assert any("calls `ask_place` but has no `next`" in e for e in errors(config, tmp_path / "d", menu=no_next))
    unsaved = MENU.replace("en {location}?", "en {lugar}?")
    found = errors(config, tmp_path / "e", menu=unsaved)
    assert any("uses `{lugar}`, which no earlier state saves" in e for e in found)


def test_a_part_needs_no_example_file_and_is_not_a_menu_flow(config: Config, tmp_path: Path) -> None:
    flow_set = load_flows(town(config, tmp_path).flows_dir, flow_context(config))
    assert flow_set.flows["ask_place"].part
    assert not flow_set.flows["main_menu"].part


def test_the_graph_shows_the_call_and_the_rules(config: Config, tmp_path: Path) -> None:
    from bot.flowgraph import mermaid

    menu = MENU.replace(
        "    next: {yes: sent, no: dropped}\n",
        "    save: ok\n    next:\n      - if: {ok: 'yes'}\n        then: sent\n      - else: dropped\n",
    )
    flows = load_flows(town(config, tmp_path, menu=menu).flows_dir, flow_context(config)).flows
    text = mermaid(flows["main_menu"], "en")
    assert 's_place["place<br/>call ask_place"]' in text
    assert 's_confirm -->|"ok yes"| s_sent' in text
    assert 's_confirm -->|"else"| s_dropped' in text
