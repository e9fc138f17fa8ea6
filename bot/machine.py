"""A flow compiled once into one ``transitions`` machine, and the plain object it drives.

Per message the engine builds a :class:`Run` from the conversation row and
fires ``advance`` on it without attaching it to the machine (attaching costs
more with every model left behind, and a machine per message costs far more).
The machine is synchronous and its callbacks do no I/O: actions run as engine
steps around the trigger, not inside it.

``advance`` moves along ``next``: a plain ``next: state`` always; a mapping
``next: {yes: a, no: b}`` only for the branch the answer (or action) gave; a
list of rules (:mod:`bot.conditions`) to the first whose tests hold on the
saved answers and the resident, tried in the order written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine
from transitions.core import MachineError

from bot.conditions import Rule
from bot.errors import FlowError
from bot.flows import Flow

__all__ = ["CompiledFlow", "Run", "compile_flow"]

ADVANCE = "advance"


class Run:
    """The plain object the machine moves: only a ``state`` attribute."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(frozen=True, slots=True)
class _BranchIs:
    """A transition condition: the branch passed with the trigger equals ``key``."""

    key: str

    def __call__(self, event: EventData) -> bool:
        return bool(event.kwargs.get("branch") == self.key)


@dataclass(frozen=True, slots=True)
class _RuleHolds:
    """A transition condition: ``rule`` holds on the answers and the resident passed with the trigger."""

    rule: Rule

    def __call__(self, event: EventData) -> bool:
        return self.rule.holds(event.kwargs.get("answers") or {}, bool(event.kwargs.get("verified")))


class CompiledFlow:
    """One flow version and its machine; shared by every conversation on that version."""

    def __init__(self, flow: Flow, machine: Machine) -> None:
        self.flow = flow
        self._machine = machine
        self._advance = machine.events.get(ADVANCE)

    @property
    def name(self) -> str:
        return self.flow.name

    @property
    def version(self) -> str:
        return self.flow.version

    def advance(
        self, state: str, branch: str | None, answers: Mapping[str, Any] | None = None, verified: bool = False
    ) -> str | None:
        """The state after ``state`` for ``branch`` (and, for rules, the saved ``answers`` and whether
        the resident is ``verified``), or None when no ``next`` applies."""
        if self._advance is None:
            return None
        run = Run(state)
        try:
            moved = self._advance.trigger(run, branch=branch, answers=answers or {}, verified=verified)
        except MachineError:
            return None
        return run.state if moved else None


def compile_flow(flow: Flow) -> CompiledFlow:
    """Build the machine for ``flow``: one ``advance`` transition per ``next`` edge."""
    machine = Machine(
        model=None,
        states=list(flow.states),
        initial=flow.start,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for step in flow.states.values():
        target: Any = step.next
        if target is None:
            continue
        if isinstance(target, str):
            machine.add_transition(ADVANCE, step.name, target)
        elif isinstance(target, Mapping):
            for key, dest in target.items():
                machine.add_transition(ADVANCE, step.name, dest, conditions=[_BranchIs(str(key))])
        elif isinstance(target, tuple) and all(isinstance(rule, Rule) for rule in target):
            for rule in target:  # transitions tries them in the order added: the first that holds wins
                machine.add_transition(ADVANCE, step.name, rule.target, conditions=[_RuleHolds(rule)])
        else:  # validation rejects this; keep the machine honest anyway
            raise FlowError(
                flow.path,
                step.line,
                f"state {step.name!r}: `next` is neither a state, a mapping nor rules",
                state=step.name,
            )
    return CompiledFlow(flow, machine)
