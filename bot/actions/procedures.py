"""Procedure actions: a certificate, a pickup or a sign-up, and a proposal for the plenary, as tracked requests.

Both store a service request (:func:`bot.actions.incidents.store_request`)
with a ticket the resident sees in "Mis avisos y trámites". The collected
answers go to its ``details`` (JSON) for the officials; ``kind`` tells them
apart from incidents, so public listings (Open311, transparency) can leave
them out: they carry personal details.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.actions.base import ActionContext, ActionResult
from bot.actions.incidents import store_request
from bot.config import Config

__all__ = [
    "DEFAULT_DEPARTMENTS",
    "PROCEDURE_PREFIX",
    "PROPOSAL",
    "create_plenary_proposal",
    "create_procedure_request",
    "procedure_key",
]

PROCEDURE_PREFIX = "procedure_"
"""A procedure flow is named ``procedure_<key>``; ``<key>`` is the request's category."""
PROPOSAL = "plenary_proposal"
"""The category (and config.yaml ``procedures`` key) of a proposal for the plenary agenda."""
DEFAULT_DEPARTMENTS: Mapping[str, str] = {"procedure": "secretaria", "proposal": "alcaldia"}
"""Who receives a procedure or proposal that config.yaml's ``procedures:`` does not route."""
_IN_COLUMNS = ("photo",)
"""Answers stored in their own column rather than in ``details``."""


def procedure_key(context: ActionContext) -> str:
    """Which procedure: the saved answer ``procedure``, else the flow's name after ``procedure_``."""
    chosen = context.answers.get("procedure")
    if chosen:
        return str(chosen)
    if context.flow.startswith(PROCEDURE_PREFIX) and len(context.flow) > len(PROCEDURE_PREFIX):
        return context.flow[len(PROCEDURE_PREFIX) :]
    raise ValueError(
        f"create_procedure_request in flow {context.flow!r}: save a `procedure` answer "
        f"or name the flow {PROCEDURE_PREFIX}<procedure>"
    )


def _department(config: Config, key: str, kind: str) -> str:
    found = config.procedures.get(key)
    return found.department if found is not None else DEFAULT_DEPARTMENTS[kind]


def _details(answers: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answers.items() if value is not None and name not in _IN_COLUMNS}


def _readable(value: Any) -> str:
    """A saved answer as one line for officials (a place by its address or coordinates)."""
    if isinstance(value, dict):
        if value.get("address"):
            return str(value["address"])
        if "latitude" in value and "longitude" in value:
            return f"{value['latitude']}, {value['longitude']}"
    return str(value)


def _result(context: ActionContext, ticket: str, department: str) -> ActionResult:
    found = context.config.departments.get(department)
    name = department
    if found is not None:
        name = found.name.get(context.language) or next(iter(found.name.values()))
    return ActionResult(
        values={"ticket": ticket, "department": department}, shown={"ticket": ticket, "department": name}
    )


def create_procedure_request(context: ActionContext) -> ActionResult:
    """Store a procedure request (kind ``procedure``) for its department (config.yaml ``procedures``).

    The category is the procedure's key (:func:`procedure_key`); every saved
    answer goes to ``details``, a ``location`` answer also to the address and
    coordinates, a ``photo`` to the photo. Provides ``ticket`` and
    ``department`` (its name in the resident's language).
    """
    key = procedure_key(context)
    department = _department(context.config, key, "procedure")
    details = _details(context.answers)
    ticket = store_request(
        context,
        category=key,
        department=department,
        private=False,
        description="\n".join(f"{name}: {_readable(value)}" for name, value in details.items()),
        photo=context.answers.get("photo"),
        location=context.answers.get("location"),
        kind="procedure",
        details=details,
    )
    return _result(context, ticket, department)


def create_plenary_proposal(context: ActionContext) -> ActionResult:
    """Store a proposal for the plenary agenda (kind ``proposal``, category ``plenary_proposal``).

    Needs the answers ``title`` and ``text``; ``photo`` is optional. Goes to
    the department of config.yaml's ``procedures.plenary_proposal`` (default
    ``alcaldia``). Provides ``ticket`` and ``department``.
    """
    answers = context.answers
    department = _department(context.config, PROPOSAL, "proposal")
    ticket = store_request(
        context,
        category=PROPOSAL,
        department=department,
        private=False,
        title=str(answers.get("title") or ""),
        description=str(answers.get("text") or ""),
        photo=answers.get("photo"),
        kind="proposal",
        details=_details(answers),
    )
    return _result(context, ticket, department)
