"""Incident actions: turning a finished report into a routed service request."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, update

from bot.actions.base import ActionContext, ActionResult
from models import ServiceRequest
from models.rawsql import RawStatement, db_json, db_time, raw_insert

__all__ = ["create_service_request", "store_request", "ticket_number"]

REQUESTS = ServiceRequest.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    "kind",
    "category",
    "department",
    "title",
    "description",
    "details",
    "photo_ref",
    "latitude",
    "longitude",
    "address",
    "status",
    "private",
    "language",
    "channel",
    "resident_id",
    "conversation_id",
    "created_at",
    "updated_at",
)
_NEW_REQUEST = raw_insert(REQUESTS, _COLUMNS, returning="id")
_SET_TICKET = RawStatement(
    update(REQUESTS).where(REQUESTS.c.id == bindparam("request_id")).values(ticket=bindparam("ticket"))
)


def ticket_number(prefix: str, year: int, request_id: int) -> str:
    """The reference residents are told, e.g. ``JUN-2026-000123``."""
    return f"{prefix}-{year}-{request_id:06d}"


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def store_request(
    context: ActionContext,
    *,
    category: str,
    department: str,
    private: bool,
    description: str,
    photo: Any = None,
    location: Any = None,
    kind: str = "incident",
    title: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Insert one service request from a conversation and give it its ticket; returns the ticket.

    ``photo`` and ``location`` are the saved answers as the answer readers
    store them (``{"ref"}``; ``{"latitude", "longitude", "address"}``), or None.
    ``kind`` is incident, police, procedure or proposal; ``details`` (stored
    as JSON) the answers a procedure collected.
    """
    place = location if isinstance(location, dict) else {}
    now = datetime.now(UTC)
    stamp = db_time(context.connection, now)
    request_id = _NEW_REQUEST.run(
        context.connection,
        {
            "kind": kind,
            "category": category,
            "department": department,
            "title": title,
            "description": description,
            "details": None if details is None else db_json(context.connection, dict(details)),
            "photo_ref": photo.get("ref") if isinstance(photo, dict) else None,
            "latitude": _float_or_none(place.get("latitude")),
            "longitude": _float_or_none(place.get("longitude")),
            "address": place.get("address"),
            "status": "received",
            "private": private,
            "language": context.language,
            "channel": context.channel,
            "resident_id": context.resident_id,
            "conversation_id": context.conversation_id,
            "created_at": stamp,
            "updated_at": stamp,
        },
    ).fetchone()[0]
    ticket = ticket_number(context.config.ticket_prefix, now.year, request_id)
    _SET_TICKET.run(context.connection, {"request_id": request_id, "ticket": ticket})
    return ticket


def create_service_request(context: ActionContext) -> ActionResult:
    """Store the report as a service request for the category's department.

    Needs the answers ``category`` (a key of config.yaml's categories) and
    ``description``; ``photo`` and ``location`` are optional. Provides
    ``ticket`` and ``department`` (the department's name in the resident's
    language).
    """
    answers = context.answers
    category = context.config.categories[str(answers["category"])]
    department = context.config.departments[category.department]
    ticket = store_request(
        context,
        category=category.key,
        department=department.key,
        private=category.private,
        description=str(answers.get("description") or ""),
        photo=answers.get("photo"),
        location=answers.get("location"),
    )
    department_name = department.name.get(context.language) or next(iter(department.name.values()))
    return ActionResult(
        values={"ticket": ticket, "department": department.key}, shown={"ticket": ticket, "department": department_name}
    )
