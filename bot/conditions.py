"""Conditions on saved answers and on the resident, for a ``next`` that branches by rule.

A flow writes them as a list, tried in order; the last entry is ``else``::

    next:
      - if: {resident: verified}
        then: title
      - if: {age: {min: 65}, activity: [gym, walks]}
        then: senior_group
      - if: {photo: null}
        then: ask_again
      - else: confirm

Every test of one ``if`` must hold. A test names a saved answer (``save:``) or
``resident``, and is one of: a value (the answer equals it: an option key,
``yes``/``no``, a number, a text), a list of values (any of them), ``null``
(skipped or not answered), ``{min: x, max: y}`` (a number between them, both
included, either may be left out), or for ``resident``: ``verified`` or
``not_verified``. :mod:`bot.flows` reads and checks them; this module only
holds and evaluates them, without I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RESIDENT", "RESIDENT_VALUES", "Check", "Rule", "first_match", "plain"]

RESIDENT = "resident"
"""The name a test uses for the resident rather than a saved answer."""
RESIDENT_VALUES = ("verified", "not_verified")


@dataclass(frozen=True, slots=True)
class Check:
    """One test on one name. Exactly one of ``any_of``, ``empty`` or a range applies."""

    name: str
    any_of: tuple[str, ...] = ()
    empty: bool = False
    low: float | None = None
    high: float | None = None

    def holds(self, answers: Mapping[str, Any], verified: bool) -> bool:
        if self.name == RESIDENT:
            return ("verified" if verified else "not_verified") in self.any_of
        value = answers.get(self.name)
        if self.empty:
            return value is None or value == ""
        if self.low is not None or self.high is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        if value is None or isinstance(value, (dict, list)):
            return False
        return plain(value) in self.any_of


@dataclass(frozen=True, slots=True)
class Rule:
    """``if`` tests (all must hold; none for ``else``) and the state they lead to; ``line`` in the file."""

    tests: tuple[Check, ...]
    target: str
    line: int = field(default=0, compare=False)

    def holds(self, answers: Mapping[str, Any], verified: bool) -> bool:
        return all(test.holds(answers, verified) for test in self.tests)


def plain(value: object) -> str:
    """How an answer or a value written in a flow compares: numbers without ``.0``, all as text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def first_match(rules: tuple[Rule, ...], answers: Mapping[str, Any], verified: bool) -> str | None:
    """The target of the first rule that holds (the last rule, ``else``, always does)."""
    for rule in rules:
        if rule.holds(answers, verified):
            return rule.target
    return None
