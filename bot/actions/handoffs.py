"""Talk-to-a-person actions: store a handoff request, and tell the office hours of whoever will answer.

The officials' side (taking, answering, resolving a request) comes later;
for now a stored request marks the conversation ``waiting`` and the bot goes
on answering as usual.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from bot.actions.base import ActionContext, ActionResult
from bot.config import Config
from bot.directory import office_hours_of
from models import Conversation, HandoffRequest
from models.rawsql import RawStatement, db_time, raw_insert

__all__ = ["office_hours", "request_handoff"]

HANDOFFS = HandoffRequest.__table__  # type: ignore[attr-defined]
CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]

_WAITING = RawStatement(
    select(HANDOFFS.c.department, HANDOFFS.c.person)
    .where(HANDOFFS.c.conversation_id == bindparam("conversation_id"), HANDOFFS.c.status == "waiting")
    .order_by(HANDOFFS.c.id.desc())
    .limit(1)
)
_NEW = raw_insert(
    HANDOFFS,
    (
        "conversation_id",
        "resident_id",
        "channel",
        "chat_id",
        "department",
        "person",
        "text",
        "status",
        "language",
        "created_at",
        "updated_at",
    ),
)
_MODE = RawStatement(
    update(CONVERSATIONS).where(CONVERSATIONS.c.id == bindparam("conversation_id")).values(mode=bindparam("mode"))
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
    stamp = db_time(context.connection, datetime.now(UTC))
    _NEW.run(
        context.connection,
        {
            "conversation_id": context.conversation_id,
            "resident_id": context.resident_id,
            "channel": context.channel,
            "chat_id": context.chat_id,
            "department": department,
            "person": person,
            "text": str(message) if message else None,
            "status": "waiting",
            "language": context.language,
            "created_at": stamp,
            "updated_at": stamp,
        },
    )
    _MODE.run(context.connection, {"conversation_id": context.conversation_id, "mode": "waiting"})
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
