"""Talk-to-a-person actions: store a handoff request, tell the office hours and the wait.

A stored request puts the conversation in its department's queue
(``waiting``, :mod:`bot.handoff`); the bot goes on answering until an
official takes it over.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from bot.actions.base import ActionContext, ActionResult
from bot.config import Config
from bot.directory import office_hours_of
from bot.handoff import open_handoff, waiting_estimate
from bot.notices import Wording
from bot.relay import Relay
from bot.request_status import humanized
from models import HandoffRequest
from models.rawsql import RawStatement

__all__ = ["office_hours", "request_handoff", "waiting_time"]

HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]

_WAITING = RawStatement(
    select(HANDOFFS.c.department, HANDOFFS.c.person)
    .where(HANDOFFS.c.conversation_id == bindparam("conversation_id"), HANDOFFS.c.status == "waiting")
    .order_by(HANDOFFS.c.id.desc())
    .limit(1)
)


def _name(names: Any, language: str, fallback: str) -> str:
    if not names:
        return fallback
    return str(names.get(language) or next(iter(names.values()), fallback))


def _target(context: ActionContext) -> tuple[str, str | None]:
    """The department and person the answers chose: a person's department, else the ``department`` answer."""
    person_key = context.answers.get("person")
    person = context.config.people.get(str(person_key)) if person_key else None
    if person is not None:
        return person.department, person.key
    return str(context.answers.get("department") or ""), None


def target_label(config: Config, department: str, person: str | None, language: str) -> str:
    """``Ana Pérez (Alcaldía)`` for a person, ``Alcaldía`` for a department, in ``language``."""
    known = config.departments.get(department)
    department_name = _name(known.name if known else None, language, department)
    found = config.people.get(person) if person else None
    if found is None:
        return department_name
    return f"{found.name} ({department_name})"


def request_handoff(context: ActionContext) -> ActionResult:
    """Ask for a person: store a ``waiting`` handoff request and mark the conversation ``waiting``.

    Reads the answers ``person`` (a key of config.yaml's ``people``) or
    ``department`` (a key of ``departments``), and ``message`` (optional
    text). Provides ``to``, who will answer (``Ana Pérez (Alcaldía)``).
    Branch ``sent``, ``private`` (the department is private), or
    ``already`` when this conversation already waits for someone: then
    nothing is stored and ``to`` names whoever it waits for.
    """
    waiting = _WAITING.run(context.connection, {"conversation_id": context.conversation_id}).fetchone()
    if waiting is not None:
        label = target_label(context.config, waiting[0], waiting[1], context.language)
        return ActionResult(values={"to": waiting[1] or waiting[0]}, shown={"to": label}, branch="already")
    department, person = _target(context)
    if department not in context.config.departments:
        raise ValueError(f"request_handoff needs a `department` or `person` answer, found {department!r}")
    message = context.answers.get("message")
    open_handoff(
        context.connection,
        conversation_id=context.conversation_id,
        resident_id=context.resident_id,
        channel=context.channel,
        chat_id=context.chat_id,
        department=department,
        person=person,
        language=context.language,
        text=str(message) if message else None,
        notify=Relay(Wording(context.config, context.messages or None)),
    )
    label = target_label(context.config, department, person, context.language)
    branch = "private" if context.config.departments[department].private else "sent"
    return ActionResult(values={"to": person or department}, shown={"to": label}, branch=branch)


def office_hours(context: ActionContext) -> ActionResult:
    """When the chosen person (else their department) answers, from config.yaml's ``office_hours``.

    Reads the answers ``person`` or ``department``. Provides ``hours``, in the
    resident's language. Branch ``known``, or ``unknown`` when config.yaml
    gives no hours for them.
    """
    department, person = _target(context)
    hours = office_hours_of(context.config, department, person)
    if not hours:
        return ActionResult(branch="unknown")
    text = _name(hours, context.language, "")
    return ActionResult(values={"hours": text}, branch="known")


def waiting_time(context: ActionContext) -> ActionResult:
    """How many wait before the resident in the queue they joined, and the department's usual wait.

    Run after :func:`request_handoff`. Provides ``ahead`` (a number) and
    ``wait`` (``12 minutes``, the median over the department's last taken
    requests). Branch ``first`` when nobody waits before them, ``known``,
    or ``unknown`` when the department has no history yet (``wait`` is
    then not set).
    """
    waiting = _WAITING.run(context.connection, {"conversation_id": context.conversation_id}).fetchone()
    if waiting is None:
        return ActionResult(values={"ahead": 0}, branch="unknown")
    mine = context.connection.execute(
        select(HANDOFFS.c.created_at)
        .where(HANDOFFS.c.conversation_id == context.conversation_id, HANDOFFS.c.status == "waiting")
        .order_by(HANDOFFS.c.id.desc())
        .limit(1)
    ).scalar_one()
    ahead, usual = waiting_estimate(context.connection, waiting[0], before=mine)
    if ahead == 0:
        return ActionResult(values={"ahead": 0}, branch="first")
    if usual is None:
        return ActionResult(values={"ahead": ahead}, branch="unknown")
    wait = humanized(usual, context.language, context.messages, context.config.default_language)
    return ActionResult(values={"ahead": ahead, "wait": wait}, branch="known")
