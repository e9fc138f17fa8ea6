"""``next`` as rules: conditions on saved answers and on the resident (validation and the machine)."""

from __future__ import annotations

import textwrap

import pytest

from bot.conditions import Check, Rule
from bot.errors import FlowError, FlowErrors
from bot.flows import FlowContext, OptionSpec, parse_flow
from bot.machine import compile_flow

CONTEXT = FlowContext(
    languages=("es", "en"),
    option_sources={"categories": (OptionSpec("noise", {"es": "Ruido", "en": "Noise"}),)},
    actions={},
)

GOOD = """\
flow: demo
title: {es: Demo, en: Demo}
start: kind
states:
  kind:
    ask: {es: ¿Qué?, en: What?}
    input: choice
    options:
      gym: {es: Gimnasia, en: Gym}
      walks: {es: Paseos, en: Walks}
    save: activity
    next: age
  age:
    ask: {es: ¿Edad?, en: Age?}
    input: number
    save: age
    next:
      - if: {resident: not_verified}
        then: verify_first
      - if: {age: {min: 65}, activity: [gym, walks]}
        then: senior
      - if: {age: {max: 17}}
        then: young
      - else: adult
  verify_first:
    say: {es: Verifíquese, en: Verify first}
    end: true
  senior:
    say: {es: Mayores, en: Seniors}
    end: true
  young:
    say: {es: Jóvenes, en: Young}
    end: true
  adult:
    say: {es: Adultos, en: Adults}
    end: true
"""


def problems(text: str) -> list[FlowError]:
    with pytest.raises(FlowErrors) as caught:
        parse_flow(textwrap.dedent(text), "flows/demo.yaml", CONTEXT)
    return list(caught.value.errors)


def test_rules_are_read_in_order_with_else_last() -> None:
    flow = parse_flow(GOOD, "flows/demo.yaml", CONTEXT)
    rules = flow.states["age"].next
    assert isinstance(rules, tuple)
    assert rules[0] == Rule((Check("resident", any_of=("not_verified",)),), "verify_first")
    assert rules[1] == Rule((Check("age", low=65), Check("activity", any_of=("gym", "walks"))), "senior")
    assert rules[-1] == Rule((), "adult")


@pytest.mark.parametrize(
    ("answers", "verified", "target"),
    [
        ({"activity": "gym", "age": 70}, True, "senior"),
        ({"activity": "walks", "age": 65}, True, "senior"),
        ({"activity": "gym", "age": 64.5}, True, "adult"),
        ({"activity": "gym", "age": 12}, True, "young"),
        ({"activity": "gym", "age": 70}, False, "verify_first"),
        ({"activity": "gym"}, True, "adult"),
    ],
)
def test_the_first_rule_that_holds_wins(answers: dict[str, object], verified: bool, target: str) -> None:
    compiled = compile_flow(parse_flow(GOOD, "flows/demo.yaml", CONTEXT))
    assert compiled.advance("age", None, answers, verified) == target


def test_a_test_on_a_skipped_answer() -> None:
    rule = Rule((Check("photo", empty=True),), "ask_again")
    assert rule.holds({"photo": None}, False)
    assert rule.holds({}, False)
    assert not rule.holds({"photo": {"ref": "x"}}, False)


def test_rules_must_end_with_else() -> None:
    found = problems(GOOD.replace("      - else: adult\n", ""))
    assert [(e.line, e.problem) for e in found] == [
        (17, "the rules of `next` in state `age` do not end with `- else: state`"),
        (33, "state `adult` can never be reached from `kind`"),
    ]


def test_a_misspelt_answer_name_is_named() -> None:
    found = problems(GOOD.replace("{age: {max: 17}}", "{edad: {max: 17}}"))
    assert [e.problem for e in found] == ["`next` in state `age` tests `edad`, which no earlier state saves"]
    assert found[0].line == 22


def test_a_value_the_answer_can_never_be_is_named() -> None:
    found = problems(GOOD.replace("activity: [gym, walks]", "activity: [gym, walk]"))
    assert [e.problem for e in found] == [
        "`next` in state `age` tests `activity` for `walk`, which that answer can never be"
    ]
    assert found[0].hint == "did you mean `walks`?"


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "{resident: not_verified}",
            "{resident: yes}",
            "`resident` in `next` of state `age` should be `verified` or `not_verified`, found `yes`",
        ),
        (
            "{age: {max: 17}}",
            "{age: {most: 17}}",
            "the test on `age` in `next` of state `age` should be `{min: number, max: number}`, found",
        ),
        ("      - else: adult\n", "      - else: adult\n        then: young\n", "`else` in `next` of state `age`"),
        ("        then: young\n", "", "rule 3 of `next` in state `age` has no `then`"),
        ("{age: {max: 17}}", "[age]", "`if` in `next` of state `age` should be a block of `name: value` tests"),
        ("        then: young\n", "        then: yuong\n", "`next` in state `age` goes to `yuong`"),
    ],
)
def test_broken_rules_are_explained(old: str, new: str, problem: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(e.problem.startswith(problem) for e in found), [e.problem for e in found]
