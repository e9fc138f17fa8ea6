"""Incident actions: turning a finished report into a routed service request.

:func:`insert_request` is the one place a service request is created (the
chat's actions and Open311's POST both use it); :func:`route_incident` the
one place a category is routed to its department.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from bot.actions.base import ActionContext, ActionResult
from bot.config import Category, Config, Department
from models import ServiceRequest
from models.rawsql import RawStatement, db_json, db_time, raw_insert

__all__ = [
    "NewRequest",
    "create_service_request",
    "insert_request",
    "route_incident",
    "store_request",
    "ticket_number",
]

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


@dataclass(frozen=True, slots=True)
class NewRequest:
    """What one new service request holds, wherever it came from (a conversation, Open311).

    ``resident_id``/``conversation_id`` are None for a request that came
    through the API; ``details`` (JSON) keeps what only officials may read.
    """

    kind: str
    category: str
    department: str
    private: bool
    description: str
    language: str
    channel: str
    photo_ref: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    title: str | None = None
    details: Mapping[str, Any] | None = None
    resident_id: int | None = None
    conversation_id: int | None = None


def insert_request(connection: Connection, config: Config, new: NewRequest, *, now: datetime) -> tuple[int, str]:
    """Insert one service request (status ``received``) and give it its ticket; returns (id, ticket).

    The one place requests are created: the chat's actions and Open311's POST
    both come here, so numbering and columns never differ between them.
    """
    stamp = db_time(connection, now)
    request_id = int(
        _NEW_REQUEST.run(
            connection,
            {
                "kind": new.kind,
                "category": new.category,
                "department": new.department,
                "title": new.title,
                "description": new.description,
                "details": None if new.details is None else db_json(connection, dict(new.details)),
                "photo_ref": new.photo_ref,
                "latitude": new.latitude,
                "longitude": new.longitude,
                "address": new.address,
                "status": "received",
                "private": new.private,
                "language": new.language,
                "channel": new.channel,
                "resident_id": new.resident_id,
                "conversation_id": new.conversation_id,
                "created_at": stamp,
                "updated_at": stamp,
            },
        ).fetchone()[0]
    )
    ticket = ticket_number(config.ticket_prefix, now.year, request_id)
    _SET_TICKET.run(connection, {"request_id": request_id, "ticket": ticket})
    return request_id, ticket


def route_incident(config: Config, category_key: str) -> tuple[Category, Department]:
    """The category ``category_key`` of config.yaml and the department that receives its reports."""
    category = config.categories[category_key]
    return category, config.departments[category.department]


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
    new = NewRequest(
        kind=kind,
        category=category,
        department=department,
        private=private,
        description=description,
        language=context.language,
        channel=context.channel,
        photo_ref=photo.get("ref") if isinstance(photo, dict) else None,
        latitude=_float_or_none(place.get("latitude")),
        longitude=_float_or_none(place.get("longitude")),
        address=place.get("address"),
        title=title,
        details=details,
        resident_id=context.resident_id,
        conversation_id=context.conversation_id,
    )
    _request_id, ticket = insert_request(context.connection, context.config, new, now=datetime.now(UTC))
    return ticket


def create_service_request(context: ActionContext) -> ActionResult:
    """Store the report as a service request for the category's department.

    Needs the answers ``category`` (a key of config.yaml's categories) and
    ``description``; ``photo`` and ``location`` are optional. Provides
    ``ticket`` and ``department`` (the department's name in the resident's
    language).
    """
    answers = context.answers
    category, department = route_incident(context.config, str(answers["category"]))
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
