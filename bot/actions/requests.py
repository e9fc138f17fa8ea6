"""Service-request actions for residents: listing their own reports, and private reports to the police."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select

from bot.actions.base import ActionContext, ActionResult
from bot.actions.incidents import store_request
from bot.config import Config
from models import ServiceRequest
from models.rawsql import RawStatement

__all__ = ["LIST_LIMIT", "POLICE_CATEGORY", "POLICE_DEPARTMENT", "create_police_report", "list_my_requests"]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
LIST_LIMIT = 10
"""At most this many of a resident's reports are listed, newest first."""
POLICE_CATEGORY = "police"
POLICE_DEPARTMENT = "policia"

_MINE = RawStatement(
    select(REQUESTS.c.ticket, REQUESTS.c.category, REQUESTS.c.department, REQUESTS.c.created_at)
    .where(REQUESTS.c.resident_id == bindparam("resident_id"))
    .order_by(REQUESTS.c.created_at.desc(), REQUESTS.c.id.desc())
    .limit(LIST_LIMIT)
)


def _in_language(text: Any, language: str) -> str:
    return str(text.get(language) or next(iter(text.values())))


def _label(config: Config, category: str, department: str, language: str) -> str:
    """The category's (or procedure's) label; another category (``police``) is named by its department."""
    if category in config.categories:
        return _in_language(config.categories[category].label, language)
    if category in config.procedures:
        return _in_language(config.procedures[category].label, language)
    if department in config.departments:
        return _in_language(config.departments[department].name, language)
    return category


def _local_date(value: Any, timezone: str) -> str:
    """A stored timestamp (SQLite text or PostgreSQL datetime, UTC) as the town's ``dd/mm/yyyy``."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y")


def list_my_requests(context: ActionContext) -> ActionResult:
    """The resident's own service requests, newest first (at most :data:`LIST_LIMIT`).

    Provides ``requests``: one line per request (ticket, category, date).
    Branch ``some`` when there is at least one, ``none`` otherwise.
    """
    rows = _MINE.run(context.connection, {"resident_id": context.resident_id}).fetchall()
    lines = [
        f"• {ticket} · {_label(context.config, category, department, context.language)} · "
        f"{_local_date(created, context.config.timezone)}"
        for ticket, category, department, created in rows
    ]
    return ActionResult(values={"requests": "\n".join(lines)}, branch="some" if lines else "none")


def create_police_report(context: ActionContext) -> ActionResult:
    """Store a private report for the Policía Local (category ``police``, never public).

    Needs the answer ``description``; ``location`` is optional. Provides ``ticket``.
    """
    ticket = store_request(
        context,
        category=POLICE_CATEGORY,
        department=POLICE_DEPARTMENT,
        private=True,
        description=str(context.answers.get("description") or ""),
        location=context.answers.get("location"),
        kind="police",
    )
    return ActionResult(values={"ticket": ticket})
