"""Option lists an action fills while the bot runs (``options_from`` naming an action's list)."""

from __future__ import annotations

import textwrap

import pytest

from bot.errors import FlowError, FlowErrors
from bot.flows import FlowContext, parse_flow

CONTEXT = FlowContext(
    languages=("es", "en"),
    option_sources={},
    actions={"find_days": ("count",), "book": ("reference",)},
    lists={"find_days": ("days",)},
)

GOOD = """\
flow: demo
title: {es: Demo, en: Demo}
start: find
states:
  find:
    action: find_days
    next: day
  day:
    ask: {es: ¿Qué día?, en: Which day?}
    input: choice
    options_from: days
    save: day
    next: book
  book:
    action: book
    say: {es: "Hecho: {day}", en: "Done: {day}"}
    end: true
"""


def problems(text: str) -> list[FlowError]:
    with pytest.raises(FlowErrors) as caught:
        parse_flow(textwrap.dedent(text), "flows/demo.yaml", CONTEXT)
    return list(caught.value.errors)


def test_a_list_filled_by_an_earlier_action_is_accepted() -> None:
    flow = parse_flow(GOOD, "flows/demo.yaml", CONTEXT)
    assert flow.states["day"].options_from == "days"


def test_a_list_nobody_fills_before_the_question_is_refused() -> None:
    text = GOOD.replace("start: find", "start: day").replace("    next: book\n", "    next: find\n", 1)
    text = text.replace("    action: find_days\n    next: day\n", "    action: find_days\n    next: book\n")
    found = problems(text)
    assert [e.problem for e in found] == [
        "the options of state `day` come from `days`, which no earlier state fills"
    ], found
    assert found[0].hint == "add an earlier state with `action: find_days`"
    assert found[0].line == 8


def test_an_unknown_list_suggests_the_run_time_ones_too() -> None:
    found = problems(GOOD.replace("options_from: days", "options_from: dayz"))
    assert [e.problem for e in found] == ["unknown option list `dayz` in state `day`"]
    assert found[0].hint == "did you mean `days`?"


def test_a_run_time_list_cannot_branch_by_option() -> None:
    found = problems(GOOD.replace("    next: book\n", "    next: {monday: book}\n", 1))
    assert len(found) == 1
    assert found[0].problem == (
        "the options of state `day` are only known when the bot runs (`days`), so `next` cannot list them"
    )
